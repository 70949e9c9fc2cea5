"""Queries on submissions and their parts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.models import Submission, SubmissionPart


def by_instance(session: Session, form_id: int, instance_id: str) -> Submission | None:
    """The submission of a form with this instanceID."""
    return session.scalar(
        select(Submission).where(
            Submission.form_id == form_id, Submission.instance_id == instance_id
        )
    )


def by_id(session: Session, submission_id: int) -> Submission | None:
    """One submission by id."""
    return session.get(Submission, submission_id)


def lock(session: Session, submission_id: int) -> Submission | None:
    """The submission, locked for update (PostgreSQL; SQLite already serialises writers)."""
    return session.scalar(
        select(Submission).where(Submission.id == submission_id).with_for_update()
    )


def add(session: Session, submission: Submission) -> Submission:
    """Insert a submission."""
    session.add(submission)
    session.flush()
    return submission


def parts(session: Session, submission_id: int) -> Sequence[SubmissionPart]:
    """The parts received for a submission, by name."""
    return session.scalars(
        select(SubmissionPart)
        .where(SubmissionPart.submission_id == submission_id)
        .order_by(SubmissionPart.name)
    ).all()


def add_part(session: Session, part: SubmissionPart) -> SubmissionPart:
    """Insert a part."""
    session.add(part)
    session.flush()
    return part


def pending_ids(session: Session) -> list[int]:
    """Submissions not decrypted yet (waiting for a part or the key, or failed)."""
    return list(
        session.scalars(
            select(Submission.id)
            .where(Submission.decrypt_state != "decrypted")
            .order_by(Submission.id)
        )
    )


def for_case(session: Session, case_code: str) -> Sequence[Submission]:
    """The submissions that make up a case: decrypted, current, not rejected."""
    return session.scalars(
        select(Submission)
        .where(
            Submission.case_code == case_code,
            Submission.decrypt_state == "decrypted",
            Submission.superseded_by_id.is_(None),
            Submission.review_state != "rejected",
        )
        .order_by(Submission.event_date, Submission.id)
    ).all()
