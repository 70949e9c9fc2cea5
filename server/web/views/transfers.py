"""Transfers of cases between units: the list in and out, proposing, accepting, declining."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server.app_context import services
from server.errors import Problem
from server.services import matching, transfers
from server.urls import query_id
from server.web.access import RECORD_ROLES, requires, signed_in_user
from server.web.blueprint import bp
from server.web.forms import DecisionForm, TransferForm
from server.web.i18n import problem_message
from server.web.labels import TRANSFER_STATE_LABELS


@bp.get("/transfers")
@requires(*RECORD_ROLES)
def transfer_list() -> str:
    """Transfers into the user's units (to answer) and out of them."""
    user = signed_in_user()
    incoming_before = query_id(request.args.get("in_before"))
    outgoing_before = query_id(request.args.get("out_before"))
    with services().store.session() as db:
        page = transfers.transfers_page(db, user, incoming_before, outgoing_before)
    return render_template(
        "transfers.html",
        page=page,
        decision_form=DecisionForm(),
        state_labels=TRANSFER_STATE_LABELS,
    )


@bp.post("/cases/<int:case_id>/transfer")
@requires(*RECORD_ROLES)
def case_transfer(case_id: int) -> Response:
    """Propose handing the case to another unit; it moves only once that unit accepts."""
    user = signed_in_user()
    form = TransferForm()
    try:
        with services().store.session() as db:
            transfers.propose(
                db,
                user,
                case_id,
                (form.to_unit.data or "").strip(),
                form.reason.data or "",
                bool(form.share_identity.data),
            )
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
        return redirect(url_for("web.case_detail", case_id=case_id) + "#transfer")
    flash(_("The transfer is proposed; the receiving unit will accept or decline it."), "info")
    return redirect(url_for("web.transfer_list"))


def _answer(transfer_id: int, accept: bool) -> Response:
    user = signed_in_user()
    form = DecisionForm()
    try:
        with services().store.session() as db:
            if accept:
                transfers.accept(db, user, transfer_id, services().processor.match_secret)
            else:
                transfers.decline(db, user, transfer_id, form.note.data or "")
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
        return redirect(url_for("web.transfer_list"))
    flash(
        _("Transfer accepted: the case is now held by your unit.")
        if accept
        else _("Transfer declined: the case stays with the sending unit."),
        "ok",
    )
    return redirect(url_for("web.transfer_list"))


@bp.post("/transfers/<int:transfer_id>/accept")
@requires(*RECORD_ROLES)
def transfer_accept(transfer_id: int) -> Response:
    """The receiving unit takes the case."""
    return _answer(transfer_id, accept=True)


@bp.post("/transfers/<int:transfer_id>/decline")
@requires(*RECORD_ROLES)
def transfer_decline(transfer_id: int) -> Response:
    """The receiving unit declines the case, with a reason."""
    return _answer(transfer_id, accept=False)


@bp.post("/cases/<int:case_id>/same-person")
@requires(*RECORD_ROLES)
def case_same_person(case_id: int) -> Response:
    """Link the case with the open case of another unit the match key found: one person."""
    user = signed_in_user()
    try:
        with services().store.session() as db:
            matching.link_same_person(db, user, case_id)
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
        return redirect(url_for("web.case_detail", case_id=case_id))
    flash(_("Linked: the reports count this person once."), "info")
    return redirect(url_for("web.case_detail", case_id=case_id))
