"""What a submission page shows: data with labels, review history, edits, files, status.

Found only within the user's units (else 404), and audited as a view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from forms.identifying import collect_identifying, identifying_fields
from forms.labels import labels_for
from server import errors
from server.services import consent, media, submission_view, unit_queue
from server.services.auth import CurrentUser
from server.services.identifying import (
    check_reason,
    record_reveal,
)
from server.services.ingest import MANIFEST_PART
from server.services.submission_view import Group, Leaf, RepeatTable
from server.services.unit_queue import QueueEntry
from server.store import audit
from server.store import cases as case_store
from server.store import collectors as collector_store
from server.store import reviews as review_store
from server.store import submissions as submission_store
from server.store.models import (
    Collector,
    Form,
    FormVersion,
    Submission,
    SubmissionPart,
    SubmissionReview,
)


@dataclass
class SubmissionPage:
    """Everything the submission page renders."""

    submission: Submission
    form: Form
    version: FormVersion
    collector: Collector | None
    items: list[Leaf | Group | RepeatTable]
    reviews: list[SubmissionReview]
    history: list[Submission]
    files: list[tuple[str, bool]] = field(default_factory=list)  # (name, viewable)
    has_identifying: bool = False
    revealed: bool = False
    case_id: int | None = None
    # For admins, when the unit rule flagged it: the units involved (server/services/units.py).
    unit_entry: QueueEntry | None = None


def _visible(session: Session, user: CurrentUser, submission_id: int) -> Submission:
    if not user.sees_records:
        raise errors.forbidden()
    submission = submission_store.in_scope(session, user.scope, submission_id)
    if submission is None:
        raise errors.not_found("The submission")
    return submission


def ensure_visible(session: Session, user: CurrentUser, submission_id: int) -> None:
    """Raise 404 unless the user may see this submission (403 for roles without records)."""
    _visible(session, user, submission_id)


def submission_page(
    session: Session,
    user: CurrentUser,
    submission_id: int,
    language: str,
    revealed: bool,
    keyring_locked: bool = False,
) -> SubmissionPage:
    """The page's content; audited as a view of the submission."""
    submission = _visible(session, user, submission_id)
    if (
        revealed
        and submission.case_code
        and consent.withheld_persons(session, submission.case_code)
    ):
        revealed = False  # a withheld person's answers stay masked (see reveal_submission)
    form = session.get(Form, submission.form_id)
    version = session.get(FormVersion, submission.form_version_id)
    if form is None or version is None:
        raise errors.not_found("The submission")
    labels = labels_for(version.xml)
    fields = identifying_fields(version.fields)
    data = submission.data or {}
    items = submission_view.with_references(
        data, labels, language, identifying=fields, revealed=revealed
    )
    parts: dict[str, SubmissionPart] = {
        p.name: p for p in submission_store.parts(session, submission.id)
    }
    media_names = {
        name.removesuffix(media.ENCRYPTED_SUFFIX)
        for name in parts
        if name != MANIFEST_PART and not name.endswith(".xml.enc")
    }
    files = sorted(
        (name, media.viewable(submission, parts, name, keyring_locked)) for name in media_names
    )
    case = case_store.by_code(session, submission.case_code) if submission.case_code else None
    audit.append(
        session,
        user.username,
        "submission.view",
        f"submission:{submission.id}",
        {"revealed": revealed},
    )
    return SubmissionPage(
        submission=submission,
        form=form,
        version=version,
        collector=collector_store.by_id(session, submission.collector_id)
        if submission.collector_id
        else None,
        items=items,
        reviews=list(review_store.for_submission(session, submission.id)),
        history=submission_store.edit_history(session, submission),
        files=files,
        has_identifying=submission_view.has_identifying(data, fields),
        revealed=revealed,
        case_id=case.id
        if case is not None and user.scope.allows(case.province_code, case.commune_code)
        else None,
        unit_entry=unit_queue.entry_of(session, user, submission.id),
    )


def reveal_submission(session: Session, user: CurrentUser, submission_id: int, reason: str) -> None:
    """Record a reveal of a submission's identifying fields."""
    if not user.may_reveal:
        raise errors.forbidden()
    submission = _visible(session, user, submission_id)
    reason = check_reason(reason)
    if submission.case_code:
        consent.check_identifiers_allowed(session, submission.case_code, every_person=True)
    version = session.get(FormVersion, submission.form_version_id)
    fields = identifying_fields(version.fields if version else None)
    paths = sorted({path for path, _ in collect_identifying(submission.data or {}, fields)})
    record_reveal(session, user.username, f"submission:{submission.id}", reason, paths)


def media_of(
    session: Session, user: CurrentUser, submission_id: int
) -> tuple[Submission, dict[str, SubmissionPart]]:
    """A visible submission and its parts, for serving one of its files."""
    submission = _visible(session, user, submission_id)
    parts = {p.name: p for p in submission_store.parts(session, submission.id)}
    version = session.get(FormVersion, submission.form_version_id)
    audit.append(session, user.username, "submission.media", f"submission:{submission.id}")
    return submission, parts, version.key_id if version else None
