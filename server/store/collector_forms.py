"""Queries on the assignment of forms to collectors (the web view's changes to it)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.store.models import CollectorForm


def assigned_ids(session: Session, collector_id: int) -> set[int]:
    """The ids of the forms assigned to a collector."""
    return set(
        session.scalars(
            select(CollectorForm.form_id).where(CollectorForm.collector_id == collector_id)
        )
    )


def unassign(session: Session, collector_id: int, form_ids: set[int]) -> None:
    """Take forms away from a collector."""
    if form_ids:
        session.execute(
            delete(CollectorForm).where(
                CollectorForm.collector_id == collector_id, CollectorForm.form_id.in_(form_ids)
            )
        )
        session.flush()
