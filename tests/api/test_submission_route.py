"""The lean submission route (server/openrosa/fast.py) answers as the Flask route does.

Each request is sent twice: once through the app as built (the lean route answers it) and
once straight to Flask (the middleware left out), and the two answers must be the same:
status, every header but the request id, body; and the same log lines.
"""

from __future__ import annotations

import io
import logging
import re
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from server.openrosa.fast import SubmissionRoute
from server.proxies import ClientAddress
from server.store.models import Submission
from tests.factories import Deployment, plain_instance, services_of

OR = {"X-OpenRosa-Version": "1.0"}


def _lean(app: Flask) -> SubmissionRoute:
    outer = app.wsgi_app
    assert isinstance(outer, ClientAddress)
    lean = outer.app
    assert isinstance(lean, SubmissionRoute)
    return lean


class _Both:
    """Send a request through the lean route, then through Flask alone."""

    def __init__(self, deployment: Deployment, caplog: pytest.LogCaptureFixture) -> None:
        self.deployment = deployment
        self.app = deployment.app
        self.caplog = caplog
        self.built = self.app.wsgi_app
        self.flask_only = ClientAddress(
            _lean(self.app).app, services_of(self.app).config.trusted_proxies
        )

    def send(self, method: str, path: str, **kwargs: Any) -> tuple[Any, Any]:
        answers, lines = [], []
        for wsgi in (self.built, self.flask_only):
            self.app.wsgi_app = wsgi  # type: ignore[method-assign]
            self.caplog.clear()
            try:
                with self.caplog.at_level(logging.DEBUG, logger="server"):
                    answers.append(
                        self.deployment.client.open(path, method=method, **_fresh(kwargs))
                    )
            finally:
                self.app.wsgi_app = self.built  # type: ignore[method-assign]
            lines.append([_normal(r) for r in self.caplog.records if r.name.startswith("server")])
        lean, flask = answers
        assert lean.status == flask.status
        assert _headers(lean) == _headers(flask)
        assert _body(lean) == _body(flask)
        assert lines[0] == lines[1]
        return lean, flask


