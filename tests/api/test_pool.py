"""The PostgreSQL pool of a worker is sized to its threads (FIELDCASE_THREADS): every request
thread and the background thread may hold a connection at once without waiting for the pool."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import text

from server.app import create_app, store_of
from server.config import Config
from server.store.db import Store, pool_sizes
from tests.conftest import postgres_or_skip, postgres_schema


def _hold_all(store: Store, count: int) -> None:
    """Check out `count` connections at once; the pool may not make one wait."""
    store.engine.pool._timeout = 0.5  # type: ignore[attr-defined]  # fail fast, not in 30 s
    with ExitStack() as held:
        for _ in range(count):
            connection = held.enter_context(store.engine.connect())
            connection.execute(text("SELECT 1"))


def test_every_thread_and_the_background_thread_get_a_connection_at_once() -> None:
    postgres_or_skip()
    with postgres_schema("pool") as url:
        store = Store(url, threads=32)
        try:
            _hold_all(store, 32 + 1)
        finally:
            store.engine.dispose()


def test_the_app_sizes_its_pool_to_its_threads(tmp_path: Path) -> None:
    postgres_or_skip()
    with postgres_schema("pool") as url:
        config = Config(data_dir=tmp_path / "data", database_url=url, threads=48)
        store = store_of(create_app(config))
        try:
            assert store.engine.pool.size() >= 48 + 1  # type: ignore[attr-defined]
            _hold_all(store, 48 + 1)
        finally:
            store.engine.dispose()


def test_two_default_workers_stay_within_postgresql_default_connections() -> None:
    pool_size, overflow = pool_sizes(Config(Path("unused"), "sqlite://").threads)
    assert 2 * (pool_size + overflow) <= 100
