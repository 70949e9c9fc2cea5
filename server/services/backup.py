"""`fieldcase backup` and `fieldcase restore`: one archive with the database, blobs and keys.

The database is written table by table as JSON lines inside ONE read transaction (a consistent
snapshot on SQLite's WAL and on PostgreSQL's REPEATABLE READ), so a backup can be taken while
the server runs and restored into either database. Blobs are immutable and content-addressed:
every blob the snapshot names is copied, and checked against its name on restore. Keys stay
passphrase-protected as they are; the passphrase is never in a backup. The session secret, the
audit log's key and the audit chain's heads come along when they live in the data directory.

The OData row bodies (`feed_bodies`) are left out: they are a cache of what the submissions
render to, as large as the submissions themselves, stored as bytes on SQLite and text on
PostgreSQL. After a restore the background processor renders them again when idle (or
`fieldcase export feed-bodies` at once); the feed renders a row without one when it is read.
An archive that holds them (made before they were left out) restores without them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, LargeBinary, func, insert, select, text
from sqlalchemy.engine import Connection

from server.auditseal import AUDIT_KEY_FILE, HEADS_LOG, read_heads
from server.blobs import FileBlobStore
from server.clock import utcnow
from server.config import Config
from server.datadir import SECRET_KEY_FILE, ensure_data_dir
from server.services.matching import MATCH_KEY_FILE
from server.store.db import Store
from server.store.models import AuditEntry, Base

FORMAT = "fieldcase-backup-1"
BLOB_COLUMNS = {("submission_parts", "blob_sha256"), ("form_attachments", "blob_sha256")}


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why."""


@dataclass
class BackupSummary:
    """What an archive holds."""

    rows: dict[str, int]
    blobs: int
    schema_revision: str | None


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(utcnow().timestamp())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


# Tables a backup leaves out: caches rendered again from what the backup holds, and the
# credential generation, a counter only the running workers compare with (the restored
# deployment has its own, which restoring the collectors moves on).
NOT_BACKED_UP = frozenset({"feed_bodies", "credential_generation"})


def _backed_up() -> list[Any]:
    return [t for t in Base.metadata.sorted_tables if t.name not in NOT_BACKED_UP]


def _snapshot(connection: Connection, archive: tarfile.TarFile) -> tuple[dict[str, int], set[str]]:
    rows: dict[str, int] = {}
    blobs: set[str] = set()
    for table in _backed_up():
        lines = []
        for row in connection.execute(select(table).order_by(*table.primary_key.columns)):
            record = dict(row._mapping)
            for table_name, column in BLOB_COLUMNS:
                if table.name == table_name and record.get(column):
                    blobs.add(record[column])
            lines.append(
                json.dumps(
                    {k: _encode(v) for k, v in record.items()}, ensure_ascii=False, sort_keys=True
                )
            )
        _add_bytes(archive, f"db/{table.name}.jsonl", ("\n".join(lines) + "\n").encode())
        rows[table.name] = len(lines)
    return rows, blobs


def backup(config: Config, store: Store, out: Path) -> BackupSummary:
    """Write a consistent archive of the deployment to `out` (tar.gz), atomically."""
    from exports.files import atomic_output

    blob_store = FileBlobStore(config.blob_dir)
    with atomic_output(out) as handle, tarfile.open(fileobj=handle, mode="w:gz") as archive:
        with store.read_engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                )
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            rows, blobs = _snapshot(connection, archive)
            last_audit_id = connection.execute(select(func.max(AuditEntry.id))).scalar() or 0
            connection.rollback()
        for digest in sorted(blobs):
            if not blob_store.exists(digest):
                raise BackupError(f"blob {digest[:12]} named in the database is missing")
            with blob_store.open(digest) as blob:
                info = tarfile.TarInfo(f"blobs/{digest}")
                info.size = blob_store.size(digest)
                info.mode = 0o600
                archive.addfile(info, blob)
        for path in sorted(config.key_dir.glob("*.pem")):
            _add_bytes(archive, f"keys/{path.name}", path.read_bytes())
        for name in (SECRET_KEY_FILE, AUDIT_KEY_FILE, MATCH_KEY_FILE):
            secret = config.data_dir / name
            if secret.exists():
                _add_bytes(archive, name, secret.read_bytes())
        # The heads of the audit chain as far as the snapshot reaches (later ones would say
        # the restored log was cut short).
        heads = [h for h in read_heads(config.data_dir) if h.entry_id <= last_audit_id]
        _add_bytes(
            archive, HEADS_LOG, "".join(h.line() for h in heads if h.kind != "latest").encode()
        )
        manifest = {
            "format": FORMAT,
            "schema_revision": revision,
            "rows": rows,
            "blobs": len(blobs),
            "made_at": utcnow().isoformat(),
        }
        _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
    return BackupSummary(rows, len(blobs), revision)


