"""Where errors become responses: HTML for people, JSON for API clients, XML for ODK Collect.

Everything inside raises `Problem`; only this module decides the shape. Unexpected exceptions
are logged with a reference and answered with 500.1, never with their text (it could carry a
victim's data).
"""

from __future__ import annotations

import logging
import uuid
from xml.sax.saxutils import escape

from flask import Flask, Response, render_template, request
from sqlalchemy.exc import (
    InterfaceError,
    OperationalError,
    PendingRollbackError,
)
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from forms.instance import XmlRefused
from server import errors
from server.errors import Problem

log = logging.getLogger("server.edge")

OPENROSA_NS = "http://openrosa.org/http/response"


def openrosa_body(message: str, nature: str = "") -> str:
    """An OpenRosaResponse document, the body ODK Collect shows to the user."""
    nature_attr = f' nature="{escape(nature)}"' if nature else ""
    return (
        f'<OpenRosaResponse xmlns="{OPENROSA_NS}">'
        f"<message{nature_attr}>{escape(message)}</message></OpenRosaResponse>"
    )


def openrosa_response(message: str, status: int, nature: str = "") -> Response:
    """An OpenRosaResponse document as a response."""
    body = openrosa_body(message, nature)
    response = Response(body, status=status, content_type="text/xml; charset=utf-8")
    response.headers["X-OpenRosa-Version"] = "1.0"
    return response


def wants_openrosa() -> bool:
    """True for requests from ODK Collect (OpenRosa endpoints or the protocol header)."""
    return bool(
        (request.blueprint or "").startswith("openrosa")
        or request.headers.get("X-OpenRosa-Version")
    )


def wants_json() -> bool:
    """True when the client prefers JSON over HTML."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.path.startswith(("/api/", "/v1/"))


def render_problem(problem: Problem) -> Response:
    """The response for a problem, in the shape the client expects."""
    if wants_openrosa():
        # Collect shows the text as it is: Vietnamese first, then English.
        response = openrosa_response(problem.phone_text, problem.status, nature="error")
    elif wants_json():
        from flask import jsonify

        response = jsonify(problem.to_dict())
        response.status_code = problem.status
    else:
        html = render_template("error.html", problem=problem)
        response = Response(html, status=problem.status, content_type="text/html; charset=utf-8")
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


DATABASE_DOWN = (OperationalError, InterfaceError, PendingRollbackError)


def problem_of(
    exc: Exception, endpoint: str | None, max_content_length: int, testing: bool
) -> Problem:
    """The problem an exception is answered with (logged here when it is not one we raised).

    The one mapping of exceptions to answers: the app's error handlers below and the lean
    submission route (server/openrosa/fast.py) both use it."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, RequestEntityTooLarge):
        return errors.too_large(max_content_length)
    if isinstance(exc, HTTPException):
        if exc.code == 404:
            return errors.not_found()
        if exc.code == 405:
            return errors.method_not_allowed()
        if exc.code == 400:
            return errors.bad_request("The request is malformed.")
        code = exc.code or 500
        return Problem(f"{code}.0", exc.name)
    if isinstance(exc, DATABASE_DOWN):
        # The database restarted or is unreachable: nothing was acknowledged, so the phone
        # keeps the submission and sends it again. The type only: SQL text may hold values.
        log.error(
            "database unavailable path=%s type=%s",
            endpoint,
            type(getattr(exc, "orig", None) or exc).__name__,
        )
        return errors.storage_unavailable()
    if isinstance(exc, XmlRefused):
        # A stored XForm read again (labels, export layout) is refused as submitted XML is.
        return errors.malformed_xml(exc.reason)
    reference = uuid.uuid4().hex[:12]
    # The type and place only: exception text may hold submitted values.
    log.error(
        "unexpected error ref=%s type=%s path=%s",
        reference,
        type(exc).__name__,
        endpoint,
        exc_info=testing,
    )
    problem = errors.internal_error()
    problem.details = {"reference": reference}
    return problem


def register_error_handlers(app: Flask) -> None:
    """Route every error through `render_problem`."""

    def _answer(exc: Exception) -> Response:
        return render_problem(
            problem_of(
                exc,
                request.endpoint,
                app.config["MAX_CONTENT_LENGTH"] or 0,
                bool(app.config.get("TESTING", False)),
            )
        )

    # Flask picks the handler of the most specific class; each one answers through
    # `problem_of`, so the classes registered here are the ones it maps.
    for kind in (
        Problem,
        RequestEntityTooLarge,
        HTTPException,
        *DATABASE_DOWN,
        XmlRefused,
        Exception,
    ):
        app.register_error_handler(kind, _answer)


# Headers every response carries (unless it set its own).
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


def register_security_headers(app: Flask) -> None:
    """Headers every response carries."""

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        for name, value in SECURITY_HEADERS:
            headers.setdefault(name, value)
        return response
