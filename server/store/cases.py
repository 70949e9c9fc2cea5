"""Queries on cases, their persons and timeline."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.models import Case, CaseEvent, CasePerson


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
