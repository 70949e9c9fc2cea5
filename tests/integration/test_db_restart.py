"""PostgreSQL restarts in the middle of a stream of submissions: what was acknowledged stays.

Runs against a private PostgreSQL cluster made for this test (initdb on a free port), so the
shared server the rest of the suite uses is never restarted. Needs root (to run the server as
the postgres user) and PostgreSQL's server binaries; skips with a message otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from server.app_context import Services
from server.config import Config
from server.store.db import Store
from server.store.models import Submission
from tests.conftest import TEST_ADMIN_PASSWORD, TEST_PASSPHRASE, env_for
from tests.serving import ServerProcess, free_port
from tests.streaming import SubmissionStream, prepare

pytestmark = pytest.mark.slow
BIN = Path("/usr/lib/postgresql")


def _pg_bin(name: str) -> Path | None:
    found = sorted(BIN.glob(f"*/bin/{name}"))
    return found[-1] if found else None


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, list[str]]]:
    """(URL, pg_ctl command prefix) of a throwaway PostgreSQL cluster."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if os.geteuid() != 0 or not initdb or not pg_ctl or not shutil.which("runuser"):
        pytest.skip("a private PostgreSQL cluster needs root and the PostgreSQL server binaries")
    folder = Path(tempfile.mkdtemp(prefix="fieldcase-pg-", dir="/tmp"))
    shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(initdb), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    ctl = [
        *as_postgres,
        str(pg_ctl),
        "-D",
        str(folder / "data"),
        "-w",
        "-l",
        str(folder / "log"),
        "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1",
    ]
    subprocess.run([*ctl, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", ctl
    finally:
        subprocess.run([*ctl, "stop", "-m", "immediate"], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_database_restart_loses_no_acknowledged_submission(
    private_postgres: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, ctl = private_postgres
    config = Config(
        data_dir=tmp_path / "data",
        database_url=url,
        secret_key="s",
        key_passphrase=TEST_PASSPHRASE,
        admin_password=TEST_ADMIN_PASSWORD,
    )
    store = Store(url)
    public_key, token = prepare(config, store)
    server = ServerProcess(env_for(config), log_path=tmp_path / "server.log")
    server.start()
    stream = SubmissionStream(server.url, token, public_key, threads=3)
    stream.start()
    try:
        assert stream.wait_for(15)
        subprocess.run([*ctl, "restart", "-m", "fast"], check=True, capture_output=True)
        resumed = stream.wait_for(len(stream.acknowledged) + 15, timeout=30)
    finally:
        stream.stop()
        server.stop()
    assert resumed, "ingest did not resume after the restart"
    assert all(status in (0, 503) for status in stream.refused), stream.refused
    Services(config, store).processor.process_pending()
    with store.reader() as session:
        states = dict(
            session.execute(select(Submission.instance_id, Submission.decrypt_state)).all()
        )
    store.dispose()
    assert [i for i in stream.acknowledged if i not in states] == []
    assert [i for i in stream.acknowledged if states[i] != "decrypted"] == []
