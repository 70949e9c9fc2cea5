"""The access log and the request id: one line for each request the app answers.

Each request gets an id (X-Request-ID from the client or proxy when it is a plain token, else
a new one), carried by every log record made while it is handled and sent back in the
response's X-Request-ID. When the answer is ready, `server.access` logs one line: method, path
with the collector token written `[token]`, route group, status, duration, and the app
version a phone reports in its User-Agent. Never the query string (a case search's words
could be a name), a header's value beyond that, or a body. Health checks and static files are
logged at DEBUG only, so a monitor asking every few seconds does not drown the log.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable

from flask import Flask, Response, g, request

from server import logs
from server.redaction import redact_tokens

access = logging.getLogger("server.access")

# Route groups: what the access log and the request metrics are counted by.
QUIET_GROUPS = ("health", "static", "metrics")
# ODK Collect ends its User-Agent with "org.odk.collect.android/v2024.3.1".
_APP_VERSION = re.compile(r"org\.odk\.collect\.android/v?([0-9][0-9A-Za-z.\-]{0,30})")


def app_version(user_agent: str | None) -> str | None:
    """The ODK Collect version in a User-Agent (`v2024.3.1`), None when it names none."""
    found = _APP_VERSION.search(user_agent or "")
    return f"v{found.group(1)}" if found else None


def route_group(blueprint: str | None, endpoint: str | None) -> str:
    """The group a request's route belongs to (`openrosa.submission`, `web`, `health`, ...)."""
    name = endpoint or ""
    if blueprint and blueprint.startswith("openrosa"):
        leaf = name.rsplit(".", 1)[-1]
        if leaf.startswith("submission"):
            return "openrosa.submission"
        return "openrosa.forms"
    if name in ("healthz", "readyz") or name.endswith((".healthz", ".readyz")):
        return "health"
    if name.endswith("metrics"):
        return "metrics"
    if name == "static" or name.endswith(".static"):
        return "static"
    if not name:
        return "unmatched"
    return "web"


Observer = Callable[[str, str, int, float], None]


def register(app: Flask, observers: tuple[Observer, ...] = ()) -> None:
    """Give each request an id and log one line when it is answered; `observers` are told
    (route group, method, status, seconds) of each request too (the metrics)."""

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.request_id = logs.new_request_id(request.headers.get("X-Request-ID"))
        g.request_id_token = logs.bind_request_id(g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:  # refused before the first hook ran
            return response
        seconds = time.perf_counter() - started
        group = route_group(request.blueprint, request.endpoint)
        response.headers["X-Request-ID"] = g.request_id
        level = logging.DEBUG if group in QUIET_GROUPS else logging.INFO
        if access.isEnabledFor(level):
            access.log(
                level,
                "%s %s route=%s status=%d ms=%.1f bytes=%s client=%s app=%s",
                request.method,
                redact_tokens(request.path),
                group,
                response.status_code,
                seconds * 1000,
                response.content_length if response.content_length is not None else "-",
                request.remote_addr or "-",
                app_version(request.headers.get("User-Agent")) or "-",
            )
        for observe in observers:
            observe(group, request.method, response.status_code, seconds)
        return response

    @app.teardown_request
    def _unbind(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            # Made in another context (a streamed response): harmless.
            with contextlib.suppress(ValueError):
                logs.unbind_request_id(token)
