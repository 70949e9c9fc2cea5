"""The access log in the app: one line per request, the token written `[token]`, a request id
in the response, and requests another hook refuses (CSRF) logged too."""

from __future__ import annotations

import logging

import pytest

from tests.factories import Deployment

OR = {"X-OpenRosa-Version": "1.0"}


def test_each_request_is_logged_once_without_its_token(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="server.access"):
        listing = deployment.client.get(
            f"{deployment.url_prefix}/formList",
            headers={**OR, "X-Request-ID": "proxy-req-000123"},
        )
        refused = deployment.client.post("/login", data={"username": "x", "password": "y"})
        deployment.client.get("/healthz")
    assert listing.headers["X-Request-ID"] == "proxy-req-000123"
    assert refused.status_code == 400  # no CSRF token: refused by a hook before the view
    assert refused.headers.get("X-Request-ID")
    lines = [r for r in caplog.records if r.name == "server.access"]
    messages = [r.getMessage() for r in lines]
    assert "GET /c/[token]/formList route=openrosa.forms status=200" in messages[0]
    assert lines[0].request_id == "proxy-req-000123"  # type: ignore[attr-defined]
    assert messages[1].startswith("POST /login route=web status=400")
    assert lines[2].levelno == logging.DEBUG  # health checks only at DEBUG
    assert all(deployment.token not in m for m in messages)
    assert "password" not in " ".join(messages)
