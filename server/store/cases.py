"""Queries on cases, their persons and timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from server.store.models import Case, CaseEvent, CasePerson, Submission, table_of
from server.store.scope import UnitScope, unit_clause, unit_filter_clause

_C = table_of(Case)
_E = table_of(CaseEvent)
_P = table_of(CasePerson)
_IDS_BY_CODE = select(_C.c.case_code, _C.c.id).where(
    _C.c.case_code.in_(bindparam("b_codes", expanding=True))
)
_CLEAR_EVENTS = delete(_E).where(_E.c.case_id.in_(bindparam("b_cases", expanding=True)))
_CLEAR_PERSONS = delete(_P).where(_P.c.case_id.in_(bindparam("b_cases", expanding=True)))
_DELETE = delete(_C).where(_C.c.id.in_(bindparam("b_cases", expanding=True)))
_INSERT = insert(_C)
_UPDATE = update(_C).where(_C.c.id == bindparam("b_case"))
_INSERT_EVENTS = insert(_E)
_INSERT_PERSONS = insert(_P)


def ids_by_code(connection: Connection, case_codes: list[str]) -> dict[str, int]:
    """The ids of the cases with these codes that exist."""
    rows = connection.execute(_IDS_BY_CODE, {"b_codes": case_codes})
    return {row.case_code: row.id for row in rows}


def clear_projections(connection: Connection, case_ids: list[int]) -> None:
    """Remove cases' timelines and persons before they are projected again."""
    if case_ids:
        connection.execute(_CLEAR_EVENTS, {"b_cases": case_ids})
        connection.execute(_CLEAR_PERSONS, {"b_cases": case_ids})


def delete_cases(connection: Connection, case_ids: list[int]) -> None:
    """Remove cases left without submissions (their projections cleared first)."""
    if case_ids:
        connection.execute(_DELETE, {"b_cases": case_ids})


def write_many(
    connection: Connection,
    ids: dict[str, int | None],
    values: dict[str, dict[str, Any]],
) -> dict[str, int]:
    """Insert the cases whose id is None and update the others; every id, by code."""
    written = {code: case_id for code, case_id in ids.items() if case_id is not None}
    known = [{"b_case": case_id, **values[code]} for code, case_id in written.items()]
    if known:
        connection.execute(_UPDATE, known)
    new = [values[code] for code, case_id in ids.items() if case_id is None]
    if new:  # a plain executemany, then the ids (see submissions.insert_many)
        connection.execute(_INSERT, new)
        written.update(ids_by_code(connection, [row["case_code"] for row in new]))
    return written


def add_projection(
    connection: Connection, events: list[dict[str, Any]], persons: list[dict[str, Any]]
) -> None:
    """Insert cases' timeline entries and persons."""
    if events:
        connection.execute(_INSERT_EVENTS, events)
    if persons:
        connection.execute(_INSERT_PERSONS, persons)


def by_code(session: Session, case_code: str) -> Case | None:
    """The case with this case_code."""
    return session.scalar(select(Case).where(Case.case_code == case_code))


def add(session: Session, case: Case) -> Case:
    """Insert a case."""
    session.add(case)
    session.flush()
    return case


def persons(session: Session, case_id: int) -> Sequence[CasePerson]:
    """The persons of a case, main person first."""
    return session.scalars(
        select(CasePerson).where(CasePerson.case_id == case_id).order_by(CasePerson.person_index)
    ).all()


def timeline(session: Session, case_id: int) -> Sequence[CaseEvent]:
    """The case's events, oldest first."""
    return session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case_id)
        .order_by(CaseEvent.event_date, CaseEvent.id)
    ).all()


# Web view queries. Every one takes the user's UnitScope (server/store/scope.py).

CASE_SORTS = ("newest", "due")


def in_scope(session: Session, scope: UnitScope, case_id: int) -> Case | None:
    """The case with this id when the scope may see it, else None (callers answer 404)."""
    return session.scalar(
        select(Case).where(
            Case.id == case_id, unit_clause(scope, Case.province_code, Case.commune_code)
        )
    )


