"""The append-only, hash-chained audit log.

Each entry's hash covers the previous entry's hash and this entry's canonical JSON, so editing
or removing an entry breaks every hash after it (`verify_chain` finds where). The hash is an
HMAC keyed with a secret outside the database (server/auditseal.py), so the chain cannot be
computed again by someone who changed the rows. Deployments older than the key kept a plain
SHA-256 chain: those entries are still verified as they were written, and the keyed chain
starts with an `audit.keyed` entry, the first one the key signs (its hash covers the last
plain hash, so the old prefix cannot be rewritten either).

Every append also leaves heads to write outside the database once the transaction commits
(the newest entry, the last entry of a day that has ended, the keyed chain's start), which is
how a log cut short is found.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, or_, select, text
from sqlalchemy.orm import Session

from server.auditseal import AuditSeal, Head
from server.clock import utcnow
from server.store.models import AuditEntry
from server.store.search_hits import searches_of_case

GENESIS = "0" * 64
KEYED_MARK = "audit.keyed"
SEAL_KEY = "fieldcase.audit_seal"  # in Session.info, set by Store.attach_audit
_PENDING_KEY = "fieldcase.audit_heads"
# Any constant works; it only has to be the same for every writer of this database.
_PG_AUDIT_LOCK = 0x66636175


class AuditKeyMissing(RuntimeError):
    """The store was opened without the audit seal, so nothing can be appended or verified."""


def _canonical(
    at: datetime, actor: str, action: str, target: str | None, detail: dict[str, Any] | None
) -> str:
    # SQLite returns naive datetimes (UTC); PostgreSQL returns them in the session's time
    # zone, which need not be UTC: the hash is always over UTC.
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return json.dumps(
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


def plain_hash(prev_hash: str, canonical: str) -> str:
    """The unkeyed hash entries had before the chain was keyed (still verified in that part)."""
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def _seal(session: Session) -> AuditSeal:
    seal = session.info.get(SEAL_KEY)
    if seal is None:
        raise AuditKeyMissing("the audit log's key is not configured for this store")
    return seal  # type: ignore[no-any-return]


def _keyed_start(session: Session) -> int | None:
    return session.scalar(
        select(AuditEntry.id)
        .where(AuditEntry.action == KEYED_MARK)
        .order_by(AuditEntry.id)
        .limit(1)
    )


def _add(
    session: Session,
    seal: AuditSeal,
    prev_hash: str,
    actor: str,
    action: str,
    target: str | None,
    detail: dict[str, Any] | None,
) -> AuditEntry:
    at = utcnow().replace(microsecond=0)
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=action,
        target=target,
        detail=detail,
        prev_hash=prev_hash,
        hash=seal.sign(prev_hash, _canonical(at, actor, action, target, detail)),
    )
    session.add(entry)
    session.flush()
    return entry


def append(
    session: Session,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry at the end of the chain, inside the caller's transaction."""
    seal = _seal(session)
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers so two entries never claim the same predecessor.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    last = session.execute(
        select(AuditEntry.id, AuditEntry.hash, AuditEntry.at)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).first()
    prev_hash = last.hash if last else GENESIS
    heads: list[Head] = []
    if last is not None and _as_utc(last.at).date() < utcnow().date():
        # Writers queue on the lock above, so the last entry is committed: that day's head.
        heads.append(Head(last.id, last.hash, _as_utc(last.at), "day"))
    if _keyed_start(session) is None:
        start = _add(
            session,
            seal,
            prev_hash,
            "system",
            KEYED_MARK,
            None,
            {"scheme": "hmac-sha256", "key": seal.key_id, "plain_before": last.id if last else 0},
        )
        heads.append(Head(start.id, start.hash, _as_utc(start.at), "start"))
        prev_hash = start.hash
    entry = _add(session, seal, prev_hash, actor, action, target, detail)
    heads.append(Head(entry.id, entry.hash, _as_utc(entry.at), "latest"))
    _record_after_commit(session, seal, heads)
    return entry


