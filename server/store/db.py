"""Engine and sessions for the store: SQLite (WAL, busy timeout) by default, PostgreSQL by URL."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from server.auditseal import AuditSeal

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A SQLite connection reads the planner statistics when it opens (or when the schema changes):
# pooled connections are replaced this often, so that every process plans from the statistics
# the processing process refreshes (Store.refresh_statistics, hourly).
SQLITE_RECYCLE_SECONDS = 3600
PING_AFTER_IDLE_SECONDS = 1.0
# Execution option of SQLite connections whose statements each run on their own (no BEGIN).
_SINGLE_STATEMENTS = "fieldcase_single_statements"


def json_loads(text: str | bytes) -> Any:
    """Decode a JSON column with orjson (exports read hundreds of thousands of rows); what
    orjson refuses but the standard library accepts (NaN, integers beyond 64 bits) is read by
    the standard library."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


# Threads per worker the pools are sized for when the caller does not say (FIELDCASE_THREADS).
DEFAULT_THREADS = 32


def pool_sizes(threads: int) -> tuple[int, int]:
    """(pool_size, max_overflow) of a PostgreSQL pool for a worker of `threads` threads.

    Every request thread may hold a connection at once (one at a time: a read, the group
    commit's transaction, a last_seen write), and so may the worker's background processing
    thread, so the pool may keep that many open (it opens them only when they are asked for);
    the overflow covers what else asks (a sweep, a command) without waiting for the pool.
    Two workers of 32 threads stay within PostgreSQL's default 100 connections (2 x 42).
    """
    return threads + 2, max(4, threads // 4)


def make_engine(url: str, *, for_writing: bool = True, threads: int = DEFAULT_THREADS) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout on every connection.

    On SQLite a writing engine takes the write lock at BEGIN (BEGIN IMMEDIATE) so two writers
    queue on the busy timeout instead of failing when one upgrades a read transaction
    (SQLITE_BUSY_SNAPSHOT); a reading engine begins deferred, so reads never wait for writers.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            # Enough for every thread of a worker (FIELDCASE_THREADS) to read at once.
            pool_size=20,
            max_overflow=40,
            pool_recycle=SQLITE_RECYCLE_SECONDS,
            json_deserializer=json_loads,
            hide_parameters=True,  # errors never carry the answers bound to a statement
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        begin = "BEGIN IMMEDIATE" if for_writing else "BEGIN"

        def _begin(conn: Connection) -> None:
            if not conn.get_execution_options().get(_SINGLE_STATEMENTS):
                conn.exec_driver_sql(begin)

        event.listen(engine, "begin", _begin)
        return engine
    pool_size, max_overflow = pool_sizes(threads)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        json_deserializer=json_loads,
        hide_parameters=True,
    )
    event.listen(engine, "checkin", _stamp_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _stamp_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Check a pooled PostgreSQL connection that sat idle before handing it out.

    A connection back in use within a second is not pinged (under load that is every
    checkout, and a ping costs a round trip); one that waited longer may have been closed by
    a database restart, and the pool replaces it instead of failing the request.
    """
    if time.monotonic() - record.info.get("checked_in", 0.0) < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:
        raise DisconnectionError() from exc


def _writer_queue(url: str) -> WriterQueue | _NoQueue:
    """A writer queue for a SQLite file; PostgreSQL queues writers itself."""
    if not url.startswith("sqlite"):
        return _NoQueue()
    database = make_url(url).database
    if not database or database == ":memory:":
        return WriterQueue(None)
    return WriterQueue(Path(database + ".writer-lock"))


class _NoQueue:
    @contextmanager
    def turn(self) -> Iterator[None]:
        yield


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling must be off for the BEGIN IMMEDIATE above to be ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


class WriterQueue:
    """Makes SQLite writers wait in line instead of polling for the database lock.

    SQLite lets one writer in at a time; the others retry on the busy timeout with sleeps of
    growing length, so under load the lock is often free while every writer sleeps. Writers
    here first take a lock of this process (threads) and an flock on a file beside the database
    (processes); both wake the next waiter as soon as the holder is done. Reentrant within a
    thread, since a session may be opened inside another on the same thread.
    """

    def __init__(self, lock_path: Path | None) -> None:
        self._path = lock_path
        self._lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # not inherited across a fork
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the writer's turn for the block."""
        with self._lock:
            fd = self._file() if self._depth == 0 else None
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)


