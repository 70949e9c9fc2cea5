"""`fieldcase serve` logs what an operator needs, one line per event, in text or JSON: a
submission received and processed, a sign-in, the access log with request ids; never the
collector's token, an answer or a password."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
import requests

from server.app_context import Services
from server.config import Config
from server.services import collectors as collector_service
from server.services.forms import publish_xform
from server.services.setup import initialise
from server.store.db import Store
from tests.conftest import TEST_ADMIN_PASSWORD, env_for
from tests.factories import plain_instance, simple_xform
from tests.serving import ServerProcess

pytestmark = pytest.mark.slow

OR = {"X-OpenRosa-Version": "1.0"}
COLLECT_AGENT = "Dalvik/2.1.0 (Linux; U; Android 13) org.odk.collect.android/v2024.3.1"


def _deployment(config: Config, store: Store) -> str:
    initialise(config, store)
    with store.session() as session:
        publish_xform(session, Services(config, store).blobs, simple_xform(), {}, "test")
        created = collector_service.create(session, "http://x", "phone", "01", "test")
    assert created.token is not None
    return created.token


def _sign_in(session: requests.Session, base: str) -> requests.Response:
    page = session.get(f"{base}/login", timeout=10)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert csrf, page.text[:300]
    return session.post(
        f"{base}/login",
        data={"csrf_token": csrf[1], "username": "admin", "password": TEST_ADMIN_PASSWORD},
        timeout=30,
        allow_redirects=False,
    )


def _wait_for(log_path: Path, text: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log_path.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never logged")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_serve_logs_events_without_secrets(
    config: Config, store: Store, tmp_path: Path, log_format: str
) -> None:
    token = _deployment(config, store)
    log_path = tmp_path / "server.log"
    env = {**env_for(config), "FIELDCASE_LOG_FORMAT": log_format, "FIELDCASE_WORKERS": "1"}
    server = ServerProcess(env, log_path=log_path)
    request_id = f"phone-{uuid.uuid4().hex[:12]}"
    server.start()
    try:
        xml = plain_instance(instance_id=f"uuid:{uuid.uuid4()}", full_name="Nguyễn Thị Lan")
        sent = requests.post(
            f"{server.url}/c/{token}/submission",
            files={"xml_submission_file": ("submission.xml", xml, "text/xml")},
            headers={**OR, "User-Agent": COLLECT_AGENT, "X-Request-ID": request_id},
            timeout=30,
        )
        assert sent.status_code == 201, sent.text
        assert sent.headers["X-Request-ID"] == request_id
        _wait_for(log_path, "submission processed")
        signed_in = _sign_in(requests.Session(), server.url)
        assert signed_in.status_code == 302, signed_in.text[:300]
        _wait_for(log_path, "sign-in user_id=")
    finally:
        server.stop()

    lines = log_path.read_text(encoding="utf-8").splitlines()
    if log_format == "json":
        records = [json.loads(line) for line in lines if line.startswith("{")]
        # Every log line is JSON; only the command's own banner is plain text.
        plain = [line for line in lines if not line.startswith("{")]
        assert all(line.startswith("fieldcase: serving") for line in plain), plain[:3]
        events = [(r["logger"], r["request_id"], r["message"]) for r in records]
    else:
        shape = re.compile(r"^\S+Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+) \[(\S+)\] (.*)$")
        parsed = [shape.match(line) for line in lines if not line.startswith("fieldcase:")]
        assert all(parsed), [line for line in lines if not shape.match(line)][:3]
        events = [(m[2], m[3], m[4]) for m in parsed if m]

    def found(logger: str, pattern: str) -> tuple[str, str, str]:
        for event in events:
            if event[0] == logger and re.search(pattern, event[2]):
                return event
        raise AssertionError(f"no {logger} line like {pattern!r} in {events[-15:]}")

    received = found("server.openrosa", r"^submission received status=201 submission_id=\d+")
    access = found(
        "server.access",
        r"^POST /c/\[token\]/submission route=openrosa\.submission status=201 .* app=v2024\.3\.1",
    )
    assert received[1] == access[1] == request_id  # one request, one id
    found("server.processing", r"^submission processed submission_id=\d+ state=decrypted")
    found("server.web", r"^sign-in user_id=\d+")
    found("server.access", r"^POST /login route=web status=302")
    found("gunicorn.error", r"Booting worker")  # gunicorn's own lines, in the same format

    text = "\n".join(lines)
    assert token not in text
    assert "Nguyễn Thị Lan" not in text
    assert "Nguy\\u1ec5n" not in text
    assert TEST_ADMIN_PASSWORD not in text
