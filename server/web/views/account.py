"""Signing in and out, one's own password, the language switch, the health check."""

from __future__ import annotations

import hmac
import logging

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import text
from werkzeug.wrappers import Response

from server import errors, metrics
from server.app_context import services
from server.clock import utcnow
from server.errors import Problem
from server.proxies import address_in
from server.services import auth, readiness
from server.web.access import (
    ANYONE_SIGNED_IN,
    SESSION_TOKEN_KEY,
    current_user,
    public,
    requires,
    safe_next,
    signed_in_user,
)
from server.web.blueprint import bp
from server.web.forms import LoginForm, PasswordChangeForm
from server.web.i18n import LANGUAGE_KEY, LANGUAGES, problem_message

log = logging.getLogger("server.web")


def login_page(
    form: LoginForm | None = None, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    """The sign-in page (also what `/` shows to someone not signed in)."""
    form = form or LoginForm(next=request.args.get("next", ""))
    return render_template("login.html", form=form, error=error), status


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | tuple[str, int]:
    """Sign in with a user name and password."""
    form = LoginForm()
    if request.method == "GET" or not form.validate_on_submit():
        if request.method == "POST":
            return login_page(form, _("Enter your user name and password."), 400)
        if current_user() is not None:
            return redirect(url_for("web.home"))
        return login_page()  # the form built from the link, so its `next` survives
    # The client address is the socket's, or the one a trusted proxy reports
    # (FIELDCASE_TRUSTED_PROXIES, applied by server/proxies.py before this view runs).
    result = auth.login(
        services().store,
        services().sign_in,
        form.username.data,
        form.password.data,
        request.remote_addr or "unknown",
        utcnow(),
    )
    if result.problem is not None or result.token is None:
        problem = result.problem or errors.login_failed()
        body, status = login_page(form, problem_message(problem), problem.status)
        response = current_app.make_response((body, status))
        for name, value in problem.headers.items():
            if name != "WWW-Authenticate":
                response.headers[name] = value
        return response
    language = session.get(LANGUAGE_KEY)
    # A new session: nothing from before sign-in survives (no fixation, new CSRF token).
    session.clear()
    session[SESSION_TOKEN_KEY] = result.token
    if language:
        session[LANGUAGE_KEY] = language
    log.info("sign-in user_id=%s", result.user.id if result.user else "?")
    return redirect(safe_next(form.next.data, url_for("web.home")))


@bp.post("/logout")
@requires(*ANYONE_SIGNED_IN)
def logout() -> Response:
    """Sign out: the session ends on the server and in the browser."""
    with services().store.session() as db:
        auth.logout(db, session.get(SESSION_TOKEN_KEY), utcnow())
    language = session.get(LANGUAGE_KEY)
    session.clear()
    if language:
        session[LANGUAGE_KEY] = language
    flash(_("You are signed out."), "info")
    return redirect(url_for("web.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires(*ANYONE_SIGNED_IN)
def password() -> Response | tuple[str, int]:
    """Change one's own password."""
    form = PasswordChangeForm()
    error = None
    if form.validate_on_submit():
        try:
            with services().store.session() as db:
                auth.change_password(
                    db,
                    signed_in_user(),
                    form.current_password.data,
                    form.new_password.data,
                    form.confirmation.data,
                    utcnow(),
                )
        except Problem as problem:
            error = problem_message(problem)
        else:
            flash(_("Your password is changed. Other sessions of your account have ended."), "ok")
            return redirect(url_for("web.home"))
    elif request.method == "POST":
        error = _("Fill in every field.")
    status = 400 if error else 200
    return render_template("password.html", form=form, error=error), status


@bp.post("/lang")
@public
def set_language() -> Response:
    """Switch the page language (Vietnamese or English) for this browser."""
    language = request.form.get("lang", "")
    if language in LANGUAGES:
        session[LANGUAGE_KEY] = language
    return redirect(safe_next(request.form.get("next"), url_for("web.home")))


@bp.get("/healthz")
@public
def healthz() -> dict[str, str]:
    """Liveness: answers when the process serves requests and the store answers."""
    with services().store.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.get("/readyz")
@public
def readyz() -> tuple[dict[str, object], int]:
    """Readiness: 200 when the database, the blob directory, the server key and the free disk
    all allow taking and processing submissions now, else 503; each check says what it saw."""
    checks = readiness.readiness(services().store, services().config, services().keyring)
    ready = all(check.ok for check in checks)
    body: dict[str, object] = {
        "status": "ready" if ready else "not ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return body, 200 if ready else 503


@bp.get("/metrics")
@public
def metrics_page() -> Response:
    """Prometheus metrics: 404 unless FIELDCASE_METRICS is on; 403 from an address outside
    FIELDCASE_METRICS_ALLOW; 401 without the bearer token when FIELDCASE_METRICS_TOKEN is set."""
    config = services().config
    if not config.metrics:
        raise errors.not_found()
    if not address_in(request.remote_addr or "", config.metrics_allow):
        raise errors.forbidden("This address may not read the metrics.")
    if config.metrics_token:
        offered = request.headers.get("Authorization", "")
        expected = f"Bearer {config.metrics_token}"
        if not hmac.compare_digest(offered.encode("utf-8"), expected.encode("utf-8")):
            problem = errors.unauthenticated()
            problem.headers = {"WWW-Authenticate": 'Bearer realm="fieldcase metrics"'}
            raise problem
    body = metrics.render(
        readiness.decrypt_state_counts(services().store),
        readiness.free_disk_bytes(config),
    )
    return Response(body, content_type=metrics.CONTENT_TYPE)
