"""A stream of encrypted submissions into a real `fieldcase serve`, for fault tests."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from server.app_context import Services
from server.config import Config
from server.services import collectors as collector_service
from server.services.forms import publish_xform
from server.services.setup import initialise
from server.store import keys as key_store
from server.store.db import Store
from tests.collect_client import CollectClient
from tests.factories import simple_xform
from tests.submissions import encrypted_instance


def prepare(config: Config, store: Store) -> tuple[str, str]:
    """Initialise, publish `vt_test` encrypted, add a collector: (public key, token)."""
    initialise(config, store)
    services = Services(config, store)
    with store.session() as session:
        public_key = key_store.active(session).public_key_b64
        publish_xform(session, services.blobs, simple_xform(public_key=public_key), {}, "test")
        token = collector_service.create(session, "http://x", "phone", "01", "test").token
    return public_key, token


@dataclass
class SubmissionStream:
    """Threads sending encrypted submissions until stopped; records what was acknowledged."""

    server_url: str
    token: str
    public_key: str
    threads: int = 4
    acknowledged: list[str] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send) for _ in range(self.threads)]

    def _send(self) -> None:
        client = CollectClient(f"{self.server_url}/c/{self.token}", timeout=10)
        while not self._stop.is_set():
            instance_id = f"uuid:{uuid.uuid4()}"
            xml, files = encrypted_instance(self.public_key, "vt_test", "1", instance_id)
            report = client.submit(xml, files, retries=0)
            if report.acknowledged:
                self.acknowledged.append(instance_id)
            else:
                self.refused.append(report.statuses[-1] if report.statuses else 0)

    def start(self) -> None:
        """Start sending."""
        for thread in self._threads:
            thread.start()

    def wait_for(self, count: int, timeout: float = 60.0) -> bool:
        """Wait until `count` submissions were acknowledged in all."""
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.acknowledged) >= count

    def stop(self) -> None:
        """Stop sending and wait for the threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