def _like_escaped(text_value: str) -> str:
    return text_value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def page(
    session: Session,
    scope: UnitScope,
    *,
    status: str | None = None,
    unit: str | None = None,
    folded_search: str | None = None,
    sort: str = "newest",
    after: tuple[date | None, int] | None = None,
    limit: int = 50,
) -> Sequence[Case]:
    """One page of the case list, keyset-paged.

    `sort="newest"`: by id, newest first; `after` is (None, last id seen).
    `sort="due"`: open cases with a follow-up due, soonest first; `after` is (due, id).
    `folded_search` must already be folded with textsearch.fold, like Case.search_text; each
    of its words must be a whole word of the search text (bounded by spaces or its ends), so
    a part of a name matches nothing.
    """
    conditions: list[ColumnElement[bool]] = [
        unit_clause(scope, Case.province_code, Case.commune_code),
        unit_filter_clause(unit, Case.province_code, Case.commune_code),
    ]
    if status:
        conditions.append(Case.status == status)
    if folded_search:
        words = " " + Case.search_text + " "
        for word in folded_search.split():
            conditions.append(words.like(f"% {_like_escaped(word)} %", escape="\\"))
    query = select(Case)
    if sort == "due":
        conditions.append(Case.next_followup_due.is_not(None))
        if after is not None and after[0] is not None:
            due, last_id = after
            conditions.append(
                or_(
                    Case.next_followup_due > due,
                    and_(Case.next_followup_due == due, Case.id > last_id),
                )
            )
        query = query.order_by(Case.next_followup_due, Case.id)
    else:
        if after is not None:
            conditions.append(Case.id < after[1])
        query = query.order_by(Case.id.desc())
    return session.scalars(query.where(*conditions).limit(limit)).all()


def statuses(session: Session) -> list[str]:
    """The case statuses present in the store (for the filter list)."""
    return sorted(s for s in session.scalars(select(Case.status).distinct()) if s)


def received_persons(
    session: Session, scope: UnitScope, start: date, end: date
) -> Sequence[tuple[int, int, str | None, int | None, dict[str, Any] | None]]:
    """Persons of cases received in [start, end] in scope.

    Rows of (case_id, person_index, sex, age_years, facts); facts of the main person carry
    the case's channel, purpose and destination.
    """
    return session.execute(
        select(
            CasePerson.case_id,
            CasePerson.person_index,
            CasePerson.sex,
            CasePerson.age_years,
            CasePerson.facts,
        )
        .join(Case, Case.id == CasePerson.case_id)
        .where(
            Case.reception_date >= start,
            Case.reception_date <= end,
            unit_clause(scope, Case.province_code, Case.commune_code),
        )
    ).all()  # type: ignore[return-value]


def events_in_period(
    session: Session, scope: UnitScope, kind: str, start: date, end: date
) -> Sequence[dict[str, Any] | None]:
    """The summaries of timeline events of one kind dated in [start, end] in scope."""
    return session.scalars(
        select(CaseEvent.summary)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.kind == kind,
            CaseEvent.event_date >= start,
            CaseEvent.event_date <= end,
            unit_clause(scope, Case.province_code, Case.commune_code),
        )
    ).all()


def timeline_with_forms(
    session: Session, scope: UnitScope, case_id: int
) -> Sequence[tuple[CaseEvent, Submission]]:
    """The case's events whose submissions the scope may see, with them, oldest first."""
    return session.execute(
        select(CaseEvent, Submission)
        .join(Submission, Submission.id == CaseEvent.submission_id)
        .where(
            CaseEvent.case_id == case_id,
            unit_clause(scope, Submission.province_code, Submission.commune_code),
        )
        .order_by(CaseEvent.event_date, CaseEvent.id)
    ).all()  # type: ignore[return-value]


def count_events(session: Session, case_id: int) -> int:
    """How many timeline entries a case has, whoever may see their submissions."""
    return (
        session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
        )
        or 0
    )


