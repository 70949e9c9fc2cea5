"""The case list (with diacritic-free search) and the case page with its timeline."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server import errors
from server.app_context import services
from server.errors import Problem
from server.services import case_assignments, case_search, case_view
from server.services.consent import PURPOSES, RECIPIENT_TYPES
from server.services.textsearch import fold
from server.urls import query_id
from server.web.access import RECORD_ROLES, requires, signed_in_user
from server.web.blueprint import bp
from server.web.forms import (
    CaseSearchForm,
    ConsentChangeForm,
    CsrfOnlyForm,
    ReferralForm,
    RevealForm,
    TransferForm,
    choices,
)
from server.web.i18n import current_language, problem_message
from server.web.labels import (
    CASE_STATUS_LABELS,
    CONSENT_FLAG_LABELS,
    CONSENT_GIVER_LABELS,
    CONSENT_PURPOSE_LABELS,
    CONSENT_STATE_LABELS,
    CONTACT_METHOD_LABELS,
    CONTACT_TIME_LABELS,
    PERSON_TYPE_LABELS,
    REFERRAL_OUTCOME_LABELS,
    REVIEW_STATE_LABELS,
    SERVICE_TYPE_LABELS,
    SEX_LABELS,
    CategoryNamer,
)
from server.web.reveal import grant, is_granted

PAGE_SIZE = 50


def _after(raw: str | None, sort: str) -> tuple[date | None, int] | None:
    """The keyset position from the `after` parameter: `id` or `YYYY-MM-DD:id` (400 when
    malformed: an id beyond the database's integers must not reach it)."""
    if not raw or not raw.strip():
        return None
    if sort != "due":
        return None, query_id(raw) or 0
    due, _sep, last_id = raw.partition(":")
    try:
        return date.fromisoformat(due), query_id(last_id) or 0
    except ValueError:
        raise errors.bad_request("A number in this link is not valid.") from None


def _position(case_row: object, sort: str) -> str:
    due = getattr(case_row, "next_followup_due", None)
    case_id = getattr(case_row, "id", 0)
    return f"{due.isoformat()}:{case_id}" if sort == "due" and due else str(case_id)


def _search_form() -> CaseSearchForm:
    form = CaseSearchForm(formdata=request.form if request.method == "POST" else request.args)
    form.status.choices = choices(
        [
            ("", _("All statuses")),
            *((code, str(label)) for code, label in CASE_STATUS_LABELS.items()),
        ]
    )
    form.sort.choices = choices(
        [("newest", _("Newest first")), ("due", _("Follow-up due soonest"))]
    )
    return form


@bp.route("/cases", methods=["GET", "POST"])
@requires(*RECORD_ROLES)
def case_list() -> tuple[str, int]:
    """The case list. A search is POSTed so the name searched never appears in a URL."""
    user = signed_in_user()
    form = _search_form()
    if request.method == "POST" and not form.validate():
        return (
            render_template(
                "cases.html", form=form, cases=[], next_after=None, assignable=[], assign_form=None
            ),
            400,
        )
    sort = form.sort.data if form.sort.data in case_search.CASE_SORTS else "newest"
    query = (form.q.data or "").strip() if request.method == "POST" else ""
    after = _after(form.after.data, sort)
    limit = services().config.searches_per_hour
    with services().store.session() as db:
        wait = case_search.retry_after(db, user.username, limit) if query else None
        rows = (
            case_search.case_list(
                db,
                user.scope,
                status=form.status.data or None,
                unit=(form.unit.data or "").strip() or None,
                folded_search=fold(query) if query else None,
                sort=sort,
                after=after,
                limit=PAGE_SIZE + 1,
            )
            if wait is None
            else []
        )
        assignable = case_assignments.collectors_in_scope(db, user)
        if query and wait is None:
            # Which cases a search showed, never what was searched (it may be a victim's name).
            case_search.record(db, user.username, [row.id for row in rows[:PAGE_SIZE]])
    if wait is not None:
        raise errors.too_many_searches(wait)
    has_more = len(rows) > PAGE_SIZE
    rows = list(rows[:PAGE_SIZE])
    next_after = _position(rows[-1], sort) if has_more and rows else None
    return (
        render_template(
            "cases.html",
            form=form,
            cases=rows,
            next_after=next_after,
            searching=bool(query),
            status_labels=CASE_STATUS_LABELS,
            assignable=assignable,
            assign_form=CsrfOnlyForm(),
        ),
        200,
    )


def _referral_form() -> ReferralForm:
    form = ReferralForm()
    form.service_type.choices = choices(
        [(code, str(label)) for code, label in SERVICE_TYPE_LABELS.items()]
    )
    return form


@bp.get("/cases/<int:case_id>")
@requires(*RECORD_ROLES)
def case_detail(case_id: int) -> str:
    """A case: status, persons, the whole timeline, identifying fields (hidden by default)."""
    user = signed_in_user()
    revealed = is_granted(f"case:{case_id}")
    with services().store.session() as db:
        page = case_view.case_page(db, user, case_id, current_language(), revealed)
        assigned = case_assignments.collectors_of(db, page.case.case_code)
        assigned_ids = {collector.id for collector in assigned}
        eligible = [
            collector
            for collector in case_assignments.eligible_collectors(db, page.case)
            if collector.id not in assigned_ids
        ]
        namer = CategoryNamer(db, current_language())
        recipient_labels = {code: namer.name("recipient", code) for code in RECIPIENT_TYPES}
    return render_template(
        "case.html",
        page=page,
        assigned=assigned,
        eligible=eligible,
        assign_form=CsrfOnlyForm(),
        reveal_form=RevealForm(),
        transfer_form=TransferForm(),
        referral_form=_referral_form(),
        service_labels=SERVICE_TYPE_LABELS,
        outcome_labels=REFERRAL_OUTCOME_LABELS,
        consent_form=_consent_form(page, recipient_labels),
        recipient_labels=recipient_labels,
        consent_purpose_labels=CONSENT_PURPOSE_LABELS,
        consent_state_labels=CONSENT_STATE_LABELS,
        consent_giver_labels=CONSENT_GIVER_LABELS,
        consent_flag_labels=CONSENT_FLAG_LABELS,
        status_labels=CASE_STATUS_LABELS,
        review_labels=REVIEW_STATE_LABELS,
        sex_labels=SEX_LABELS,
        person_type_labels=PERSON_TYPE_LABELS,
    )


def _consent_form(page: case_view.CasePage, recipient_labels: dict[str, str]) -> ConsentChangeForm:
    form = ConsentChangeForm()
    persons = sorted(
        {p.person_index for p in page.persons} | {p.person_index for p in page.consent}
    )
    form.person_index.choices = choices(
        [
            (i, _("Person received") if i == 0 else _("Accompanying minor %(n)d", n=i))
            for i in persons
        ]
    )
    form.purpose.choices = choices([(p, CONSENT_PURPOSE_LABELS[p]) for p in PURPOSES])
    form.recipient_type.choices = choices(
        [("", _("Every recipient (a refusal only)")), *recipient_labels.items()]
    )
    form.decision.choices = choices(
        [("yes", _("Gives consent")), ("no", _("Refuses or withdraws"))]
    )
    form.given_by.choices = choices(list(CONSENT_GIVER_LABELS.items()))
    form.contact_method.choices = choices([("", "—"), *CONTACT_METHOD_LABELS.items()])
    form.contact_times.choices = choices(list(CONTACT_TIME_LABELS.items()))
    return form


@bp.post("/cases/<int:case_id>/consent")
@requires(*RECORD_ROLES)
def case_consent_change(case_id: int) -> Response:
    """Record a consent decision made on paper (a supervisor, with a reason; audited)."""
    user = signed_in_user()
    form = ConsentChangeForm()
    try:
        person_index = int(form.person_index.raw_data[0]) if form.person_index.raw_data else 0
    except ValueError:
        person_index = -1
    try:
        with services().store.session() as db:
            case_view.record_consent_change(
                db,
                user,
                case_id,
                person_index=person_index,
                purpose=form.purpose.data or "",
                decision=form.decision.data or "",
                given_by=form.given_by.data or "",
                reason=form.reason.data or "",
                recipient_type=form.recipient_type.data or None,
                decided_on=form.decided_on.data or None,
                contact_method=request.form.get("contact_method") or None,
                contact_times=request.form.getlist("contact_times"),
            )
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
        return redirect(url_for("web.case_detail", case_id=case_id) + "#consent")
    flash(_("The consent decision is recorded."), "ok")
    return redirect(url_for("web.case_detail", case_id=case_id) + "#consent")


@bp.post("/cases/<int:case_id>/reveal")
@requires(*RECORD_ROLES)
def case_reveal(case_id: int) -> Response | tuple[str, int]:
    """Show the case's identifying fields for a while, after the user gives a reason."""
    user = signed_in_user()
    form = RevealForm()
    try:
        with services().store.session() as db:
            case_view.reveal_case(db, user, case_id, form.reason.data or "")
    except Problem as problem:
        if problem.status not in (400, 451):
            raise
        flash(problem_message(problem), "error")
        return redirect(url_for("web.case_detail", case_id=case_id) + "#identifying")
    grant(f"case:{case_id}")
    return redirect(url_for("web.case_detail", case_id=case_id) + "#identifying")
