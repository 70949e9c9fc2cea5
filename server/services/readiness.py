"""Readiness: whether this server can take and process submissions now (`/readyz`).

`/healthz` only says the process answers; `/readyz` checks what a submission needs: the
database at the newest migration, a writable blob directory, the server key unlocked, and
free disk in the data directory above FIELDCASE_READY_MIN_FREE_MB. Each check says what it
saw in words an operator can act on; none names a secret or a path outside the data
directory.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server.config import Config
from server.services.keyring import KeyRing
from server.store import keys as key_store
from server.store import submissions as submission_store
from server.store.db import Store


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passed, what was seen."""

    name: str
    ok: bool
    detail: str


def check_database(store: Store) -> Check:
    """The database answers and is at the newest migration of this code."""
    try:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = store.schema_revision()
    except SQLAlchemyError as exc:
        return Check("database", False, f"does not answer ({type(exc).__name__})")
    head = store.head_revision()
    if current != head:
        return Check("database", False, f"at migration {current}, the code needs {head}")
    return Check("database", True, f"answers, at migration {current}")


def check_blobs(config: Config) -> Check:
    """The blob directory exists and takes a new file."""
    folder = config.blob_dir
    if not folder.is_dir():
        return Check("blobs", False, "the blob directory is missing")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".readyz-"):
            pass
    except OSError as exc:
        return Check("blobs", False, f"the blob directory refuses a new file ({exc.strerror})")
    return Check("blobs", True, "writable")


def check_key(store: Store, keyring: KeyRing) -> Check:
    """The active server key is unlocked by the configured passphrase."""
    if keyring.locked:
        return Check(
            "key",
            False,
            "locked: FIELDCASE_KEY_PASSPHRASE is not set; submissions are stored and wait "
            "for `fieldcase decrypt-pending`",
        )
    try:
        with store.reader() as session:
            active = key_store.active(session)
            key_id = active.id if active is not None else None
    except SQLAlchemyError as exc:
        return Check("key", False, f"cannot be read ({type(exc).__name__})")
    if key_id is None:
        return Check("key", False, "the server has no key pair: run `fieldcase init`")
    if keyring.decryptor(key_id) is None:
        return Check("key", False, "the configured passphrase does not unlock the server key")
    return Check("key", True, "unlocked")


def check_disk(config: Config) -> Check:
    """Free space in the data directory is above FIELDCASE_READY_MIN_FREE_MB."""
    try:
        free = shutil.disk_usage(config.data_dir).free
    except OSError as exc:
        return Check("disk", False, f"cannot be measured ({exc.strerror})")
    free_mb = free // (1024 * 1024)
    if free_mb < config.ready_min_free_mb:
        return Check(
            "disk", False, f"{free_mb} MB free, below the {config.ready_min_free_mb} MB asked"
        )
    return Check("disk", True, f"{free_mb} MB free")


def readiness(store: Store, config: Config, keyring: KeyRing) -> list[Check]:
    """Every check, in a fixed order."""
    return [
        check_database(store),
        check_blobs(config),
        check_key(store, keyring),
        check_disk(config),
    ]


def free_disk_bytes(config: Config) -> int:
    """Free bytes in the data directory's filesystem (0 when it cannot be measured)."""
    try:
        return shutil.disk_usage(config.data_dir).free
    except OSError:
        return 0


def decrypt_state_counts(store: Store) -> dict[str, int]:
    """Stored submissions by decryption state (for the metrics)."""
    with store.read() as connection:
        return submission_store.counts_by_decrypt_state(connection)
