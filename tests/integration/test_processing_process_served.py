"""The processing process of a real `fieldcase serve`: gunicorn keeps it running, and two
deployments on one machine each keep their own."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from server.config import Config, sqlite_url
from server.store.db import Store
from server.store.models import Submission
from tests.collect_client import CollectClient
from tests.conftest import TEST_ADMIN_PASSWORD, TEST_PASSPHRASE, env_for
from tests.serving import ServerProcess
from tests.streaming import prepare
from tests.submissions import encrypted_instance

pytestmark = pytest.mark.slow

_STARTED = re.compile(r"processing process started pid=(\d+)")


def _states(store: Store) -> dict[str, str]:
    with store.session() as session:
        return dict(session.execute(select(Submission.instance_id, Submission.decrypt_state)).all())


def _decrypted(store: Store, instance_id: str, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _states(store).get(instance_id) == "decrypted":
            return True
        time.sleep(0.1)
    return False


def _processing_pids(log_path: Path, seconds: float = 30.0, count: int = 1) -> list[int]:
    """The pids the server's processing processes logged as they started (at least `count`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [int(pid) for pid in _STARTED.findall(log_path.read_text(errors="replace"))]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} processing processes started")


def _send(server: ServerProcess, token: str, public_key: str, instance_id: str) -> None:
    xml, files = encrypted_instance(public_key, "vt_test", instance_id=instance_id)
    assert CollectClient(f"{server.url}/c/{token}").submit(xml, files).acknowledged


def test_two_deployments_each_keep_their_processing_and_it_comes_back_when_killed(
    config: Config, store: Store, tmp_path: Path
) -> None:
    if not config.database_url.startswith("sqlite"):
        pytest.skip("the processes' supervision does not depend on the database")
    public_key, token = prepare(config, store)
    other_dir = tmp_path / "other" / "data"
    other_dir.mkdir(parents=True, mode=0o700)
    other = Config(
        data_dir=other_dir,
        database_url=sqlite_url(other_dir),
        secret_key="other-secret-key",
        key_passphrase=TEST_PASSPHRASE,
        admin_password=TEST_ADMIN_PASSWORD,
    )
    other_store = Store(other.database_url)
    other_store.migrate()
    other_key, other_token = prepare(other, other_store)

    first = ServerProcess(env_for(config), log_path=tmp_path / "first.log")
    second = ServerProcess(env_for(other), log_path=tmp_path / "second.log")
    first.start()
    try:
        [first_pid] = _processing_pids(first.log_path)
        # A second deployment starting must leave the first one's processing process alone
        # (gunicorn stops whatever process a dirty arbiter's PID file of the same name names).
        second.start()
        _processing_pids(second.log_path)
        _send(first, token, public_key, "uuid:first-1")
        _send(second, other_token, other_key, "uuid:second-1")
        assert _decrypted(store, "uuid:first-1")
        assert _decrypted(other_store, "uuid:second-1")
        os.kill(first_pid, 0)  # still the one it started with

        # Killed outright, it is started again by gunicorn, and what comes in is processed.
        os.kill(first_pid, signal.SIGKILL)
        pids = _processing_pids(first.log_path, count=2)
        assert pids[-1] != first_pid
        _send(first, token, public_key, "uuid:first-2")
        assert _decrypted(store, "uuid:first-2")
    finally:
        first.stop()
        second.stop()
        other_store.dispose()