def count_in_scope(session: Session, scope: UnitScope) -> int:
    """How many cases the scope may see."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Case)
            .where(unit_clause(scope, Case.province_code, Case.commune_code))
        )
        or 0
    )


def latest_summaries(
    session: Session, case_ids: Sequence[int], kind: str
) -> dict[int, dict[str, Any]]:
    """For each case, the summary of its latest event of one kind (by date, then id)."""
    found: dict[int, dict[str, Any]] = {}
    if not case_ids:
        return found
    rows = session.execute(
        select(CaseEvent.case_id, CaseEvent.summary)
        .where(CaseEvent.case_id.in_(case_ids), CaseEvent.kind == kind)
        .order_by(CaseEvent.event_date, CaseEvent.id)
    ).all()
    for case_id, summary in rows:
        found[case_id] = summary or {}
    return found


def register_batch(
    session: Session, scope: UnitScope, after_id: int, limit: int = 1000
) -> Sequence[tuple[Case, CasePerson | None, int]]:
    """Cases after `after_id` in scope, each with its main person and how many persons it has."""
    people = (
        select(CasePerson.case_id, func.count().label("persons"))
        .group_by(CasePerson.case_id)
        .subquery()
    )
    main = aliased(CasePerson)
    return session.execute(
        select(Case, main, func.coalesce(people.c.persons, 0))
        .outerjoin(main, (main.case_id == Case.id) & (main.person_index == 0))
        .outerjoin(people, people.c.case_id == Case.id)
        .where(Case.id > after_id, unit_clause(scope, Case.province_code, Case.commune_code))
        .order_by(Case.id)
        .limit(limit)
    ).all()  # type: ignore[return-value]


def events_of_kind(
    session: Session,
    scope: UnitScope,
    kind: str,
    end: date,
    received_from: date | None = None,
) -> Sequence[tuple[int, date | None, dict[str, Any] | None]]:
    """(case_id, event_date, summary) of every event of one kind dated up to `end`, in scope
    (of cases received on or after `received_from` when given)."""
    return session.execute(
        select(CaseEvent.case_id, CaseEvent.event_date, CaseEvent.summary)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.kind == kind,
            CaseEvent.event_date <= end,
            unit_clause(scope, Case.province_code, Case.commune_code),
            *([] if received_from is None else [Case.reception_date >= received_from]),
        )
        .order_by(CaseEvent.event_date, CaseEvent.id)
    ).all()  # type: ignore[return-value]


def main_persons(
    session: Session, scope: UnitScope, end: date
) -> Sequence[tuple[int, date | None, date | None, str | None, str | None, int | None]]:
    """(case_id, reception_date, closed_on, close_reason, sex, age) of cases received by `end`."""
    return session.execute(
        select(
            Case.id,
            Case.reception_date,
            Case.closed_on,
            Case.close_reason,
            CasePerson.sex,
            CasePerson.age_years,
        )
        .outerjoin(CasePerson, (CasePerson.case_id == Case.id) & (CasePerson.person_index == 0))
        .where(
            Case.reception_date <= end, unit_clause(scope, Case.province_code, Case.commune_code)
        )
    ).all()  # type: ignore[return-value]


def by_id(session: Session, case_id: int) -> Case | None:
    """One case by id (no scope check: for exports that already chose their cases)."""
    return session.get(Case, case_id)


def persons_received_by(
    session: Session, end: date, start: date | None = None
) -> Sequence[Row[Any]]:
    """Every person of every case received by `end` (and from `start` when given), in every
    unit (reports choose by the unit of reception, which is the case's first holding, not its
    current unit).

    Rows of (case_id, case_code, province_code, commune_code, reception_date, closed_on,
    close_reason, person_index, sex, age_years, facts), oldest case first.
    """
    return session.execute(
        select(
            Case.id.label("case_id"),
            Case.case_code,
            Case.province_code,
            Case.commune_code,
            Case.reception_date,
            Case.closed_on,
            Case.close_reason,
            CasePerson.person_index,
            CasePerson.sex,
            CasePerson.age_years,
            CasePerson.facts,
        )
        .join(CasePerson, CasePerson.case_id == Case.id)
        .where(
            Case.reception_date <= end,
            *([] if start is None else [Case.reception_date >= start]),
        )
        .order_by(Case.id, CasePerson.person_index)
    ).all()
