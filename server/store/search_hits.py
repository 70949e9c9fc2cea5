"""Queries on case_search_hits: which searches (audit entries) returned which cases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from server.store.models import AuditEntry, CaseSearchHit


def add(session: Session, audit_id: int, case_ids: Sequence[int]) -> None:
    """Record that the search audited as `audit_id` returned these cases."""
    if case_ids:
        session.execute(
            insert(CaseSearchHit), [{"audit_id": audit_id, "case_id": c} for c in case_ids]
        )


def searches_of_case(case_id: int) -> Select[Any]:
    """The ids of the audit entries of searches that returned the case (a subquery)."""
    return select(CaseSearchHit.audit_id).where(CaseSearchHit.case_id == case_id)


def counts_by_actor(session: Session, case_id: int) -> list[tuple[str, int]]:
    """How many searches of each user returned the case, most first."""
    rows = session.execute(
        select(AuditEntry.actor, func.count())
        .join(CaseSearchHit, CaseSearchHit.audit_id == AuditEntry.id)
        .where(CaseSearchHit.case_id == case_id)
        .group_by(AuditEntry.actor)
        .order_by(func.count().desc(), AuditEntry.actor)
    ).all()
    return [(actor, int(n)) for actor, n in rows]
