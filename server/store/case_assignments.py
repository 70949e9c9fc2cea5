"""Queries on case_assignments: which collectors follow up which case, and each phone's list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
)

from server.store.consent import standing_clause
from server.store.models import (
    Case,
    CaseAssignment,
    CaseEvent,
    CaseTombstone,
    Collector,
    ConsentEvent,
    table_of,
)
from server.store.scope import UnitScope, unit_clause, unit_filter_clause

_A = table_of(CaseAssignment)
_C = table_of(Case)
_E = table_of(CaseEvent)
_K = table_of(Collector)
_INSERT = insert(_A)
_OF_CASES = select(_A.c.case_code, _A.c.collector_id).where(
    _A.c.case_code.in_(bindparam("b_codes", expanding=True))
)
_CE = table_of(ConsentEvent)
_T = table_of(CaseTombstone)
_LAST_VISIT = (
    select(func.max(_E.c.event_date))
    .where(_E.c.case_id == _C.c.id, _E.c.kind == "followup")
    .scalar_subquery()
    .label("last_visit")
)


def of_cases(connection: Connection, case_codes: Sequence[str]) -> dict[str, set[int]]:
    """The collectors each of these case codes is assigned to (codes without any left out)."""
    found: dict[str, set[int]] = {}
    if case_codes:
        for row in connection.execute(_OF_CASES, {"b_codes": list(case_codes)}):
            found.setdefault(row.case_code, set()).add(row.collector_id)
    return found


def add(connection: Connection, pairs: Sequence[tuple[str, int]], at: datetime, by: str) -> None:
    """Assign each (case code, collector id); the caller left out pairs already assigned."""
    if pairs:
        connection.execute(
            _INSERT,
            [
                {"case_code": code, "collector_id": cid, "assigned_at": at, "assigned_by": by}
                for code, cid in pairs
            ],
        )


def remove(
    connection: Connection,
    *,
    case_codes: Sequence[str] | None = None,
    collector_ids: Sequence[int] | None = None,
) -> list[tuple[str, int]]:
    """Delete the assignments of these cases and/or collectors; the pairs deleted."""
    conditions = []
    if case_codes is not None:
        conditions.append(_A.c.case_code.in_(list(case_codes)))
    if collector_ids is not None:
        conditions.append(_A.c.collector_id.in_(list(collector_ids)))
    if not conditions or (case_codes is not None and not case_codes):
        return []
    if collector_ids is not None and not collector_ids:
        return []
    where = and_(*conditions)
    pairs = [
        (row.case_code, row.collector_id)
        for row in connection.execute(select(_A.c.case_code, _A.c.collector_id).where(where))
    ]
    if pairs:
        connection.execute(delete(_A).where(where))
    return pairs


def fingerprint(connection: Connection, collector_id: int) -> tuple[Any, ...]:
    """What a collector's list is made of, in one row: its assignments (how many, the newest),
    their cases (how many exist, the latest projection: every change of a case, a visit, a
    closure, a transfer, projects it again) and their persons' consent events (how many, the
    newest). Equal fingerprints mean an equal list on the same day."""
    # The consent events counted in one pass (a CTE read by both columns): two subqueries
    # each walking the events of 500 cases cost PostgreSQL 3.3 ms, this 1.7-2.2 ms.
    seen = (
        select(func.count(_CE.c.id).label("events"), func.max(_CE.c.id).label("newest"))
        .select_from(_A.join(_CE, _CE.c.case_code == _A.c.case_code))
        .where(_A.c.collector_id == collector_id)
        .cte("consent_seen")
    )
    row = connection.execute(
        select(
            func.count(),
            func.max(_A.c.id),
            func.count(_C.c.id),
            func.max(_C.c.updated_at),
            select(seen.c.events).scalar_subquery(),
            select(seen.c.newest).scalar_subquery(),
        )
        .select_from(_A.outerjoin(_C, _C.c.case_code == _A.c.case_code))
        .where(_A.c.collector_id == collector_id)
    ).one()
    return tuple(row)


def _fixed(value: Any) -> Any:
    """A constant of the code written into the SQL, not sent as a parameter: PostgreSQL plans
    a statement prepared with parameters once for all values (psycopg prepares a statement
    run five times on a connection), and with the status unknown it guessed that a case list
    held one case and read the whole cases table for each assignment (300 ms instead of 16)."""
    return literal(value, literal_execute=True)


def _open_or_recently_closed(closed_since: date) -> Any:
    return or_(
        _C.c.status != _fixed("closed"), _C.c.closed_on.is_(None), _C.c.closed_on >= closed_since
    )


def list_rows(
    connection: Connection,
    collector_id: int,
    unit: tuple[str | None, str | None],
    closed_since: date,
    consent_purpose: str,
) -> Sequence[Row[Any]]:
    """A phone's case list: the cases assigned to it that lie in its unit and are open (or
    closed on or after `closed_since`), whose person received consents to `consent_purpose`
    now (consent_standings) and was not erased (no tombstone), by case code; (case_code,
    commune_code, status, next_followup_due, last_visit). A case that left the unit is never
    listed, even if an assignment were left behind."""
    province, commune = unit
    if province is None:
        return []
    # The unit is checked on the rows read, not in SQL: a condition on the cases' units would
    # lead the planner to walk a whole commune's cases instead of this collector's few.
    conditions = [
        _A.c.collector_id == collector_id,
        _open_or_recently_closed(closed_since),
        _C.c.status != _fixed("not_victim"),
        standing_clause(consent_purpose, _A.c.case_code),
        ~select(_T.c.id).where(_T.c.case_code == _A.c.case_code).exists(),
    ]
    query = (
        select(
            _C.c.case_code,
            _C.c.province_code,
            _C.c.commune_code,
            _C.c.status,
            _C.c.next_followup_due,
            _LAST_VISIT,
        )
        .select_from(_A.join(_C, _C.c.case_code == _A.c.case_code))
        .where(*conditions)
        .order_by(_C.c.case_code)
    )
    return [
        row
        for row in connection.execute(query)
        if row.province_code == province and (commune is None or row.commune_code == commune)
    ]


def closed_before(connection: Connection, closed_before_day: date) -> list[str]:
    """Assigned case codes whose case was closed before this day (or is no victim)."""
    query = (
        select(_A.c.case_code)
        .distinct()
        .select_from(_A.join(_C, _C.c.case_code == _A.c.case_code))
        .where(
            or_(
                and_(_C.c.status == "closed", _C.c.closed_on < closed_before_day),
                _C.c.status == "not_victim",
            )
        )
    )
    return sorted(connection.scalars(query))


def overdue(
    connection: Connection,
    scope: UnitScope,
    unit_code: str | None,
    today: date,
    limit: int,
) -> Sequence[Row[Any]]:
    """Open cases in scope whose next visit is due before `today`, soonest first, each with
    the collectors it is assigned to (one row per case and collector; collector None when it
    is assigned to nobody): (case_id, case_code, province_code, commune_code,
    next_followup_due, collector_id, collector_name)."""
    cases = table_of(Case)
    query = (
        select(
            cases.c.id.label("case_id"),
            cases.c.case_code,
            cases.c.province_code,
            cases.c.commune_code,
            cases.c.next_followup_due,
            _K.c.id.label("collector_id"),
            _K.c.name.label("collector_name"),
        )
        .select_from(
            cases.outerjoin(_A, _A.c.case_code == cases.c.case_code).outerjoin(
                _K, _K.c.id == _A.c.collector_id
            )
        )
        .where(
            unit_clause(scope, Case.province_code, Case.commune_code),
            unit_filter_clause(unit_code, Case.province_code, Case.commune_code),
            cases.c.next_followup_due < today,
            cases.c.status.not_in(("closed", "not_victim")),
        )
        .order_by(cases.c.next_followup_due, cases.c.id, _K.c.name)
        .limit(limit)
    )
    return connection.execute(query).all()
