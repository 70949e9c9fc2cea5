"""Fixtures shared by the whole suite.

Every store test runs twice: on a fresh SQLite file and in a fresh PostgreSQL schema. The
PostgreSQL half skips with a message when no server answers, unless FIELDCASE_REQUIRE_POSTGRES=1
(as in CI), where it fails instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from server.app import create_app
from server.auditseal import seal_for
from server.config import Config, sqlite_url
from server.datadir import private_umask
from server.logs import JsonFormatter
from server.store.db import Store
from tests.factories import Deployment
from tests.serving import SERVED_LOG_LINES

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
POSTGRES_URL = os.environ.get(
    "FIELDCASE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_PASSPHRASE = "correct horse battery staple"
TEST_ADMIN_PASSWORD = "head-office-password-for-tests"

# As every fieldcase process does (server/datadir.py): what the tests make in a data
# directory (a store migrated here, then served by `fieldcase serve`) is private too.
private_umask()


def _postgres_answers() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except OperationalError as exc:
        return str(exc.orig).splitlines()[0] if exc.orig else str(exc)


_PG_PROBLEM: str | bool | None = False  # False: not probed yet


def postgres_or_skip() -> None:
    """Skip (or fail in CI) when the PostgreSQL server does not answer."""
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _postgres_answers()
    if _PG_PROBLEM:
        message = f"PostgreSQL at {POSTGRES_URL} does not answer ({_PG_PROBLEM})"
        if os.environ.get("FIELDCASE_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " and FIELDCASE_REQUIRE_POSTGRES=1")
        pytest.skip(message + "; the PostgreSQL half of the suite is skipped")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "data")
        return
    postgres_or_skip()
    with postgres_schema("t") as url:
        yield url


@contextmanager
def postgres_schema(prefix: str, server_url: str = POSTGRES_URL) -> Iterator[str]:
    """A URL whose connections use a fresh schema of their own, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in server_url else "?"
    try:
        yield f"{server_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    """Settings for a fresh data directory on the database under test."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True, mode=0o700)  # private, as fieldcase requires
    return Config(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key",
        key_passphrase=TEST_PASSPHRASE,
        admin_password=TEST_ADMIN_PASSWORD,
        testing=True,
    )


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    """A migrated store, with the data directory's audit seal."""
    store = Store(config.database_url)
    store.attach_audit(seal_for(config))
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def app(config: Config, store: Store) -> Flask:
    """The app on the fresh store."""
    return create_app(config, store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


def env_for(config: Config) -> dict[str, str]:
    """The environment that makes the CLI use `config`."""
    return {
        "FIELDCASE_DATA_DIR": str(config.data_dir),
        "FIELDCASE_DATABASE_URL": config.database_url,
        "FIELDCASE_KEY_PASSPHRASE": config.key_passphrase or "",
        "FIELDCASE_ADMIN_PASSWORD": config.admin_password or "",
    }


@pytest.fixture
def runner(config: Config) -> CliRunner:
    """A click runner whose environment points at the test data directory and database."""
    return CliRunner(env=env_for(config))


@pytest.fixture
def deployment(app: Flask, config: Config, store: Store) -> Deployment:
    """Server key and admin made, `vt_test` v1 published (plain), collector `phone-1`."""
    from server.services.setup import initialise
    from tests.factories import add_collector, publish, simple_xform

    initialise(config, store)
    publish(app, simple_xform(), {"admin_units.csv": "code,name\n01,Hà Nội\n".encode()})
    token, collector_id = add_collector(app)
    return Deployment(app, app.test_client(), token, f"/c/{token}", collector_id, None)


# Names the fixtures give to people. None of them may reach a log line, whatever the test.
IDENTIFYING_TEST_VALUES = (
    "Nguyễn Thị Lan",
    "Nguyễn Văn Tí",
    "Nguyễn Thị Hoa",
    "Trần Văn Bình",
    "Lò Thị Mai",
    "Tên Giả",
    "0912 345 678",
    "001190012345",
    "Số 12 ngõ 34 phố Hàng Bạc",
    "Kẻ Mạo Danh",
)


class _RecordEverything(logging.Handler):
    """Keeps each record's text, and the record as the JSON format writes it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self._json = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken record must not break the check
            text = str(record.msg)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)
        with contextlib.suppress(Exception):  # as above
            self.lines.append(_decoded(self._json.format(record)))


def _decoded(line: str) -> str:
    """A JSON log line with its strings unescaped (so `\u1ec5` is seen as the letter)."""
    try:
        body = json.loads(line)
    except ValueError:
        return line
    if not isinstance(body, dict):
        return line
    return line + " " + " ".join(str(value) for value in body.values())


# A collector token left in a served process's log: `/c/` then anything but `[token]`.
_TOKEN_IN_LOG = re.compile(r"/c/(?!\[token\])[A-Za-z0-9_\-]{16,}")


@pytest.fixture(scope="session", autouse=True)
def no_identifying_value_in_any_log_line() -> Iterator[None]:
    """Every log record of the whole run is checked for the fixtures' names and phone."""
    handler = _RecordEverything()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(min(previous, logging.INFO) if previous else logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    leaked = [
        line[:200]
        for line in handler.lines
        if any(value in line for value in IDENTIFYING_TEST_VALUES)
    ]
    assert leaked == [], f"identifying values in log lines: {leaked[:3]}"
    # What `fieldcase serve` processes wrote (tests/serving.py), in either log format.
    served = [_decoded(line) for line in SERVED_LOG_LINES]
    leaked = [line[:200] for line in served if any(v in line for v in IDENTIFYING_TEST_VALUES)]
    assert leaked == [], f"identifying values in a served process's log: {leaked[:3]}"
    tokens = [line[:200] for line in served if _TOKEN_IN_LOG.search(line)]
    assert tokens == [], f"collector tokens in a served process's log: {tokens[:3]}"