def _fresh(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request's arguments with new file objects (the test client closes them)."""
    data = kwargs.get("data")
    if not isinstance(data, dict):
        return kwargs
    files = {name: (io.BytesIO(raw), *rest) for name, (raw, *rest) in data.items()}
    return {**kwargs, "data": files}


def _normal(record: logging.LogRecord) -> str:
    text = re.sub(r"ms=[0-9.]+", "ms=N", record.getMessage())
    text = re.sub(r"submission_id=\d+", "submission_id=N", text)
    return f"{record.name} {record.levelname} {re.sub(r'ref=[0-9a-f]+', 'ref=R', text)}"


def _headers(response: Any) -> dict[str, str]:
    headers = dict(response.headers)
    assert re.fullmatch(r"[0-9a-f]{16}|[A-Za-z0-9._-]+", headers.pop("X-Request-ID"))
    return headers


def _body(response: Any) -> str:
    return re.sub(r"[0-9a-f]{12}", "R", response.get_data(as_text=True))


def _multipart(xml: bytes | None, files: dict[str, bytes] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if xml is not None:
        data["xml_submission_file"] = (xml, "submission.xml", "text/xml")
    for name, content in (files or {}).items():
        data[name] = (content, name, "application/octet-stream")
    return {"data": data, "content_type": "multipart/form-data", "headers": dict(OR)}


@pytest.fixture
def both(deployment: Deployment, caplog: pytest.LogCaptureFixture) -> _Both:
    return _Both(deployment, caplog)


def test_lean_route_answers_submissions_without_flask(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatched: list[str] = []
    original = Flask.full_dispatch_request

    def counting(self: Flask) -> Any:
        from flask import request

        dispatched.append(f"{request.method} {request.endpoint}")
        return original(self)

    monkeypatch.setattr(Flask, "full_dispatch_request", counting)
    client, prefix = deployment.client, deployment.url_prefix
    assert client.head(f"{prefix}/submission", headers=OR).status_code == 204
    xml = plain_instance(instance_id="uuid:lean")
    assert client.post(f"{prefix}/submission", **_fresh(_multipart(xml))).status_code == 201
    assert dispatched == []
    # Everything else is Flask's: GET of the route, the form list, another path under /c/.
    client.get(f"{prefix}/submission", headers=OR)
    client.get(f"{prefix}/formList", headers=OR)
    client.post(f"{prefix}/submission/", **_multipart(xml))
    assert dispatched == [
        "GET openrosa.submission_head",
        "GET openrosa.form_list",
        "POST None",
    ]


def test_head_is_answered_as_flask_does(both: _Both, deployment: Deployment) -> None:
    lean, _ = both.send("HEAD", f"{deployment.url_prefix}/submission", headers=OR)
    assert lean.status_code == 204
    assert lean.headers["X-OpenRosa-Accept-Content-Length"]
    assert lean.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "Location" not in lean.headers  # the test client is not at the public URL


def test_head_at_the_public_url_gives_the_same_location_as_flask(
    both: _Both, deployment: Deployment
) -> None:
    public_url = services_of(deployment.app).config.public_url
    path = f"{deployment.url_prefix}/submission"
    lean, _ = both.send("HEAD", path, headers=OR, base_url=public_url)
    assert lean.headers["Location"] == f"{public_url}{path}"


def test_new_repeat_and_conflict_are_answered_as_flask_does(
    both: _Both, deployment: Deployment
) -> None:
    prefix = deployment.url_prefix
    statuses = []
    for n in range(2):  # each side its own instance, so both see a new one first
        xml = plain_instance(instance_id=f"uuid:same-{n}", full_name="A")
        lean = deployment.client.post(f"{prefix}/submission", **_fresh(_multipart(xml)))
        flask_side = _flask_post(both, prefix, plain_instance(instance_id=f"uuid:f-{n}"))
        assert lean.status_code == flask_side.status_code == 201
        assert _headers(lean) == _headers(flask_side)
        assert _body(lean) == _body(flask_side)
        # A repeat is 202 on both (the lean side first sends the instance as new).
        lean, _ = both.send("POST", f"{prefix}/submission", **_multipart(xml))
        statuses.append(lean.status_code)
        other = plain_instance(instance_id=f"uuid:same-{n}", full_name="B")
        lean, _ = both.send("POST", f"{prefix}/submission", **_multipart(other))
        statuses.append(lean.status_code)
    assert statuses == [202, 409, 202, 409]


def _flask_post(both: _Both, prefix: str, xml: bytes) -> Any:
    both.app.wsgi_app = both.flask_only  # type: ignore[method-assign]
    try:
        return both.deployment.client.post(f"{prefix}/submission", **_fresh(_multipart(xml)))
    finally:
        both.app.wsgi_app = both.built  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("POST", {**_multipart(b"<x/>"), "headers": {"X-OpenRosa-Version": "2.0"}}, 400),
        ("HEAD", {"headers": {"X-OpenRosa-Version": "0.9"}}, 400),
        ("POST", {"data": b"<x/>", "content_type": "text/xml", "headers": OR}, 415),
        ("POST", {"data": b"--x--", "content_type": "multipart/form-data", "headers": OR}, 400),
        ("POST", _multipart(None, {"a.jpg": b"A"}), 400),
        ("POST", _multipart(b"<not xml"), 400),
        ("POST", _multipart(plain_instance(), {"../a.jpg": b"A"}), 400),
        (
            "POST",
            {**_multipart(plain_instance()), "environ_overrides": {"CONTENT_LENGTH": str(10**12)}},
            413,
        ),
    ],
)
def test_refusals_are_answered_as_flask_does(
    both: _Both, deployment: Deployment, method: str, kwargs: dict[str, Any], status: int
) -> None:
    lean, _ = both.send(method, f"{deployment.url_prefix}/submission", **kwargs)
    assert lean.status_code == status
    with services_of(deployment.app).store.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0


@pytest.mark.parametrize("method", ["POST", "HEAD"])
def test_unknown_token_is_answered_as_flask_does(both: _Both, method: str) -> None:
    kwargs = _multipart(plain_instance()) if method == "POST" else {"headers": OR}
    lean, _ = both.send(method, f"/c/{uuid.uuid4().hex}/submission", **kwargs)
    assert lean.status_code == 403


def test_unexpected_error_is_answered_as_flask_does(
    both: _Both, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret detail")  # exception text must reach no answer

    monkeypatch.setattr(services_of(deployment.app), "receive_submission", broken)
    lean, _ = both.send(
        "POST", f"{deployment.url_prefix}/submission", **_multipart(plain_instance())
    )
    assert lean.status_code == 500
    assert "secret detail" not in lean.get_data(as_text=True)


def test_request_id_offered_is_sent_back_and_logged(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    kwargs = _fresh(_multipart(plain_instance()))
    kwargs["headers"]["X-Request-ID"] = "phone-req-1"
    with caplog.at_level(logging.INFO, logger="server"):
        response = deployment.client.post(f"{deployment.url_prefix}/submission", **kwargs)
    assert response.headers["X-Request-ID"] == "phone-req-1"
    lines = [r for r in caplog.records if r.name == "server.access"]
    assert len(lines) == 1
    assert "/c/[token]/submission route=openrosa.submission status=201" in lines[0].getMessage()
    assert deployment.token not in lines[0].getMessage()
    assert getattr(lines[0], "request_id", "phone-req-1") == "phone-req-1"
