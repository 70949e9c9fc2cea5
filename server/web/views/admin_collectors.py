"""Admin pages: collectors (phone accounts), their QR code and assigned forms."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.wrappers import Response

from server import errors
from server.app_context import services
from server.errors import Problem
from server.services import assignments
from server.services import collectors as collector_service
from server.services import forms as form_service
from server.web.access import ADMIN, requires, signed_in_user
from server.web.blueprint import bp
from server.web.forms import CollectorCreateForm, CollectorFormsForm, CsrfOnlyForm, choices
from server.web.i18n import problem_message


def _collectors_page(form: CollectorCreateForm, error: str | None = None) -> str:
    with services().store.session() as db:
        collectors = list(collector_service.all_collectors(db))
        assigned = {
            c.id: [f.xml_form_id for f in collector_service.assigned_forms(db, c.id)]
            for c in collectors
        }
    return render_template(
        "admin/collectors.html",
        collectors=collectors,
        assigned=assigned,
        form=form,
        error=error,
        button=CsrfOnlyForm(),
    )


@bp.route("/admin/collectors", methods=["GET", "POST"])
@requires(*ADMIN)
def admin_collectors() -> tuple[str, int]:
    """List collectors; create one and show its server URL and QR code once."""
    admin = signed_in_user()
    form = CollectorCreateForm()
    if request.method == "GET":
        return _collectors_page(form), 200
    if not form.validate():
        return _collectors_page(form, _("Fill in the name.")), 400
    config = services().config
    try:
        with services().store.session() as db:
            created = collector_service.create(
                db,
                config.base_url(request.host_url),
                form.name.data,
                form.unit.data,
                admin.username,
                assign_all_forms=bool(form.assign_all.data),
                basic=bool(form.basic.data),
            )
            name = created.collector.name
    except Problem as problem:
        if problem.status not in (400, 409):
            raise
        return _collectors_page(form, problem_message(problem)), problem.status
    payload = collector_service.collect_qr_payload(
        collector_service.collect_settings(
            created.url, config.project_name, created.username, created.password
        )
    )
    # segno's SVG: generated from our own payload, no script or style inside.
    svg = Markup(collector_service.qr_code(payload, "svg").decode("utf-8"))  # noqa: S704
    page = render_template(
        "admin/collector_created.html",
        name=name,
        url=created.url,
        qr=svg,
        username=created.username,
        password=created.password,
    )
    return page, 200


@bp.route("/admin/collectors/<int:collector_id>", methods=["GET", "POST"])
@requires(*ADMIN)
def admin_collector(collector_id: int) -> Response | tuple[str, int]:
    """One collector: the forms it may list, download and submit."""
    admin = signed_in_user()
    with services().store.session() as db:
        collector = collector_service.collector_by_id(db, collector_id)
        if collector is None:
            raise errors.not_found("The collector")
        all_forms = list(form_service.all_forms(db))
        assigned = [f.id for f in collector_service.assigned_forms(db, collector.id)]
    form = CollectorFormsForm(formdata=request.form if request.method == "POST" else None)
    form.forms.choices = choices([(f.id, f"{f.title} ({f.xml_form_id})") for f in all_forms])
    if request.method == "GET":
        form.forms.data = assigned
    elif form.validate():
        with services().store.session() as db:
            assignments.set_assigned_forms(
                db, collector_id, list(form.forms.data or []), admin.username
            )
        flash(_("Forms assigned."), "ok")
        return redirect(url_for("web.admin_collectors"))
    return (
        render_template(
            "admin/collector.html", collector=collector, form=form, button=CsrfOnlyForm()
        ),
        200 if request.method == "GET" else 400,
    )


@bp.post("/admin/collectors/<int:collector_id>/revoke")
@requires(*ADMIN)
def admin_collector_revoke(collector_id: int) -> Response:
    """Revoke a collector: its server URL stops working at once."""
    admin = signed_in_user()
    with services().store.session() as db:
        collector_service.revoke(db, collector_id, admin.username)
    flash(_("Collector revoked."), "ok")
    return redirect(url_for("web.admin_collectors"))
