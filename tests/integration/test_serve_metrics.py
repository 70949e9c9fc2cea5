"""/metrics under `fieldcase serve` with two workers: every worker's counts are added up
(prometheus-client's multiprocess mode), whichever worker answers the scrape."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
import requests

from server.config import Config
from server.store.db import Store
from tests.conftest import env_for
from tests.factories import plain_instance
from tests.integration.test_serve_logs import OR, _deployment
from tests.serving import ServerProcess

pytestmark = pytest.mark.slow


def test_two_workers_count_as_one_server(config: Config, store: Store, tmp_path: Path) -> None:
    token = _deployment(config, store)
    env = {**env_for(config), "FIELDCASE_METRICS": "true", "FIELDCASE_WORKERS": "2"}
    server = ServerProcess(env, log_path=tmp_path / "server.log")
    server.start()
    try:
        for _ in range(6):
            xml = plain_instance(instance_id=f"uuid:{uuid.uuid4()}")
            sent = requests.post(
                f"{server.url}/c/{token}/submission",
                files={"xml_submission_file": ("submission.xml", xml, "text/xml")},
                headers={**OR, "Connection": "close"},  # a new connection: either worker
                timeout=30,
            )
            assert sent.status_code == 201
        # The processing process counts what it processed into the same metrics.
        processed = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and processed != 6.0:
            page = requests.get(f"{server.url}/metrics", timeout=10).text
            match = re.search(
                r'^fieldcase_submissions_processed_total\{state="decrypted"\} ([0-9.]+)$',
                page,
                re.M,
            )
            processed = float(match[1]) if match else None
            time.sleep(0.1)
        assert processed == 6.0
        scrapes = [
            requests.get(f"{server.url}/metrics", headers={"Connection": "close"}, timeout=10)
            for _ in range(4)
        ]
    finally:
        server.stop()
    for scrape in scrapes:
        assert scrape.status_code == 200
        found = re.search(
            r'^fieldcase_submissions_received_total\{status="201"\} ([0-9.]+)$', scrape.text, re.M
        )
        assert found, scrape.text[:500]
        assert float(found[1]) == 6
    assert (config.data_dir / "metrics").is_dir()
    assert (config.data_dir / "metrics").stat().st_mode & 0o077 == 0
