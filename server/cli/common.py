"""Helpers shared by the CLI command modules."""

from __future__ import annotations

from typing import NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from server import logs
from server.auditseal import seal_for
from server.config import Config
from server.datadir import DataDirExposed, check_private
from server.errors import ConfigError
from server.store.db import Store


def fail(reason: str, code: int = 1) -> NoReturn:
    """Print a one-line reason on stderr and exit with `code`."""
    click.echo(f"error: {reason}", err=True)
    raise SystemExit(code)


def load_config() -> Config:
    """Settings from the environment, or a one-line error and exit 2."""
    try:
        config = Config.from_env()
    except ConfigError as exc:
        fail(str(exc), code=2)
    # Commands print their results; from the log they show warnings and errors (`serve` all).
    logs.configure(config.log_level, config.log_format, console_level="WARNING")
    return config


def check_data_dir(config: Config) -> None:
    """Exit 2 with the bilingual reason when the data directory is open to other users."""
    try:
        check_private(config)
    except DataDirExposed as exc:
        fail(str(exc), code=2)


def open_store(config: Config) -> Store:
    """The deployment's store, which must be initialised and at the newest migration, in a
    data directory no other user may read."""
    check_data_dir(config)
    store = Store(config.database_url)
    store.attach_audit(seal_for(config))
    try:
        current = store.schema_revision()
    except SQLAlchemyError as exc:
        fail(f"cannot open the database: {type(exc).__name__}", code=2)
    if current is None:
        fail("the data directory is not initialised: run `fieldcase init` first", code=2)
    if current != store.head_revision() or not store.projections_current():
        store.migrate()
    return store
