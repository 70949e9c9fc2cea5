"""The submission route under a collector's server URL, answered without Flask's machinery.

`POST` and `HEAD /c/<token>/submission` are nearly all of what a server receives, and for
them Flask's request context, URL matching, hook lists, Response objects and error-handler
lookup cost more of the server's CPU than authenticating the collector or parsing the
multipart body. `SubmissionRoute` sits in front of the Flask app (as WSGI middleware) and
answers exactly those two requests itself; everything else, including `/submission` with
HTTP Basic at the root, GET, and a POST without a Content-Length, goes to Flask as before.

It answers as the Flask route does, from the same pieces: the protocol version check, the
collector token lookup, `last_seen`, the 415 and 413 checks in the same order, `receive`
(server/openrosa/routes.py), the exception mapping (`problem_of`, server/edge.py), the
OpenRosa body, the security headers, X-OpenRosa-Version, the request id (bound for every log
record, sent back in X-Request-ID), the access log line with the token redacted, and the
request metrics. tests/api/test_submission_route.py compares its answers with Flask's,
header by header.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from werkzeug.http import HTTP_STATUS_CODES, parse_options_header
from werkzeug.wsgi import get_content_length, get_host, get_input_stream

from server import logs
from server.access_log import Observer, access, app_version
from server.app_context import Services
from server.edge import SECURITY_HEADERS, openrosa_body, problem_of
from server.openrosa.routes import (
    accept_content_length,
    check_version,
    note_sync,
    receive,
    submission_location,
)
from server.redaction import redact_tokens

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# What Flask's route is called, for the log lines that name it.
ENDPOINT = "openrosa.submission_post"
ROUTE_GROUP = "openrosa.submission"
# A token as `fieldcase collectors add` makes them (URL-safe base64). Anything else under
# /c/ goes to Flask, which refuses it the same way.
_PATH = re.compile(r"/c/([A-Za-z0-9_\-]{1,128})/submission")
_XML = "text/xml; charset=utf-8"

log = logging.getLogger("server.openrosa")


class SubmissionRoute:
    """WSGI middleware: `POST`/`HEAD /c/<token>/submission` answered here, the rest by `app`."""

    def __init__(
        self,
        app: WSGIApplication,
        found: Services,
        max_content_length: int,
        observers: tuple[Observer, ...] = (),
        testing: bool = False,
    ) -> None:
        self.app = app
        self.services = found
        self.max_content_length = max_content_length
        self.observers = observers
        self.testing = testing

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method != "POST" and method != "HEAD":
            return self.app(environ, start_response)
        found = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        if found is None or (method == "POST" and get_content_length(environ) is None):
            # Chunked or without a length: Flask's stream handling, as before.
            return self.app(environ, start_response)
        return self._answer(environ, start_response, method, found.group(1))

    def _answer(
        self, environ: WSGIEnvironment, start_response: StartResponse, method: str, token: str
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = logs.new_request_id(environ.get("HTTP_X_REQUEST_ID"))
        bound = logs.bind_request_id(request_id)
        try:
            headers: dict[str, str] = {}
            try:
                status, body, extra = self._handle(environ, method, token)
            except Exception as exc:  # every one is answered, as Flask's handlers do
                problem = problem_of(exc, ENDPOINT, self.max_content_length, self.testing)
                status = problem.status
                body = openrosa_body(problem.phone_text, "error").encode("utf-8")
                extra = problem.headers
            if body is not None:
                headers["Content-Type"] = _XML
                headers["Content-Length"] = str(len(body))
            else:  # 204: what Flask's empty Response carries
                headers["Content-Type"] = "text/html; charset=utf-8"
            headers.update(extra)
            headers["X-OpenRosa-Version"] = "1.0"
            for name, value in SECURITY_HEADERS:
                headers.setdefault(name, value)
            headers["X-Request-ID"] = request_id
            seconds = time.perf_counter() - started
            if access.isEnabledFor(logging.INFO):
                access.info(
                    "%s %s route=%s status=%d ms=%.1f bytes=%s client=%s app=%s",
                    method,
                    redact_tokens(environ.get("PATH_INFO", "")),
                    ROUTE_GROUP,
                    status,
                    seconds * 1000,
                    len(body) if body is not None else "-",
                    environ.get("REMOTE_ADDR") or "-",
                    app_version(environ.get("HTTP_USER_AGENT")) or "-",
                )
            for observe in self.observers:
                observe(ROUTE_GROUP, method, status, seconds)
            start_response(
                f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",
                list(headers.items()),
            )
            return [b""] if method == "HEAD" or body is None else [body]
        finally:
            logs.unbind_request_id(bound)

    def _handle(
        self, environ: WSGIEnvironment, method: str, token: str
    ) -> tuple[int, bytes | None, dict[str, str]]:
        """Status, body (None: no body) and extra headers of a request Flask would route to
        `submission_head` or `submission_post`; raises what those would raise."""
        found = self.services
        check_version(environ.get("HTTP_X_OPENROSA_VERSION"))
        # The token authenticates (HTTP Basic is only looked at without one).
        collector = found.authenticate_collector(
            token, None, environ.get("REMOTE_ADDR") or "unknown", for_submission=method == "POST"
        )
        note_sync(found, collector, environ.get("HTTP_USER_AGENT"))
        if method == "HEAD":
            headers = {"X-OpenRosa-Accept-Content-Length": accept_content_length(found)}
            location = submission_location(
                found,
                environ.get("wsgi.url_scheme", "http"),
                get_host(environ),
                environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            )
            if location is not None:
                headers["Location"] = location
            return 204, None, headers
        mimetype, params = parse_options_header(environ.get("CONTENT_TYPE", ""))
        stream: Callable[[], object] = lambda: get_input_stream(  # noqa: E731
            environ, max_content_length=self.max_content_length
        )
        status, message = receive(
            found,
            collector,
            mimetype.lower(),
            params.get("boundary"),
            get_content_length(environ),
            stream,  # type: ignore[arg-type]
        )
        return status, openrosa_body(message).encode("utf-8"), {}
