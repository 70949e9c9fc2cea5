"""The unit queue: submissions the unit rule flagged, for admins, with the units involved.

Each entry names the submission, its form, its collector and that collector's unit, the flag,
and the other unit involved: the unit holding the case (foreign_case), the unit of the
submission an edit names (foreign_edit), or the units the answers and the case code name
(unit_mismatch). Never a value of the data: the case code (not identifying) is the most shown.
Nothing here changes a submission; resolving a flag will be an explicit, audited action
(case transfers, issue 18).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from forms import case_code as case_codes
from forms.case_fields import describe
from server import errors
from server.services import units
from server.services.auth import CurrentUser
from server.store import holdings as holding_store
from server.store import submissions as submission_store

PAGE_SIZE = 100


@dataclass(frozen=True)
class QueueEntry:
    """One flagged submission, without any of its values but the case code."""

    submission_id: int
    received_at: datetime
    form_title: str
    xml_form_id: str
    collector_name: str | None
    collector_unit: str | None  # the unit the submission may act in
    flag: str
    review_state: str
    case_code: str | None
    other_unit: str | None  # the unit it tried to act in, when one is known


@dataclass(frozen=True)
class Queue:
    """A page of the queue, newest first, and how many are flagged in all."""

    entries: list[QueueEntry]
    total: int
    next_before: int | None


def _answered_units(session: Session, submission_id: int, form_id: str) -> str | None:
    """What an intake or a unit form answered: `office 02/00100 · case code 01-`."""
    data = submission_store.data_of(session, submission_id) or {}
    described = describe(form_id, data)
    named = [part for part in (described["province_code"], described["commune_code"]) if part]
    prefix = case_codes.province_of(described["case_code"])
    parts = []
    if named:
        parts.append("/".join(named))
    if prefix:
        parts.append(f"{prefix}-…")
    return " · ".join(parts) or None


def flagged_count(session: Session, user: CurrentUser) -> int | None:
    """How many submissions are flagged, for admins (None for everyone else)."""
    if not user.is_admin:
        return None
    return submission_store.count_flagged(session, units.FLAGS)


def _other_unit(
    session: Session, row: Row[Any], histories: dict[str, list[Row[Any]]]
) -> str | None:
    """The unit a flagged submission tried to act in, when one is known."""
    if row.unit_check == units.FOREIGN_CASE and row.case_code in histories:
        current = histories[row.case_code][-1]
        return units.Unit(current.province_code, current.commune_code).code
    if row.unit_check == units.FOREIGN_EDIT and row.deprecated_id:
        edited = submission_store.by_instance(session, row.form_id, row.deprecated_id)
        return (edited.unit_code or None) if edited is not None else None
    if row.unit_check == units.UNIT_MISMATCH:
        return _answered_units(session, row.id, row.xml_form_id)
    return None


def _entries(session: Session, rows: list[Row[Any]]) -> list[QueueEntry]:
    codes = sorted(
        {r.case_code for r in rows if r.case_code and r.unit_check == units.FOREIGN_CASE}
    )
    histories = holding_store.histories(session.connection(), codes)
    return [
        QueueEntry(
            submission_id=row.id,
            received_at=row.received_at,
            form_title=row.form_title,
            xml_form_id=row.xml_form_id,
            collector_name=row.collector_name,
            collector_unit=row.unit_code,
            flag=row.unit_check,
            review_state=row.review_state,
            case_code=row.case_code,
            other_unit=_other_unit(session, row, histories),
        )
        for row in rows
    ]


def queue(session: Session, user: CurrentUser, before_id: int | None = None) -> Queue:
    """One page of flagged submissions, newest first (admins only)."""
    if not user.is_admin:
        raise errors.forbidden()
    rows = list(submission_store.flagged(session, units.FLAGS, before_id, PAGE_SIZE + 1))
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    total = submission_store.count_flagged(session, units.FLAGS)
    return Queue(_entries(session, rows), total, rows[-1].id if has_more and rows else None)


def entry_of(session: Session, user: CurrentUser, submission_id: int) -> QueueEntry | None:
    """The queue entry of one submission, if it is flagged (admins only, else None)."""
    if not user.is_admin:
        return None
    rows = list(submission_store.flagged(session, units.FLAGS, only_id=submission_id))
    return _entries(session, rows)[0] if rows else None
