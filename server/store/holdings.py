"""Queries on case_holdings: which unit holds each case code, period by period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, func, insert, select

from server.store.models import Case, CaseHolding, table_of

_H = table_of(CaseHolding)
_HISTORY = (
    select(
        _H.c.case_code,
        _H.c.seq,
        _H.c.province_code,
        _H.c.commune_code,
        _H.c.started_at,
        _H.c.source,
        _H.c.submission_id,
    )
    .where(_H.c.case_code.in_(bindparam("b_codes", expanding=True)))
    .order_by(_H.c.case_code, _H.c.seq)
)
_INSERT = insert(_H)


def histories(connection: Connection, case_codes: Sequence[str]) -> dict[str, list[Row[Any]]]:
    """Each held code's periods, oldest first (codes never held are left out)."""
    found: dict[str, list[Row[Any]]] = {}
    if case_codes:
        for row in connection.execute(_HISTORY, {"b_codes": list(case_codes)}):
            found.setdefault(row.case_code, []).append(row)
    return found


def add_period(
    connection: Connection,
    case_code: str,
    seq: int,
    unit: tuple[str | None, str | None],
    started_at: datetime,
    source: str,
    submission_id: int | None = None,
    actor: str | None = None,
) -> None:
    """Start a holding period. (case_code, seq) is unique: two writers starting the same
    period at once cannot both succeed, so a code is never held twice."""
    add_periods(
        connection, [period_row(case_code, seq, unit, started_at, source, submission_id, actor)]
    )


def period_row(
    case_code: str,
    seq: int,
    unit: tuple[str | None, str | None],
    started_at: datetime,
    source: str,
    submission_id: int | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """The row `add_period` writes, for `add_periods`."""
    return {
        "case_code": case_code,
        "seq": seq,
        "province_code": unit[0],
        "commune_code": unit[1],
        "started_at": started_at,
        "source": source,
        "submission_id": submission_id,
        "actor": actor,
    }


def add_periods(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Start several holding periods in one statement (rows from `period_row`); the same
    uniqueness as `add_period`: if any (case_code, seq) is taken, none is written."""
    if rows:
        connection.execute(_INSERT, list(rows))


def first_units(
    connection: Connection, received_from: date | None = None
) -> dict[str, tuple[str | None, str | None]]:
    """Every held code's first unit (province, commune): the unit that received the case;
    only of cases received on or after `received_from` when given.

    One query without a list of codes, so it works for any number of cases."""
    codes = select(_H.c.case_code, func.min(_H.c.seq).label("seq"))
    if received_from is not None:
        cases = table_of(Case)
        codes = codes.join(cases, cases.c.case_code == _H.c.case_code).where(
            cases.c.reception_date >= received_from
        )
    first = codes.group_by(_H.c.case_code).subquery()
    rows = connection.execute(
        select(_H.c.case_code, _H.c.province_code, _H.c.commune_code).join(
            first, and_(first.c.case_code == _H.c.case_code, first.c.seq == _H.c.seq)
        )
    )
    return {row.case_code: (row.province_code, row.commune_code) for row in rows}