def _decode(table: Any, record: dict[str, Any]) -> dict[str, Any]:
    decoded = {}
    for column in table.columns:
        value = record.get(column.name)
        if value is not None:
            if isinstance(column.type, DateTime):
                value = datetime.fromisoformat(value)
            elif isinstance(column.type, Date):
                value = date.fromisoformat(value)
            elif isinstance(column.type, LargeBinary):
                value = base64.b64decode(value)
        decoded[column.name] = value
    return decoded


def restore(config: Config, store: Store, archive_path: Path) -> BackupSummary:
    """Restore an archive into an EMPTY data directory and database."""
    ensure_data_dir(config)
    if store.schema_revision() is not None:
        raise BackupError("the database is not empty: restore only into a new deployment")
    if config.blob_dir.exists() and any(FileBlobStore(config.blob_dir).all_digests()):
        raise BackupError("the data directory already holds blobs: use a new one")
    try:
        archive = tarfile.open(archive_path, mode="r:gz")  # noqa: SIM115 - closed below
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"not a fieldcase backup ({type(exc).__name__})") from exc
    with archive:
        members = {m.name: m for m in archive.getmembers() if m.isfile()}
        if "manifest.json" not in members:
            raise BackupError("not a fieldcase backup: manifest.json is missing")
        manifest = json.loads(_read(archive, members["manifest.json"]))
        if manifest.get("format") != FORMAT:
            raise BackupError(f"unknown backup format {manifest.get('format')!r}")
        if manifest.get("schema_revision") != store.head_revision():
            raise BackupError(
                "the backup's schema differs from this version of fieldcase; "
                "restore it with the version that made it, then upgrade"
            )
        # Files first: a restore that fails leaves no row naming a blob it did not write.
        blobs = FileBlobStore(config.blob_dir)
        count = 0
        for name, member in members.items():
            if name.startswith("blobs/"):
                digest = name.removeprefix("blobs/")
                source = archive.extractfile(member)
                if source is None:
                    raise BackupError(f"{name} cannot be read")
                stored, _ = blobs.put(source)
                if stored != digest:
                    raise BackupError(f"blob {digest[:12]} is damaged in the archive")
                count += 1
            elif name.startswith("keys/") and "/" not in name.removeprefix("keys/"):
                target = config.key_dir / name.removeprefix("keys/")
                if not target.exists():
                    target.write_bytes(_read(archive, member))
                    target.chmod(0o600)
            elif (
                (name == SECRET_KEY_FILE and not config.secret_key)
                or (name == AUDIT_KEY_FILE and not config.audit_key)
                or (name == MATCH_KEY_FILE and not config.match_key)
                or name == HEADS_LOG
            ):
                target = config.data_dir / name
                if not target.exists():
                    target.write_bytes(_read(archive, member))
                    target.chmod(0o600)
        store.migrate(schema_only=True)  # the backup holds the projections as they were
        rows: dict[str, int] = {}
        with store.engine.begin() as connection:
            for table in _backed_up():
                member = members.get(f"db/{table.name}.jsonl")
                lines = _read(archive, member).splitlines() if member else []
                records = [_decode(table, json.loads(line)) for line in lines if line.strip()]
                if records:
                    connection.execute(insert(table), records)
                rows[table.name] = len(records)
            expected = {
                name: count for name, count in manifest["rows"].items() if name not in NOT_BACKED_UP
            }
            if rows != expected:  # rolled back: nothing of a wrong restore stays
                raise BackupError("the restored row counts differ from the backup's manifest")
            if connection.dialect.name == "postgresql":
                _reset_sequences(connection)
        if store.engine.dialect.name == "postgresql":
            # Planner statistics for the tables just filled, rather than waiting for autovacuum:
            # until then PostgreSQL plans them as empty (slow exports and lists on big restores).
            with store.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
    return BackupSummary(rows, count, manifest["schema_revision"])


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    if handle is None:
        raise BackupError(f"{member.name} cannot be read")
    return handle.read()


def _reset_sequences(connection: Connection) -> None:
    """After inserting explicit ids, move each id sequence past the largest id."""
    for table in Base.metadata.sorted_tables:
        if "id" in table.columns and table.columns["id"].autoincrement in (True, "auto"):
            largest = select(func.max(table.c.id)).scalar_subquery()
            connection.execute(
                select(
                    func.setval(
                        func.pg_get_serial_sequence(table.name, "id"),
                        func.coalesce(largest, 0) + 1,
                        False,
                    )
                )
            )


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file (to compare exports before and after a restore)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
