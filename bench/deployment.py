"""A fresh deployment for a benchmark: its settings, its initialised store and its Services,
on SQLite in the data directory or in a PostgreSQL schema of its own."""

from __future__ import annotations

import contextlib
from pathlib import Path

from server.app_context import Services
from server.config import Config, sqlite_url
from server.services.setup import initialise
from server.store.db import Store
from tests.conftest import postgres_schema

PASSPHRASE = "bench passphrase"


def database_url(
    stack: contextlib.ExitStack, database: str, data_dir: Path, postgres: str, prefix: str
) -> str:
    """SQLite in `data_dir`, or a fresh schema on the PostgreSQL server `postgres` (dropped
    when `stack` closes)."""
    if database == "sqlite":
        return sqlite_url(data_dir)
    return stack.enter_context(postgres_schema(prefix, postgres))


def deployment(data_dir: Path, url: str) -> tuple[Config, Store, Services]:
    """The settings, initialised store (key pair, first admin) and Services of a deployment
    whose key unlocks with `PASSPHRASE`."""
    config = Config(
        data_dir=data_dir,
        database_url=url,
        key_passphrase=PASSPHRASE,
        admin_password="bench-head-office-passphrase",
        secret_key="bench",
    )
    store = Store(url)
    initialise(config, store)
    return config, store, Services(config, store)
