"""The supervisors' web view: dashboard, submissions and review, cases, admin pages, audit.

`init_app` sets everything up on the app: the blueprint and its pages, CSRF protection on
every form (not on the OpenRosa API, which ODK Collect calls without a browser session),
Vietnamese and English, and the signed-in user of each request.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response

from server import errors
from server.edge import render_problem
from server.redaction import page_path
from server.web.access import current_user, load_user
from server.web.blueprint import bp
from server.web.i18n import LANGUAGES, init_i18n

csrf = CSRFProtect()


def _import_views() -> None:
    from server.web.views import (  # noqa: F401
        account,
        admin_collectors,
        admin_forms,
        admin_users,
        audit_log,
        case_assignments,
        cases,
        dashboard,
        exports,
        referrals,
        submissions,
        transfers,
        unit_queue,
    )


_import_views()


@bp.before_app_request
def _resolve_user() -> None:
    if request.blueprint == "web":
        load_user()


@bp.app_context_processor
def _template_context() -> dict[str, Any]:
    # page_path: a page under a collector's URL (an error page) never echoes its token.
    return {
        "user": current_user() if request else None,
        "languages": LANGUAGES,
        "page_path": page_path,
    }


@bp.app_errorhandler(CSRFError)
def _csrf_error(_error: CSRFError) -> Response:
    return render_problem(errors.csrf_failed())


def init_app(app: Flask) -> None:
    """Register the web view on `app`; call after the OpenRosa blueprints are registered."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session, which expires
    app.config.setdefault("WTF_CSRF_SSL_STRICT", app.config.get("SESSION_COOKIE_SECURE", False))
    init_i18n(app)
    app.register_blueprint(bp)
    csrf.init_app(app)
    for name, blueprint in app.blueprints.items():
        if name.startswith("openrosa") or name == "api":  # no cookies: nothing to forge
            csrf.exempt(blueprint)


__all__ = ["bp", "init_app"]
