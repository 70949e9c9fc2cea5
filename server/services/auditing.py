"""Is the audit log whole? The chain's hashes, and the heads recorded outside the database.

Used by `fieldcase audit verify` and the audit page. A chain whose every hash holds can still
have lost its newest entries, or have been computed again from scratch by someone without the
key but with the old unkeyed function; the heads written to the data directory
(server/auditseal.py) catch both. The views and commands also record and read entries through
the functions at the end of this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.auditseal import HeadsUnreadable, read_heads
from server.store import audit, search_hits
from server.store.models import AuditEntry

# Why the log does not hold, worst first within an entry.
EDITED = "edited"  # an entry's hash does not hold: changed, inserted or removed before it
TRUNCATED = "truncated"  # a recorded head is past the end: the newest entries were removed
REWRITTEN = "rewritten"  # a recorded head's entry has another hash now: the chain was redone
UNKEYED = "unkeyed"  # the keyed chain does not start where it was recorded to start
HEADS_DAMAGED = "heads_damaged"  # a heads file cannot be read


@dataclass(frozen=True)
class AuditState:
    """The verdict on the audit log."""

    entries: int
    broken_at: int | None = None  # the first entry id that does not hold
    reason: str | None = None
    detail: str = ""

    @property
    def intact(self) -> bool:
        """True when no entry was changed or removed."""
        return self.broken_at is None and self.reason is None


def check_audit(session: Session) -> AuditState:
    """Walk the chain and compare it with every recorded head."""
    walk = audit.walk_chain(session)
    seal = session.info[audit.SEAL_KEY]
    problems: list[tuple[int, str, str]] = []
    if walk.broken_at is not None:
        problems.append((walk.broken_at, EDITED, ""))
    try:
        heads = read_heads(seal.heads_log.parent)
    except HeadsUnreadable as exc:
        return AuditState(walk.entries, walk.broken_at, HEADS_DAMAGED, str(exc))
    stored = audit.hashes_by_id(session, [head.entry_id for head in heads])
    end = walk.last_id or 0
    for head in heads:
        found = stored.get(head.entry_id)
        when = head.at.isoformat(timespec="seconds")
        if found is None and head.entry_id > end:
            problems.append((end + 1, TRUNCATED, f"entry {head.entry_id} was there at {when}"))
        elif found is None:
            problems.append((head.entry_id, EDITED, f"entry {head.entry_id} was removed"))
        elif found != head.hash:
            problems.append((head.entry_id, REWRITTEN, f"recorded at {when}"))
    starts = sorted(head.entry_id for head in heads if head.kind == "start")
    if starts and walk.keyed_from != starts[0]:
        problems.append((starts[0], UNKEYED, f"the keyed chain started at entry {starts[0]}"))
    if not problems:
        return AuditState(walk.entries)
    broken_at, reason, detail = min(problems)
    return AuditState(walk.entries, broken_at, reason, detail)


# The audit log for the edges (views and commands): they record and read it only through here.


def record(
    session: Session,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry (who did what to which target) inside the caller's transaction."""
    audit.append(session, actor, action, target, detail)


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
    """Entries newest first, filtered and keyset-paged (server/store/audit.py `browse`)."""
    return audit.browse(
        session,
        action=action,
        actor=actor,
        target=target,
        found_case=found_case,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )


def actions(session: Session) -> list[str]:
    """Every action name the log holds (the audit page's filter)."""
    return audit.actions(session)


def searches_that_found(session: Session, case_id: int) -> list[tuple[str, int]]:
    """How many of each user's case searches returned this case."""
    return search_hits.counts_by_actor(session, case_id)
