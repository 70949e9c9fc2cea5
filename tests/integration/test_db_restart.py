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
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from server.app_context import Services
from server.config import Config
from server.services import collectors as collector_service
from server.services.forms import publish_xform
from server.services.setup import initialise
from server.store import keys as key_store
from server.store.db import Store
from server.store.models import Submission
from tests.collect_client import CollectClient
from tests.conftest import TEST_ADMIN_PASSWORD, TEST_PASSPHRASE, env_for
from tests.factories import simple_xform
from tests.serving import ServerProcess, free_port
from tests.submissions import encrypted_instance

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
    initialise(config, store)
    services = Services(config, store)
    with store.session() as session:
        public_key = key_store.active(session).public_key_b64
        publish_xform(session, services.blobs, simple_xform(public_key=public_key), {}, "t")
        token = collector_service.create(session, "http://x", "phone", "01", "t").token
    server = ServerProcess(env_for(config), log_path=tmp_path / "server.log")
    server.start()
    acknowledged: list[str] = []
    refused: list[int] = []
    stop = threading.Event()

    def send_stream() -> None:
        client = CollectClient(f"{server.url}/c/{token}", timeout=10)
        while not stop.is_set():
            instance_id = f"uuid:{uuid.uuid4()}"
            xml, files = encrypted_instance(public_key, "vt_test", "1", instance_id)
            report = client.submit(xml, files, retries=0)
            if report.acknowledged:
                acknowledged.append(instance_id)
            else:
                refused.append(report.statuses[-1] if report.statuses else 0)

    senders = [threading.Thread(target=send_stream) for _ in range(3)]
    for sender in senders:
        sender.start()
    try:
        while len(acknowledged) < 15:
            time.sleep(0.05)
        subprocess.run([*ctl, "restart", "-m", "fast"], check=True, capture_output=True)
        after_restart = len(acknowledged)
        deadline = time.monotonic() + 30
        while len(acknowledged) < after_restart + 15 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for sender in senders:
            sender.join(15)
        server.stop()
    assert len(acknowledged) >= after_restart + 15, "ingest did not resume after the restart"
    assert all(status in (0, 503) for status in refused), refused
    Services(config, store).processor.process_pending()
    with store.reader() as session:
        states = dict(
            session.execute(select(Submission.instance_id, Submission.decrypt_state)).all()
        )
    store.dispose()
    assert [i for i in acknowledged if i not in states] == []
    assert [i for i in acknowledged if states[i] != "decrypted"] == []
