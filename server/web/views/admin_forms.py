"""Admin pages: forms (upload a new XLSForm version), the server key, the decryption queue."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server.app_context import services
from server.errors import Problem
from server.services import auditing, form_upload, keyadmin
from server.services import forms as form_service
from server.web.access import ADMIN, requires, signed_in_user
from server.web.blueprint import bp
from server.web.forms import CsrfOnlyForm, FormUploadForm, KeyRotateForm
from server.web.i18n import problem_message


def _forms_page(
    form: FormUploadForm,
    error: str | None = None,
    result: form_upload.UploadResult | None = None,
) -> str:
    with services().store.session() as db:
        forms = form_service.forms_with_versions(db)
    return render_template("admin/forms.html", forms=forms, form=form, error=error, result=result)


@bp.route("/admin/forms", methods=["GET", "POST"])
@requires(*ADMIN)
def admin_forms() -> tuple[str, int]:
    """The published forms; upload an .xlsx to compile, validate and publish a new version."""
    admin = signed_in_user()
    form = FormUploadForm()
    if request.method == "GET":
        return _forms_page(form), 200
    upload = request.files.get("xlsx")
    content = upload.read() if upload else b""
    try:
        with services().store.session() as db:
            result = form_upload.upload_xlsform(
                db,
                services().blobs,
                content,
                admin.username,
                limits=form_upload.workbook_limits(services().config),
            )
    except Problem as problem:
        if problem.status not in (400, 409):
            raise
        return _forms_page(form, problem_message(problem)), problem.status
    return _forms_page(FormUploadForm(formdata=None), result=result), 200


@bp.get("/admin/keys")
@requires(*ADMIN)
def admin_keys() -> str:
    """The server key pairs, whether they unlock, and the submissions waiting to decrypt."""
    keyring = services().keyring
    keys = keyadmin.key_states(services().store, keyring)
    with services().store.session() as db:
        first_waiting, waiting_total = keyadmin.waiting_to_decrypt(db)
        waiting = list(first_waiting)
        forms = {f.id: f.xml_form_id for f in form_service.all_forms(db)}
    return render_template(
        "admin/keys.html",
        keys=keys,
        locked=keyring.locked,
        waiting=waiting,
        waiting_total=waiting_total,
        forms=forms,
        rotate_form=KeyRotateForm(),
        button=CsrfOnlyForm(),
    )


@bp.post("/admin/keys/rotate")
@requires(*ADMIN)
def admin_keys_rotate() -> Response:
    """Make a new key pair for new form versions; old keys stay to decrypt old submissions."""
    admin = signed_in_user()
    form = KeyRotateForm()
    if not form.validate():
        flash(_("Tick the box to confirm the new key."), "error")
        return redirect(url_for("web.admin_keys"))
    try:
        with services().store.session() as db:
            key = keyadmin.rotate(db, services().config, admin.username)
            fingerprint = key.fingerprint
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
    else:
        flash(
            _(
                "New key %(fingerprint)s is active. Publish the forms again.",
                fingerprint=fingerprint[:16],
            ),
            "ok",
        )
    return redirect(url_for("web.admin_keys"))


@bp.post("/admin/queue/retry")
@requires(*ADMIN)
def admin_queue_retry() -> Response:
    """Try again to decrypt every waiting submission (after a part arrived or a key change)."""
    admin = signed_in_user()
    outcomes = services().processor.process_pending()
    done = sum(1 for o in outcomes if o.state == "decrypted")
    with services().store.session() as db:
        auditing.record(
            db,
            admin.username,
            "decrypt.retry",
            None,
            {"decrypted": done, "pending": len(outcomes) - done},
        )
    flash(
        _(
            "%(done)d decrypted, %(pending)d still waiting.",
            done=done,
            pending=len(outcomes) - done,
        ),
        "ok",
    )
    return redirect(url_for("web.admin_keys"))
