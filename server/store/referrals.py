"""Queries on referrals: cases referred to services, and their outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from server.store.models import Referral, table_of
from server.store.scope import UnitScope, unit_clause

_R = table_of(Referral)
_OF_CASES = (
    select(_R.c.id, _R.c.case_code, _R.c.service_type, _R.c.outcome, _R.c.outcome_source)
    .where(_R.c.case_code.in_(bindparam("b_codes", expanding=True)))
    .order_by(_R.c.id)
)
_SET_OUTCOME = update(_R).where(_R.c.id == bindparam("b_id"))


def add(session: Session, referral: Referral) -> Referral:
    """Insert a referral."""
    session.add(referral)
    session.flush()
    return referral


def in_scope(session: Session, scope: UnitScope, referral_id: int) -> Referral | None:
    """A referral of a unit inside the scope, else None."""
    return session.scalar(
        select(Referral).where(
            Referral.id == referral_id,
            unit_clause(scope, Referral.province_code, Referral.commune_code),
        )
    )


def listed(
    session: Session,
    scope: UnitScope,
    case_code: str | None = None,
    limit: int | None = None,
    before: int | None = None,
) -> Sequence[Referral]:
    """The scope's referrals (of one case when given), newest first: all of them, or up to
    `limit`, those with an id under `before` when given (the caller pages on the last id)."""
    query = select(Referral).where(
        unit_clause(scope, Referral.province_code, Referral.commune_code)
    )
    if case_code is not None:
        query = query.where(Referral.case_code == case_code)
    if before is not None:
        query = query.where(Referral.id < before)
    query = query.order_by(Referral.id.desc())
    return session.scalars(query if limit is None else query.limit(limit)).all()


def _overdue_clause(scope: UnitScope, referred_by: date) -> Any:
    return and_(
        unit_clause(scope, Referral.province_code, Referral.commune_code),
        Referral.outcome.is_(None),
        Referral.referred_on <= referred_by,
    )


def overdue(
    session: Session,
    scope: UnitScope,
    referred_by: date,
    limit: int,
    after: int | None = None,
) -> Sequence[Referral]:
    """The scope's referrals made on or before `referred_by` that have no outcome yet, oldest
    first, up to `limit`; with `after`, those that come after that overdue referral of the
    scope in this order (the caller pages on the last id). An `after` that is not one of the
    scope's overdue referrals gives nothing (a stale or forged link)."""
    clause = _overdue_clause(scope, referred_by)
    query = select(Referral).where(clause)
    if after is not None:
        cursor = session.execute(
            select(Referral.referred_on, Referral.id).where(clause, Referral.id == after)
        ).first()
        if cursor is None:
            return []
        query = query.where(
            or_(
                Referral.referred_on > cursor.referred_on,
                and_(Referral.referred_on == cursor.referred_on, Referral.id > cursor.id),
            )
        )
    return session.scalars(query.order_by(Referral.referred_on, Referral.id).limit(limit)).all()


def count_overdue(session: Session, scope: UnitScope, referred_by: date) -> int:
    """How many of the scope's referrals made on or before `referred_by` have no outcome."""
    found = session.scalar(
        select(func.count()).select_from(Referral).where(_overdue_clause(scope, referred_by))
    )
    return int(found or 0)


def of_cases(connection: Connection, case_codes: list[str]) -> Sequence[Any]:
    """(id, case_code, service_type, outcome, outcome_source) of these cases' referrals."""
    if not case_codes:
        return []
    return connection.execute(_OF_CASES, {"b_codes": case_codes}).all()


def set_outcomes(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Write outcomes read from submissions (`b_id` and the outcome columns)."""
    if rows:
        connection.execute(_SET_OUTCOME, rows)
