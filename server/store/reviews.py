"""Queries on submission reviews (the history of review states and comments)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.models import SubmissionReview


def add(session: Session, review: SubmissionReview) -> SubmissionReview:
    """Insert a review decision."""
    session.add(review)
    session.flush()
    return review


def for_submission(session: Session, submission_id: int) -> Sequence[SubmissionReview]:
    """A submission's review history, oldest first."""
    return session.scalars(
        select(SubmissionReview)
        .where(SubmissionReview.submission_id == submission_id)
        .order_by(SubmissionReview.id)
    ).all()


def clear_comments(session: Session, submission_ids: Sequence[int]) -> None:
    """Blank the reviewers' comments on these submissions (an erasure: free text may name
    the person)."""
    from sqlalchemy import update

    if submission_ids:
        session.execute(
            update(SubmissionReview)
            .where(SubmissionReview.submission_id.in_(submission_ids))
            .values(comment=None)
        )
