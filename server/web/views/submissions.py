"""Submissions: the forms, a form's submission table, a submission's page and review."""

from __future__ import annotations

import io
from datetime import date

from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server import errors
from server.app_context import services
from server.errors import Problem
from server.services import collectors as collector_service
from server.services import forms as form_service
from server.services import media, review, submission_page, units
from server.services.submission_table import (
    SubmissionFilter,
    forms_with_counts,
    table_count,
    table_page,
)
from server.urls import query_id
from server.web.access import RECORD_ROLES, requires, signed_in_user
from server.web.blueprint import bp
from server.web.forms import RevealForm, ReviewForm, review_state_choices
from server.web.i18n import current_language, problem_message
from server.web.labels import (
    DECRYPT_STATE_LABELS,
    REVIEW_STATE_LABELS,
    SIGNATURE_LABELS,
    UNIT_CHECK_EXPLANATIONS,
    UNIT_CHECK_LABELS,
    review_state_label,
)
from server.web.reveal import grant, is_granted

PAGE_SIZE = 50


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise errors.validation_failed("Dates are written YYYY-MM-DD.") from None


def _int_arg(name: str) -> int | None:
    return query_id(request.args.get(name))


@bp.get("/submissions")
@requires(*RECORD_ROLES)
def form_list() -> str:
    """The published forms, with how many submissions of each the user may see."""
    user = signed_in_user()
    with services().store.session() as db:
        forms = forms_with_counts(db, user.scope)
    return render_template("forms.html", forms=forms)


@bp.get("/forms/<form_id>/submissions")
@requires(*RECORD_ROLES)
def submission_table(form_id: str) -> tuple[str, int]:
    """A form's submissions, newest first, filtered, 50 a page (keyset paging)."""
    user = signed_in_user()
    error = None
    try:
        filters = SubmissionFilter(
            event_from=_date_arg("from"),
            event_to=_date_arg("to"),
            unit=request.args.get("unit", "").strip() or None,
            collector_id=_int_arg("collector"),
            review_state=request.args.get("state") or None,
        )
    except Problem as problem:
        error, filters = problem_message(problem), SubmissionFilter()
    before = _int_arg("before")
    with services().store.session() as db:
        form = form_service.form_by_id(db, form_id)
        if form is None:
            raise errors.not_found("The form")
        rows = table_page(db, user.scope, form.id, filters, before_id=before, limit=PAGE_SIZE + 1)
        total = table_count(db, user.scope, form.id, filters)
        collectors = collector_service.all_collectors(db) if user.is_admin else []
    has_more = len(rows) > PAGE_SIZE
    rows = list(rows[:PAGE_SIZE])
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    next_url = (
        url_for("web.submission_table", form_id=form_id, before=rows[-1].id, **args)
        if has_more
        else None
    )
    return (
        render_template(
            "submissions.html",
            form=form,
            rows=rows,
            total=total,
            filters=filters,
            collectors=collectors,
            next_url=next_url,
            first_url=url_for("web.submission_table", form_id=form_id, **args) if before else None,
            states=[(state, review_state_label(state)) for state in review.REVIEW_STATES],
            error=error,
            review_labels=REVIEW_STATE_LABELS,
            decrypt_labels=DECRYPT_STATE_LABELS,
            unit_labels=UNIT_CHECK_LABELS,
            held_back={flag: UNIT_CHECK_EXPLANATIONS[flag] for flag in units.FLAGS},
        ),
        400 if error else 200,
    )


@bp.get("/submissions/<int:submission_id>")
@requires(*RECORD_ROLES)
def submission_detail(submission_id: int) -> str:
    """One submission: labelled data, files, status, review history and edits."""
    user = signed_in_user()
    revealed = is_granted(f"submission:{submission_id}")
    with services().store.session() as db:
        page = submission_page.submission_page(
            db, user, submission_id, current_language(), revealed, services().keyring.locked
        )
    review_form = ReviewForm()
    review_form.review_state.choices = review_state_choices()
    review_form.review_state.data = page.submission.review_state
    return render_template(
        "submission.html",
        page=page,
        review_form=review_form,
        reveal_form=RevealForm(),
        review_labels=REVIEW_STATE_LABELS,
        decrypt_labels=DECRYPT_STATE_LABELS,
        signature_labels=SIGNATURE_LABELS,
        unit_labels=UNIT_CHECK_LABELS,
        flag_explanations=UNIT_CHECK_EXPLANATIONS,
        file_viewable=dict(page.files).get,
    )


@bp.post("/submissions/<int:submission_id>/review")
@requires(*RECORD_ROLES)
def submission_review(submission_id: int) -> Response:
    """Set the review state, with a comment (rejecting takes the submission out of its case)."""
    user = signed_in_user()
    with services().store.session() as db:
        submission_page.ensure_visible(db, user, submission_id)  # 404 before anything else
    form = ReviewForm()
    form.review_state.choices = review_state_choices()
    if not form.validate():
        flash(_("Choose one of the review states."), "error")
        return redirect(url_for("web.submission_detail", submission_id=submission_id))
    try:
        with services().store.session() as db:
            review.set_review_state(
                db, user, submission_id, form.review_state.data, form.comment.data
            )
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
    else:
        flash(_("Review saved."), "ok")
    return redirect(url_for("web.submission_detail", submission_id=submission_id))


@bp.post("/submissions/<int:submission_id>/reveal")
@requires(*RECORD_ROLES)
def submission_reveal(submission_id: int) -> Response:
    """Show the submission's identifying fields for a while, after a reason is given."""
    user = signed_in_user()
    form = RevealForm()
    try:
        with services().store.session() as db:
            submission_page.reveal_submission(db, user, submission_id, form.reason.data or "")
    except Problem as problem:
        if problem.status not in (400, 451):
            raise
        flash(problem_message(problem), "error")
    else:
        grant(f"submission:{submission_id}")
    return redirect(url_for("web.submission_detail", submission_id=submission_id))


# A file from a phone is never a page of this site: even if a browser rendered one, the
# sandbox gives it an opaque origin with no scripts, forms or plugins, and it may load nothing.
FILE_CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'"


@bp.get("/submissions/<int:submission_id>/files/<name>")
@requires(*RECORD_ROLES)
def submission_file(submission_id: int, name: str) -> FlaskResponse:
    """One file of a submission: shown when its bytes are an allow-listed image, audio or
    video format, else downloaded as application/octet-stream (docs/security.md)."""
    user = signed_in_user()
    with services().store.session() as db:
        submission, parts, key_id = submission_page.media_of(db, user, submission_id)
    found = media.read_media(submission, parts, name, services().blobs, services().keyring, key_id)
    response = send_file(
        io.BytesIO(found.content),
        mimetype=found.content_type,
        as_attachment=found.inline_type is None,
        download_name=found.name,
        etag=False,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_CONTENT_SECURITY_POLICY
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "private, no-store"
    return response
