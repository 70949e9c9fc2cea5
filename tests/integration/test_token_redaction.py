"""Collector tokens never reach a log line or a page of a real `fieldcase serve`.

gunicorn logs a malformed request line as it was sent, and every path at DEBUG; its 400 page
echoes the request line; the app's 404 page links back to the path. All of them go through
server/redaction.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from server.config import Config
from server.store.db import Store
from tests.conftest import env_for
from tests.serving import ServerProcess
from tests.streaming import prepare

pytestmark = pytest.mark.slow


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_tokens_stay_out_of_logs_and_pages(config: Config, store: Store, tmp_path: Path) -> None:
    _public_key, token = prepare(config, store)
    log_path = tmp_path / "server.log"
    # DEBUG: gunicorn then logs the path of every request.
    server = ServerProcess({**env_for(config), "FIELDCASE_LOG_LEVEL": "DEBUG"}, log_path=log_path)
    server.start()
    pages = []
    try:
        for line in (
            f"GET /c/{token}/form\x01List HTTP/1.1",  # a control character: invalid line
            f"G@T /c/{token}/formList HTTP/1.1",  # an invalid method
            f"GET /c/{token}/formList HTTP/1.1 x",  # junk after the version
            f"GET /c%2F{token}/formList HTTP/1.1\r\nBad Header",  # and an invalid header
        ):
            answer = _raw(
                server.port, (line + "\r\nHost: x\r\nConnection: close\r\n\r\n").encode("latin-1")
            )
            assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
            pages.append(answer.decode("latin-1"))
        missing = requests.get(f"{server.url}/c/{token}/no/such/page", timeout=10)
        assert missing.status_code == 404
        pages.append(missing.text)
        # and the phone's own requests, logged at DEBUG
        assert requests.get(f"{server.url}/c/{token}/formList", timeout=10).status_code == 200
    finally:
        server.stop()
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "Invalid request from" in log_text  # gunicorn did log the bad lines...
    assert "/c/[token]/formList" in log_text  # ...and the paths, at DEBUG
    assert token not in log_text  # ...without the token
    for page in pages:
        assert token not in page
    assert "/c/[token]/form" in pages[0]  # gunicorn's page still says what was wrong


def test_an_access_log_turned_on_has_no_tokens(tmp_path: Path) -> None:
    """fieldcase turns gunicorn's access log off; an operator who turns it on still gets no
    token in it (and the error log neither), through the same logger class."""
    from gunicorn.config import Config as GunicornConfig

    from server.wsgi_server import RedactingLogger

    cfg = GunicornConfig()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("errorlog", str(tmp_path / "error.log"))
    cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s')
    logger = RedactingLogger(cfg)
    token = "AbCdEf0123456789-_secret"
    logger.access_log.info(
        '%(h)s "%(r)s"', {"h": "10.0.0.1", "r": f"GET /c/{token}/formList HTTP/1.1"}
    )
    logger.error("Error handling request %s", f"http://x/c/{token}/submission?x=1")
    try:
        raise ValueError(f"bad path /c/{token}/x")
    except ValueError:
        logger.exception("failed")
    for handler in (*logger.access_log.handlers, *logger.error_log.handlers):
        handler.flush()
    access = (tmp_path / "access.log").read_text(encoding="utf-8")
    error = (tmp_path / "error.log").read_text(encoding="utf-8")
    assert "/c/[token]/formList" in access
    assert "/c/[token]/submission" in error
    assert "bad path /c/[token]/x" in error  # the traceback too
    assert token not in access + error
