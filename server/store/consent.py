"""Queries on the consent ledger (consent_events) and the tombstones of erased cases."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select

from forms.consent import (
    GIVEN,
    INTAKE,
    NEEDS_INTAKE,
    NOT_ASKED,
    PURPOSES,
    REFERRAL,
    STATES,
    WITHHOLDING,
    Decision,
    standing,
)
from server.store.models import CaseTombstone, ConsentEvent, ConsentStanding, table_of

_E = table_of(ConsentEvent)
_S = table_of(ConsentStanding)
_T = table_of(CaseTombstone)
# The purposes projected into consent_standings: all but referrals (per recipient type).
PROJECTED = tuple(p for p in PURPOSES if p != REFERRAL)
_INSERT_STANDINGS = insert(_S)
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


def add_events(
    connection: Connection, events: list[dict[str, Any]], *, refresh: bool = True
) -> None:
    """Append consent events (dicts of ConsentEvent's columns), and project their cases'
    standings again, unless the caller projects those cases again itself in this transaction
    (`refresh=False`: `replace_form_events` then refreshes them, once)."""
    if events:
        connection.execute(insert(_E), events)
        if refresh:
            refresh_standings(connection, {event["case_code"] for event in events})


def replace_form_events(
    connection: Connection, case_codes: list[str], events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace the events projected from forms for these cases by `events` (a case projected
    again), and project their standings again, once; the standings written (as
    `refresh_standings` returns them)."""
    if not case_codes and not events:
        return []
    for start in range(0, len(case_codes), _CHUNK):
        connection.execute(
            delete(_E).where(
                _E.c.case_code.in_(bindparam("b_codes", expanding=True)), _E.c.source == "form"
            ),
            {"b_codes": case_codes[start : start + _CHUNK]},
        )
    if events:
        connection.execute(insert(_E), events)
    return refresh_standings(connection, {*case_codes, *(event["case_code"] for event in events)})


def refresh_standings(
    connection: Connection, case_codes: Iterable[str] | None
) -> list[dict[str, Any]]:
    """Project the ledgers of these cases (every case when None) into consent_standings: one
    row per person and purpose (not referrals) whose standing is other than `not_asked`.
    Called in the transaction of every change of the ledger. Returns the rows written
    (case_code, person_index, purpose, state): every standing these cases now have."""
    if case_codes is None:
        connection.execute(delete(_S))
        events = events_for(connection, PROJECTED, None)
    else:
        codes = sorted(set(case_codes))
        if not codes:
            return []
        for start in range(0, len(codes), _CHUNK):
            connection.execute(
                delete(_S).where(_S.c.case_code.in_(bindparam("b_codes", expanding=True))),
                {"b_codes": codes[start : start + _CHUNK]},
            )
        events = events_for(connection, PROJECTED, codes)
    values = _standings_of(events)
    for start in range(0, len(values), 5000):
        connection.execute(_INSERT_STANDINGS, values[start : start + 5000])
    return values


def _standings_of(events: Iterable[Row[Any]]) -> list[dict[str, Any]]:
    """The standings other than `not_asked` that ledger rows (`events_for`, in order) give."""
    by_person: dict[tuple[str, int], list[Decision]] = {}
    for row in events:
        by_person.setdefault((row.case_code, row.person_index), []).append(decision_of(row))
    values = []
    for (code, index), decisions in by_person.items():
        for purpose in PROJECTED:
            state = standing(decisions, purpose).state
            if state != NOT_ASKED:
                values.append(
                    {"case_code": code, "person_index": index, "purpose": purpose, "state": state}
                )
    return values


def standings_drift(connection: Connection) -> dict[str, int]:
    """How many standings consent_standings holds otherwise than the whole ledger replayed
    gives them (missing, extra or in another state), by purpose; empty when they agree.
    Only counts: nothing of a person is returned."""
    expected = {
        (row["case_code"], row["person_index"], row["purpose"]): row["state"]
        for row in _standings_of(events_for(connection, PROJECTED, None))
    }
    held = {
        (row.case_code, row.person_index, row.purpose): row.state
        for row in connection.execute(
            select(_S.c.case_code, _S.c.person_index, _S.c.purpose, _S.c.state)
        )
    }
    drift: dict[str, int] = {}
    for key in expected.keys() | held.keys():
        if expected.get(key) != held.get(key):
            drift[key[2]] = drift.get(key[2], 0) + 1
    return drift


def _standing_persons(
    connection: Connection, purpose: str, states: Iterable[str], case_codes: Iterable[str] | None
) -> set[tuple[str, int]]:
    base = select(_S.c.case_code, _S.c.person_index).where(
        _S.c.purpose == purpose, _S.c.state.in_(sorted(set(states)))
    )
    if case_codes is None:
        return {(row.case_code, row.person_index) for row in connection.execute(base)}
    codes = sorted(set(case_codes))
    found: set[tuple[str, int]] = set()
    for start in range(0, len(codes), _CHUNK):
        query = base.where(_S.c.case_code.in_(codes[start : start + _CHUNK]))
        found.update((row.case_code, row.person_index) for row in connection.execute(query))
    return found


def standing_clause(purpose: str, case_code: Any, person_index: int = 0) -> Any:
    """A SQL condition, for a query over cases, that the person (`case_code` column, person
    index) consents to `purpose` (not referrals) now: what `persons_allowing` answers, as an
    EXISTS on consent_standings for one join instead of one ledger replay per person."""
    if purpose not in PROJECTED:
        raise ValueError(f"no projected standing for {purpose!r}")
    return (
        select(_S.c.id)
        .where(
            _S.c.case_code == case_code,
            _S.c.person_index == person_index,
            _S.c.purpose == purpose,
            _S.c.state == GIVEN,
        )
        .exists()
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
    is not in the set. Read from consent_standings, but for referrals (from the ledger)."""
    if purpose != REFERRAL:
        return _standing_persons(connection, purpose, [GIVEN], case_codes)
    return ledger_persons_allowing(connection, purpose, case_codes, recipient_type=recipient_type)


def ledger_persons_allowing(
    connection: Connection,
    purpose: str,
    case_codes: Iterable[str] | None = None,
    *,
    recipient_type: str | None = None,
) -> set[tuple[str, int]]:
    """`persons_allowing` replayed from the ledger itself (what the projection must equal;
    the only way for referrals)."""
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
    return _standing_persons(connection, INTAKE, WITHHOLDING, case_codes)


def ledger_persons_withholding(
    connection: Connection, case_codes: Iterable[str] | None = None
) -> set[tuple[str, int]]:
    """`persons_withholding` replayed from the ledger itself (what the projection must equal;
    for `fieldcase cases rebuild --check` and the tests)."""
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
    if purpose == REFERRAL:
        raise ValueError("persons_refusing does not answer for referrals")
    return _standing_persons(connection, purpose, _REFUSING, case_codes)


# The standings that bar a purpose (what `persons_refusing` looks for).
_REFUSING = frozenset(s for s in STATES if s not in (GIVEN, NOT_ASKED))


def refusing_among(standings: Iterable[dict[str, Any]], purpose: str) -> set[tuple[str, int]]:
    """`persons_refusing` answered from standings `refresh_standings` has just written (in
    the same transaction, so they are what consent_standings holds for their cases)."""
    if purpose == REFERRAL:
        raise ValueError("persons_refusing does not answer for referrals")
    return {
        (row["case_code"], row["person_index"])
        for row in standings
        if row["purpose"] == purpose and row["state"] in _REFUSING
    }


def ledger_persons_refusing(
    connection: Connection, purpose: str, case_codes: Iterable[str] | None = None
) -> set[tuple[str, int]]:
    """`persons_refusing` replayed from the ledger itself (what the projection must equal)."""
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