def _record_after_commit(session: Session, seal: AuditSeal, heads: list[Head]) -> None:
    """Heads are written once the transaction commits (a rolled-back entry has no head)."""
    pending: list[Head] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []

        def _commit(committed: Session) -> None:
            done, committed.info[_PENDING_KEY] = committed.info.get(_PENDING_KEY, []), []
            for head in done:
                if head.kind != "latest" or head is _newest(done):
                    seal.record(head)

        def _rollback(rolled_back: Session) -> None:
            rolled_back.info[_PENDING_KEY] = []

        event.listen(session, "after_commit", _commit)
        event.listen(session, "after_soft_rollback", lambda s, _t: _rollback(s))
    pending.extend(heads)


def _newest(heads: list[Head]) -> Head:
    return max((h for h in heads if h.kind == "latest"), key=lambda h: h.entry_id)


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ChainWalk:
    """What walking the whole chain found."""

    entries: int
    broken_at: int | None  # the first entry whose hash does not hold
    keyed_from: int | None  # the `audit.keyed` entry, when the chain has been keyed
    last_id: int | None


def walk_chain(session: Session) -> ChainWalk:
    """Check every entry's hash, oldest first: plain SHA-256 before the keyed start, the
    seal's HMAC from it on."""
    seal = _seal(session)
    prev_hash, keyed_from, count, last_id = GENESIS, None, 0, None
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        canonical = _canonical(entry.at, entry.actor, entry.action, entry.target, entry.detail)
        if keyed_from is None and entry.action == KEYED_MARK:
            keyed_from = entry.id
        expected = (
            seal.sign(prev_hash, canonical)
            if keyed_from is not None
            else plain_hash(prev_hash, canonical)
        )
        if entry.prev_hash != prev_hash or entry.hash != expected:
            return ChainWalk(count, entry.id, keyed_from, last_id)
        prev_hash, count, last_id = entry.hash, count + 1, entry.id
    return ChainWalk(count, None, keyed_from, last_id)


def verify_chain(session: Session) -> int | None:
    """The id of the first entry whose hash does not hold, or None when the chain is intact
    (the heads outside the database are checked by server/services/auditing.py)."""
    return walk_chain(session).broken_at


def hashes_by_id(session: Session, entry_ids: Sequence[int]) -> dict[int, str]:
    """The stored hashes of these entries that exist."""
    if not entry_ids:
        return {}
    rows = session.execute(
        select(AuditEntry.id, AuditEntry.hash).where(AuditEntry.id.in_(sorted(set(entry_ids))))
    )
    return {row.id: row.hash for row in rows}


def recent_count(
    session: Session, actor: str, action: str, since: datetime
) -> tuple[int, datetime | None]:
    """How many entries of one kind one user made since a time, and the oldest of them."""
    row = session.execute(
        select(func.count(), func.min(AuditEntry.at)).where(
            AuditEntry.action == action, AuditEntry.actor == actor, AuditEntry.at >= since
        )
    ).one()
    oldest = row[1]
    return int(row[0]), _as_utc(oldest) if oldest is not None else None


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
    found_case: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AuditEntry]:
    """Entries newest first, filtered, keyset-paged on id (`before_id`). With `found_case`,
    the entries about the target also include the searches that returned that case."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if target and found_case is not None:
        query = query.where(
            or_(AuditEntry.target == target, AuditEntry.id.in_(searches_of_case(found_case)))
        )
    elif target:
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


def about(session: Session, targets: Sequence[str], audit_ids: Any = None) -> Sequence[AuditEntry]:
    """The entries about these targets (`case:ID`, `submission:ID`, ...), and those whose id
    is in `audit_ids` (a subquery, e.g. the searches that returned a case), oldest first."""
    from sqlalchemy import or_

    conditions = [AuditEntry.target.in_(list(targets))] if targets else []
    if audit_ids is not None:
        conditions.append(AuditEntry.id.in_(audit_ids))
    if not conditions:
        return []
    return session.scalars(select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.id)).all()
