"""The append-only, hash-chained audit log.

Each entry's hash is SHA-256 over the previous entry's hash and this entry's canonical JSON, so
removing or editing an entry breaks every hash after it (`verify_chain` finds where).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from server.clock import utcnow
from server.store.models import AuditEntry

GENESIS = "0" * 64
# Any constant works; it only has to be the same for every writer of this database.
_PG_AUDIT_LOCK = 0x66636175


def _entry_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    target: str | None,
    detail: dict[str, Any] | None,
) -> str:
    canonical = json.dumps(
        {
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "target": target,
            "detail": detail,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def append(
    session: Session,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry at the end of the chain, inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers so two entries never claim the same predecessor.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    last = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    prev_hash = last or GENESIS
    at = utcnow().replace(microsecond=0)
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=action,
        target=target,
        detail=detail,
        prev_hash=prev_hash,
        hash=_entry_hash(prev_hash, at, actor, action, target, detail),
    )
    session.add(entry)
    session.flush()
    return entry


def verify_chain(session: Session) -> int | None:
    """The id of the first entry whose hash does not hold, or None when the chain is intact."""
    prev_hash = GENESIS
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        at = entry.at
        if at.tzinfo is None:  # SQLite returns naive datetimes
            from datetime import UTC

            at = at.replace(tzinfo=UTC)
        expected = _entry_hash(prev_hash, at, entry.actor, entry.action, entry.target, entry.detail)
        if entry.prev_hash != prev_hash or entry.hash != expected:
            return entry.id
        prev_hash = entry.hash
    return None


def recent(session: Session, limit: int = 100, action: str | None = None) -> Sequence[AuditEntry]:
    """The newest entries, optionally of one action."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    return session.scalars(query).all()


def browse(
    session: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AuditEntry]:
    """Entries newest first, filtered, keyset-paged on id (`before_id`)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if target:
        query = query.where(AuditEntry.target == target)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return session.scalars(query).all()


def actions(session: Session) -> list[str]:
    """The kinds of entry present in the log (for the filter list)."""
    return sorted(session.scalars(select(AuditEntry.action).distinct()))
