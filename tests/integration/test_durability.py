"""Nothing acknowledged is lost: SIGKILL the server in the middle of a stream of submissions."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from server.app_context import Services
from server.config import Config
from server.services import collectors as collector_service
from server.services.forms import publish_xform
from server.services.setup import initialise
from server.store.db import Store
from server.store.models import Submission
from tests.collect_client import CollectClient
from tests.conftest import env_for
from tests.factories import simple_xform
from tests.serving import ServerProcess
from tests.submissions import encrypted_instance

pytestmark = pytest.mark.slow


def test_sigkill_mid_stream_loses_no_acknowledged_submission(
    config: Config, store: Store, tmp_path: Path
) -> None:
    initialise(config, store)
    services = Services(config, store)
    with store.session() as session:
        from server.store import keys as key_store

        public_key = key_store.active(session).public_key_b64
        publish_xform(session, services.blobs, simple_xform(public_key=public_key), {}, "test")
        token = collector_service.create(session, "http://x", "phone", "01", "test").token

    server = ServerProcess(env_for(config), log_path=tmp_path / "server.log")
    server.start()
    acknowledged: list[str] = []
    stop = threading.Event()

    def send_stream() -> None:
        client = CollectClient(f"{server.url}/c/{token}", timeout=5)
        while not stop.is_set():
            instance_id = f"uuid:{uuid.uuid4()}"
            xml, files = encrypted_instance(public_key, "vt_test", "1", instance_id)
            if client.submit(xml, files, retries=0).acknowledged:
                acknowledged.append(instance_id)

    senders = [threading.Thread(target=send_stream) for _ in range(4)]
    for sender in senders:
        sender.start()
    try:
        while len(acknowledged) < 20:
            threading.Event().wait(0.05)
        server.kill()
        stop.set()
        for sender in senders:
            sender.join(10)
        server.start()
        # What was committed but not yet decrypted when the process died is decrypted now.
        Services(config, store).processor.process_pending()
    finally:
        stop.set()
        server.stop()

    with store.session() as session:
        rows = {s.instance_id: s for s in session.scalars(select(Submission))}
    missing = [i for i in acknowledged if i not in rows]
    assert missing == []
    assert all(rows[i].decrypt_state == "decrypted" for i in acknowledged)
    assert all(rows[i].signature == "valid" for i in acknowledged)
