"""Reviewing submissions: review states with comments, and their effect on cases.

A rejected submission leaves its case (the projection skips rejected submissions), so moving a
submission into or out of `rejected` rebuilds its case at once.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from server import errors
from server.services import cases as case_service
from server.services.auth import CurrentUser
from server.store import audit
from server.store import reviews as review_store
from server.store import submissions as submission_store
from server.store.models import SubmissionReview

REVIEW_STATES = ("received", "has_issues", "edited", "approved", "rejected")
MAX_COMMENT_LENGTH = 2000


def set_review_state(
    session: Session,
    user: CurrentUser,
    submission_id: int,
    to_state: str,
    comment: str | None,
) -> SubmissionReview:
    """Move a submission the user may see to `to_state`, with an optional comment."""
    if not user.sees_records:
        raise errors.forbidden()
    if to_state not in REVIEW_STATES:
        raise errors.validation_failed("Choose one of the review states.")
    comment = (comment or "").strip() or None
    if comment and len(comment) > MAX_COMMENT_LENGTH:
        raise errors.validation_failed("Keep the comment under 2000 characters.")
    if to_state == "rejected" and not comment:
        raise errors.validation_failed("Say why the submission is rejected.")
    submission = submission_store.in_scope(session, user.scope, submission_id)
    if submission is None:
        raise errors.not_found("The submission")
    from_state = submission.review_state
    if from_state == to_state and not comment:
        raise errors.validation_failed("The submission already has this review state.")
    review = review_store.add(
        session,
        SubmissionReview(
            submission_id=submission.id,
            user_id=user.id,
            actor=user.username,
            from_state=from_state,
            to_state=to_state,
            comment=comment,
        ),
    )
    submission.review_state = to_state
    session.flush()
    if submission.case_code and "rejected" in (from_state, to_state) and from_state != to_state:
        case_service.rebuild(session, submission.case_code)
    # The comment stays in the review history; the audit entry records the decision only.
    audit.append(
        session,
        user.username,
        "submission.review",
        f"submission:{submission.id}",
        {"from": from_state, "to": to_state, "commented": bool(comment)},
    )
    return review
