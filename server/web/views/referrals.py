"""Referrals of cases to services: the list with outcomes, the overdue list, recording both."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server import errors
from server.app_context import services
from server.errors import Problem
from server.services import referrals
from server.urls import query_id
from server.web.access import RECORD_ROLES, requires, signed_in_user
from server.web.blueprint import bp
from server.web.forms import ReferralForm, ReferralOutcomeForm, choices
from server.web.i18n import problem_message
from server.web.labels import REFERRAL_OUTCOME_LABELS, SERVICE_TYPE_LABELS


def _date(raw: str | None) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise errors.validation_failed("Write the date as YYYY-MM-DD.") from None


@bp.get("/referrals")
@requires(*RECORD_ROLES)
def referral_list() -> str:
    """The user's units' referrals with their outcomes, and those overdue."""
    user = signed_in_user()
    with services().store.session() as db:
        page = referrals.referrals_page(
            db,
            user,
            services().config.referral_overdue_days,
            before=query_id(request.args.get("before")),
            overdue_after=query_id(request.args.get("overdue_after")),
        )
    form = ReferralOutcomeForm()
    form.outcome.choices = choices([(k, str(v)) for k, v in REFERRAL_OUTCOME_LABELS.items()])
    return render_template(
        "referrals.html",
        page=page,
        outcome_form=form,
        service_labels=SERVICE_TYPE_LABELS,
        outcome_labels=REFERRAL_OUTCOME_LABELS,
    )


@bp.post("/cases/<int:case_id>/referrals")
@requires(*RECORD_ROLES)
def case_referral(case_id: int) -> Response:
    """Record a referral of the case to a service."""
    user = signed_in_user()
    form = ReferralForm()
    try:
        with services().store.session() as db:
            referrals.create(
                db,
                user,
                case_id,
                form.service_type.data or "",
                form.organisation.data or "",
                form.reason.data or "",
                _date(form.referred_on.data),
                bool(form.share_identity.data),
            )
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
        return redirect(url_for("web.case_detail", case_id=case_id) + "#referrals")
    flash(_("The referral is recorded."), "info")
    return redirect(url_for("web.case_detail", case_id=case_id) + "#referrals")


@bp.post("/referrals/<int:referral_id>/outcome")
@requires(*RECORD_ROLES)
def referral_outcome(referral_id: int) -> Response:
    """Record what came of a referral."""
    user = signed_in_user()
    form = ReferralOutcomeForm()
    try:
        with services().store.session() as db:
            referrals.set_outcome(
                db, user, referral_id, form.outcome.data or "", _date(form.outcome_on.data)
            )
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
        return redirect(url_for("web.referral_list"))
    flash(_("The outcome is recorded."), "info")
    return redirect(url_for("web.referral_list"))