# Rows of each index SQLite's ANALYZE samples in `refresh_statistics` (PRAGMA analysis_limit):
# enough to tell a narrow index from a wide one; 38 ms at 100,000 submissions.
SQLITE_ANALYSIS_LIMIT = 1000


class Store:
    """The database of one deployment: an engine, a session factory and the migrations."""

    def __init__(self, url: str, threads: int = DEFAULT_THREADS) -> None:
        """`threads`: how many threads of this process may use the store at once (the
        worker's FIELDCASE_THREADS); the PostgreSQL pool is sized to them."""
        self.url = url
        self.audit_seal: AuditSeal | None = None
        self.engine = make_engine(url, threads=threads)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = (
            make_engine(url, for_writing=False) if url.startswith("sqlite") else self.engine
        )
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        self._writers = _writer_queue(url)
        self._single_reads = (
            self._read_engine.execution_options(**{_SINGLE_STATEMENTS: True})
            if url.startswith("sqlite")
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )

    def attach_audit(self, seal: AuditSeal) -> None:
        """Give every session of this store the audit seal (server/auditseal.py), which
        `audit.append` signs entries with; done once by whoever knows the data directory."""
        from server.store.audit import SEAL_KEY

        self.audit_seal = seal
        self.sessions.configure(info={SEAL_KEY: seal})
        self._read_sessions.configure(info={SEAL_KEY: seal})

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed when the block ends normally, rolled back otherwise."""
        with self._writers.turn():
            session = self.sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in a write transaction, committed when the block ends normally.

        For hot paths that run prepared statements without the ORM unit of work.
        """
        with self._writers.turn(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A Core connection for single-statement reads: each statement sees the latest commit
        on its own, with no transaction around them (no BEGIN or ROLLBACK to pay for)."""
        with self._single_reads.connect() as connection:
            yield connection

    @property
    def read_engine(self) -> Engine:
        """The engine for read-only work (deferred transactions on SQLite)."""
        return self._read_engine

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reading only: never committed, never waits for writers."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            # close() ends the transaction without expiring what was loaded, so objects read
            # here stay usable after the block.
            session.close()

    def _alembic_config(self) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def migrate(self, revision: str = "head", schema_only: bool = False) -> list[str]:
        """Bring the schema to the newest migration (or to `revision`, for tests of upgrades),
        then, at the newest, rebuild in the same transaction the derived tables whose rules
        changed (server/store/projections.py); returns their names. `schema_only` leaves the
        derived tables alone (a restore fills every table from the backup)."""
        from server.store import projections

        cfg = self._alembic_config()
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
            if revision != "head" or schema_only:
                return []
            return projections.bring_up_to_date(connection)

    def refresh_statistics(self) -> bool:
        """Give SQLite's query planner statistics of the tables as they are now (a bounded
        ANALYZE); True when it ran.

        Without any, SQLite takes an equality on an index for a narrow one: it read a case's
        submissions through the index on unit_check (`= 'accepted'`: nearly every row) rather
        than the one on case_code, so the query grew with the table. PostgreSQL keeps its own
        (autovacuum): nothing is done there."""
        if self.engine.dialect.name != "sqlite":
            return False
        with self.transaction() as connection:
            connection.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
            connection.exec_driver_sql("ANALYZE")
        # Connections already open keep the statistics they read (SQLITE_RECYCLE_SECONDS);
        # this process's own are replaced at once.
        self.engine.dispose()
        self._read_engine.dispose()
        return True

    def projections_current(self) -> bool:
        """True when every derived table was built with the code's rules (call it on a schema
        at head: the versions table comes with a migration)."""
        from server.store import projections

        with self.engine.connect() as connection:
            return not projections.stale(connection)

    def schema_revision(self) -> str | None:
        """The migration the database is at, or None for an empty database."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest migration shipped with this code."""
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        self._read_engine.dispose()
