"""Queries on the consent ledger (consent_events) and the tombstones of erased cases."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select

from forms.consent import GIVEN, INTAKE, NEEDS_INTAKE, NOT_ASKED, WITHHOLDING, Decision, standing
from server.store.models import CaseTombstone, ConsentEvent, table_of

_E = table_of(ConsentEvent)
_T = table_of(CaseTombstone)
_ORDER = (_E.c.decided_on, _E.c.recorded_at, _E.c.id)
_CHUNK = 500
# What a decision is made of (decision_of), and whose it is.
_DECIDING = (
    _E.c.id,
    _E.c.case_code,
    _E.c.person_index,
    _E.c.purpose,
    _E.c.recipient_type,
    _E.c.decision,
    _E.c.given_by,
    _E.c.age_years,
    _E.c.decided_on,
    _E.c.recorded_at,
)


def add_events(connection: Connection, events: list[dict[str, Any]]) -> None:
    """Append consent events (dicts of ConsentEvent's columns)."""
    if events:
        connection.execute(insert(_E), events)


def clear_form_events(connection: Connection, case_codes: list[str]) -> None:
    """Remove the events projected from forms for these cases (before projecting again)."""
    if case_codes:
        connection.execute(
            delete(_E).where(
                _E.c.case_code.in_(bindparam("b_codes", expanding=True)), _E.c.source == "form"
            ),
            {"b_codes": case_codes},
        )


def events_of_case(connection: Connection, case_code: str) -> Sequence[Row[Any]]:
    """Every event of a case's persons, in the order they were decided."""
    return connection.execute(select(_E).where(_E.c.case_code == case_code).order_by(*_ORDER)).all()


def events_for(
    connection: Connection, purposes: Iterable[str], case_codes: Iterable[str] | None
) -> list[Row[Any]]:
    """The events of these purposes for these cases (every case when None), in order: the
    columns the consent rules read (`decision_of`), not the free text or details."""
    wanted = sorted(set(purposes))
    base = select(*_DECIDING).where(_E.c.purpose.in_(wanted))
    if case_codes is None:
        return list(connection.execute(base.order_by(_E.c.case_code, *_ORDER)))
    codes = sorted(set(case_codes))
    rows: list[Row[Any]] = []
    for start in range(0, len(codes), _CHUNK):
        chunk = codes[start : start + _CHUNK]
        rows += connection.execute(
            base.where(_E.c.case_code.in_(chunk)).order_by(_E.c.case_code, *_ORDER)
        ).all()
    return rows


def add_tombstone(connection: Connection, values: dict[str, Any]) -> None:
    """Record that a case was erased."""
    connection.execute(insert(_T), [values])


def tombstone(connection: Connection, case_code: str) -> Row[Any] | None:
    """The tombstone of an erased case, or None."""
    return connection.execute(select(_T).where(_T.c.case_code == case_code)).first()


def tombstones(connection: Connection) -> Sequence[Row[Any]]:
    """Every tombstone, oldest first."""
    return connection.execute(select(_T).order_by(_T.c.erased_at, _T.c.id)).all()


def decision_of(row: Row[Any]) -> Decision:
    """A ledger row as the consent rules read it (forms/consent.py)."""
    stamp = row.recorded_at
    order = (int(stamp.timestamp() * 1_000_000) if stamp is not None else 0, row.id)
    return Decision(
        purpose=row.purpose,
        decision=row.decision,
        given_by=row.given_by,
        age_years=row.age_years,
        decided_on=row.decided_on,
        recipient_type=row.recipient_type,
        order=order,
    )


def ledgers(
    connection: Connection, purpose: str, case_codes: Iterable[str] | None
) -> dict[tuple[str, int], list[Decision]]:
    """The decisions that bear on `purpose` (its own and the intake's), by person."""
    wanted = {purpose, INTAKE} if purpose in NEEDS_INTAKE else {purpose}
    by_person: dict[tuple[str, int], list[Decision]] = {}
    for row in events_for(connection, wanted, case_codes):
        by_person.setdefault((row.case_code, row.person_index), []).append(decision_of(row))
    return by_person


def persons_allowing(
    connection: Connection,
    purpose: str,
    case_codes: Iterable[str] | None = None,
    *,
    recipient_type: str | None = None,
) -> set[tuple[str, int]]:
    """The persons (case code, person index) whose consent to `purpose` is given now, among
    these cases (every case when None). Silence is not consent: a person without a decision
    is not in the set."""
    return {
        person
        for person, decisions in ledgers(connection, purpose, case_codes).items()
        if standing(decisions, purpose, recipient_type).allows
    }


def persons_withholding(
    connection: Connection, case_codes: Iterable[str] | None = None
) -> set[tuple[str, int]]:
    """The persons (case code, person index) of these cases (every case when None) whose
    identifying information is withheld: intake consent refused, withdrawn or not valid."""
    return {
        person
        for person, decisions in ledgers(connection, INTAKE, case_codes).items()
        if standing(decisions, INTAKE).state in WITHHOLDING
    }


def persons_refusing(
    connection: Connection, purpose: str, case_codes: Iterable[str] | None = None
) -> set[tuple[str, int]]:
    """The persons of these cases (every case when None) whose latest decision bars
    `purpose` (refused, withdrawn, not valid, or stopped with the intake consent); unlike
    `persons_allowing`, a person never asked is not among them. Not for referrals."""
    return {
        person
        for person, decisions in ledgers(connection, purpose, case_codes).items()
        if standing(decisions, purpose).state not in (GIVEN, NOT_ASKED)
    }


def clear_texts(connection: Connection, case_code: str) -> None:
    """Blank the free text of a case's ledger (supervisors' reasons, contact details) on
    erasure; the decisions themselves stay."""
    from sqlalchemy import update

    connection.execute(
        update(_E).where(_E.c.case_code == case_code).values(reason=None, details=None)
    )
