"""Assigning cases to collectors (the case page, the case list in bulk) and the overdue visits
page. The phones' case lists follow from the assignments (server/services/case_assignments.py)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server import errors
from server.app_context import services
from server.errors import Problem
from server.services import case_assignments
from server.urls import parse_id
from server.web.access import RECORD_ROLES, requires, signed_in_user
from server.web.blueprint import bp
from server.web.i18n import problem_message


def _ids(name: str) -> list[int]:
    """The ids ticked in a form field; 400 when one is not an id."""
    found = []
    for raw in request.form.getlist(name):
        value = parse_id(raw)
        if value is None:
            raise errors.bad_request("A number in this link is not valid.")
        found.append(value)
    return found


def _back_to_case(case_id: int) -> Response:
    return redirect(url_for("web.case_detail", case_id=case_id) + "#assignments")


@bp.post("/cases/<int:case_id>/assign")
@requires(*RECORD_ROLES)
def case_assign(case_id: int) -> Response:
    """Assign the case to the collectors ticked on its page."""
    user = signed_in_user()
    collector_ids = _ids("collector")
    try:
        with services().store.session() as db:
            added = case_assignments.assign(db, user, [case_id], collector_ids)
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
        return _back_to_case(case_id)
    flash(_("Assigned to %(count)d more collectors.", count=added), "info")
    return _back_to_case(case_id)


@bp.post("/cases/<int:case_id>/unassign")
@requires(*RECORD_ROLES)
def case_unassign(case_id: int) -> Response:
    """Take the case from the collectors ticked on its page."""
    user = signed_in_user()
    with services().store.session() as db:
        removed = case_assignments.unassign(db, user, case_id, _ids("collector"))
    flash(_("Taken from %(count)d collectors.", count=removed), "info")
    return _back_to_case(case_id)


@bp.post("/cases/assign")
@requires(*RECORD_ROLES)
def case_bulk_assign() -> Response:
    """Assign the cases ticked on the case list to one collector."""
    user = signed_in_user()
    case_ids = _ids("case")
    collector_ids = _ids("collector")
    try:
        with services().store.session() as db:
            added = case_assignments.assign(db, user, case_ids, collector_ids)
    except Problem as problem:
        if problem.status not in (400, 404):
            raise
        # A case of another unit among the ticked ones: nothing changed, as for a bad choice.
        flash(problem_message(problem), "error")
        return redirect(url_for("web.case_list"))
    flash(_("Assigned %(count)d cases.", count=added), "info")
    return redirect(url_for("web.case_list"))


@bp.get("/visits/overdue")
@requires(*RECORD_ROLES)
def overdue_visits() -> str:
    """Open cases whose next follow-up visit is past due, by collector, in the user's units."""
    user = signed_in_user()
    unit = (request.args.get("unit") or "").strip()[:5] or None
    with services().store.session() as db:
        visits = case_assignments.overdue_by_collector(db, user, unit)
    return render_template("overdue.html", visits=visits, groups=visits.groups, unit=unit or "")
