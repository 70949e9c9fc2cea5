"""Log lines: one per event, text or JSON, request id, no collector token."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from server import logs
from server.access_log import app_version, route_group
from server.config import sqlite_url


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("line one\nline two /c/SECRETTOKENabcdefghijkl/formList")
        except ValueError:
            info = sys.exc_info()
    record = logging.LogRecord("server.test", logging.ERROR, __file__, 1, message, args, info)
    logs.REDACT_TOKENS.filter(record)
    return record


def test_text_lines_are_one_line_without_tokens() -> None:
    bound = logs.bind_request_id("req-12345678")
    try:
        record = _record("GET %s failed", "/c/SECRETTOKENabcdefghijkl/formList", exc=True)
    finally:
        logs.unbind_request_id(bound)
    line = logs.TextFormatter().format(record)
    assert "\n" not in line
    assert "SECRETTOKEN" not in line
    assert " ERROR server.test [req-12345678] GET /c/[token]/formList failed | " in line
    assert "line two" in line


def test_json_lines_parse_and_carry_the_request_id() -> None:
    record = _record("submission received status=%d", 201, exc=True)
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    body = json.loads(line)
    assert body["message"] == "submission received status=201"
    assert body["request_id"] == "-"  # outside a request
    assert body["level"] == "ERROR"
    assert "SECRETTOKEN" not in body["exc"]


def test_an_offered_request_id_is_kept_only_when_plain() -> None:
    assert logs.new_request_id("proxy-abc-123456") == "proxy-abc-123456"
    for bad in ("short", "has space in it", "x" * 65, "a\nb-12345678", None):
        made = logs.new_request_id(bad)
        assert made != bad
        assert len(made) == 16


def test_collect_version_and_route_groups() -> None:
    agent = "Dalvik/2.1.0 (Linux; U; Android 13; SM-A145F) org.odk.collect.android/v2024.3.1"
    assert app_version(agent) == "v2024.3.1"
    assert app_version("Mozilla/5.0 (X11; Linux x86_64) Chrome/120") is None
    assert app_version(None) is None
    assert route_group("openrosa", "openrosa.submission_post") == "openrosa.submission"
    assert route_group("openrosa_basic", "openrosa_basic.form_list") == "openrosa.forms"
    assert route_group("web", "web.healthz") == "health"
    assert route_group("web", "web.cases") == "web"
    assert route_group(None, None) == "unmatched"


_CONFIGURED = ("server", "server.access", "alembic", "sqlalchemy", "urllib3", "multipart")


def test_configure_twice_keeps_one_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    levels = {name: logging.getLogger(name).level for name in _CONFIGURED}
    try:
        logs.configure("INFO", "json")
        logs.configure("DEBUG", "text", console_level="WARNING")
        ours = [h for h in root.handlers if h not in before]
        assert len(ours) == 1
        assert ours[0].level == logging.WARNING
        assert isinstance(ours[0].formatter, logs.TextFormatter)
        # the SQL and its parameters (answers) are never logged, at DEBUG neither
        assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


def test_a_database_error_does_not_carry_the_answers(tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from server.store.db import make_engine

    engine = make_engine(sqlite_url(tmp_path))
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (name TEXT UNIQUE)"))
        connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": "Nguyễn Thị Lan"})
        with pytest.raises(IntegrityError) as refused:
            connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": "Nguyễn Thị Lan"})
    assert "Nguyễn" not in str(refused.value)
