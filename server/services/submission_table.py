"""The submissions pages' lists: the forms with how many submissions a user may see, and one
form's submission table, filtered and keyset-paged. `SubmissionFilter` is what a supervisor
narrowed the table to (built by the page, applied by server/store/submissions.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from server.store import forms as form_store
from server.store import submissions as submission_store
from server.store.models import Form
from server.store.scope import UnitScope
from server.store.submissions import SubmissionFilter


def forms_with_counts(session: Session, scope: UnitScope) -> list[tuple[Form, int]]:
    """Every published form with how many of its submissions lie in `scope`."""
    counts = submission_store.counts_by_form(session, scope)
    return [(form, counts.get(form.id, 0)) for form in form_store.all_forms(session)]


def table_page(
    session: Session,
    scope: UnitScope,
    form_id: int,
    filters: SubmissionFilter,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[Row[Any]]:
    """One page of a form's submissions in `scope`, newest first, before `before_id`."""
    return submission_store.table_page(
        session, scope, form_id, filters, before_id=before_id, limit=limit
    )


def table_count(session: Session, scope: UnitScope, form_id: int, filters: SubmissionFilter) -> int:
    """How many of a form's submissions in `scope` pass `filters`."""
    return submission_store.table_count(session, scope, form_id, filters)
