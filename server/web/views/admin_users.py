"""Admin pages: web view accounts."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server import errors
from server.app_context import services
from server.clock import utcnow
from server.errors import Problem
from server.services import accounts
from server.web.access import ADMIN, requires, signed_in_user
from server.web.blueprint import bp
from server.web.forms import CsrfOnlyForm, UserCreateForm, UserUpdateForm
from server.web.i18n import problem_message
from server.web.labels import ROLE_LABELS


def _users_page(
    form: UserCreateForm, error: str | None = None, created: tuple[str, str] | None = None
) -> str:
    with services().store.session() as db:
        users = list(accounts.web_users(db))
        units = accounts.units_by_user(db)
    return render_template(
        "admin/users.html",
        users=users,
        units=units,
        form=form,
        error=error,
        created=created,
        role_labels=ROLE_LABELS,
        button=CsrfOnlyForm(),
    )


@bp.route("/admin/users", methods=["GET", "POST"])
@requires(*ADMIN)
def admin_users() -> tuple[str, int]:
    """List accounts; create one (its generated password is shown once, on this response)."""
    admin = signed_in_user()
    form = UserCreateForm()
    if request.method == "GET":
        return _users_page(form), 200
    if not form.validate():
        return _users_page(form, _("Fill in the user name.")), 400
    try:
        with services().store.session() as db:
            units = accounts.parse_units(form.units.data or "")
            user, password = accounts.create_user(
                db, admin.username, form.username.data, form.role.data, units
            )
            created = (user.username, password or "")
    except Problem as problem:
        if problem.status not in (400, 409):
            raise
        return _users_page(form, problem_message(problem)), problem.status
    return _users_page(UserCreateForm(formdata=None), created=created), 200


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@requires(*ADMIN)
def admin_user(user_id: int) -> Response | tuple[str, int]:
    """One account: role and units."""
    admin = signed_in_user()
    with services().store.session() as db:
        user = accounts.user_by_id(db, user_id)
        if user is None or user.role == "collector":
            raise errors.not_found("The user")
        units = accounts.units_of(db, user.id)
    form = UserUpdateForm(
        formdata=request.form if request.method == "POST" else None,
        role=user.role,
        units=" ".join(units),
    )
    error = None
    if request.method == "POST":
        try:
            with services().store.session() as db:
                accounts.update_user(
                    db,
                    admin.username,
                    user_id,
                    form.role.data,
                    accounts.parse_units(form.units.data or ""),
                )
        except Problem as problem:
            if problem.status != 400:
                raise
            error = problem_message(problem)
        else:
            flash(_("Account saved."), "ok")
            return redirect(url_for("web.admin_users"))
    return (
        render_template(
            "admin/user.html",
            user=user,
            form=form,
            error=error,
            button=CsrfOnlyForm(),
            role_labels=ROLE_LABELS,
        ),
        400 if error else 200,
    )


def _set_disabled(user_id: int, disabled: bool) -> Response:
    admin = signed_in_user()
    try:
        with services().store.session() as db:
            accounts.set_disabled(db, admin.id, admin.username, user_id, disabled, utcnow())
    except Problem as problem:
        if problem.status != 400:
            raise
        flash(problem_message(problem), "error")
    else:
        flash(_("Account disabled.") if disabled else _("Account enabled."), "ok")
    return redirect(url_for("web.admin_users"))


@bp.post("/admin/users/<int:user_id>/disable")
@requires(*ADMIN)
def admin_user_disable(user_id: int) -> Response:
    """Disable an account: its sessions end at once."""
    return _set_disabled(user_id, True)


@bp.post("/admin/users/<int:user_id>/enable")
@requires(*ADMIN)
def admin_user_enable(user_id: int) -> Response:
    """Enable a disabled account again."""
    return _set_disabled(user_id, False)


@bp.post("/admin/users/<int:user_id>/password")
@requires(*ADMIN)
def admin_user_password(user_id: int) -> str:
    """Give an account a new generated password, shown once on this response."""
    admin = signed_in_user()
    with services().store.session() as db:
        password = accounts.reset_password(
            db, admin.username, user_id, utcnow(), services().sign_in.guard
        )
        user = accounts.user_by_id(db, user_id)
    return render_template("admin/password_reset.html", user=user, password=password)
