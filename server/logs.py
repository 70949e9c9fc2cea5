"""Logging, set up once for `fieldcase serve` and every command: one line per event.

Every record goes through one handler on the root logger, to standard error, as plain text or
as one JSON object a line (FIELDCASE_LOG_FORMAT=json). Before it is written, a record's text
(and traceback) loses every collector token (`/c/<token>` becomes `/c/[token]`), and a
traceback is folded onto its line, so one event is one line whatever it holds.

A request's records carry its request id (`request_id`): the web edge sets it for the request
(`bind_request_id`) and this module adds it to each record, "-" outside a request. What the
records say is the callers' care: ids, states, counts and durations, never an answer, a
token or a password (tests check every line of the suite and of a served process).
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from typing import Any, TextIO

import orjson

from server.redaction import redact_tokens

FORMATS = ("text", "json")
_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# A request id a client or proxy sent is kept only when it is a plain, short token.
_GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def new_request_id(offered: str | None = None) -> str:
    """The id of a request: `offered` (X-Request-ID) when it is a plain token, else a new one."""
    if offered and _GOOD_REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex[:16]


def bind_request_id(request_id: str) -> contextvars.Token[str]:
    """Records made from now on in this context carry `request_id`; returns the reset token."""
    return _REQUEST_ID.set(request_id)


def unbind_request_id(token: contextvars.Token[str]) -> None:
    """Back to the request id before `bind_request_id`."""
    _REQUEST_ID.reset(token)


def current_request_id() -> str:
    """The request id of the running request, "-" outside one."""
    return _REQUEST_ID.get()


_make_record = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # Stamped when the record is made, inside the request, whatever handler writes it later.
    record = _make_record(*args, **kwargs)
    record.request_id = _REQUEST_ID.get()
    return record


logging.setLogRecordFactory(_record_with_request_id)


class RedactTokens(logging.Filter):
    """Rewrites a record's text (and traceback) without collector tokens, and adds the
    request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _REQUEST_ID.get()
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed format: the handler reports it
            return True
        clean = redact_tokens(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_tokens(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_tokens(record.stack_info)
        return True


REDACT_TOKENS = RedactTokens()


def _utc(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + (
        f".{int(record.msecs):03d}Z"
    )


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


class TextFormatter(logging.Formatter):
    """`2026-12-02T05:40:00.123Z INFO server.openrosa [request id] message`, one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_utc(record)} {record.levelname} {record.name} "
            f"[{getattr(record, 'request_id', '-')}] {record.getMessage()}"
        )
        if record.exc_text:
            line += " | " + record.exc_text
        if record.stack_info:
            line += " | " + record.stack_info
        return _one_line(redact_tokens(line))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, request_id, message (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": _utc(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": redact_tokens(record.getMessage()),
        }
        if record.exc_text:
            body["exc"] = redact_tokens(record.exc_text)
        return orjson.dumps(body).decode("utf-8")


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of FIELDCASE_LOG_FORMAT (`text` or `json`)."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


class _StandardError(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when the record comes (a command run inside a test
    gets a new one each time)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


class _FieldcaseHandler(_StandardError):
    """The handler `configure` installs (found again by its class, so set-up runs once)."""


_FORMAT = ["text"]


def current_format() -> str:
    """The format `configure` was last given (gunicorn's own handlers take it too)."""
    return _FORMAT[0]


def configure(level: str, log_format: str = "text", console_level: str | None = None) -> None:
    """Send every record of this process, at `level` and above for fieldcase's own loggers,
    to standard error in `log_format`; safe to call again (the handler is replaced).

    `console_level` holds the handler itself higher: commands other than `serve` print their
    results on standard output and show only warnings and errors from the log.
    """
    _FORMAT[0] = log_format
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _FieldcaseHandler)]:
        root.removeHandler(old)
    handler = _FieldcaseHandler()
    handler.setLevel(console_level or logging.NOTSET)
    handler.setFormatter(formatter_for(log_format))
    handler.addFilter(REDACT_TOKENS)
    root.addHandler(handler)
    if root.level == logging.WARNING or root.level > logging.INFO:  # Python's default
        root.setLevel(logging.INFO)
    logging.getLogger("server").setLevel(level)
    logging.getLogger("server.access").setLevel(level)
    # Libraries' chatter stays at WARNING unless DEBUG is asked for.
    for name in ("alembic", "urllib3", "multipart"):
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    # SQLAlchemy's INFO and DEBUG lines are the SQL with its parameters, which are answers:
    # never shown, at DEBUG too (the engines also hide parameters in their errors).
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
