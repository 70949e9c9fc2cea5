"""Who is asking: the signed-in user of a web request, and the role each view needs.

Every view of the blueprint declares its roles with `@requires(...)`; the permission-matrix
test checks each route against every kind of caller. Anonymous callers are sent to sign in;
signed-in users without the role get 403; records outside their units are 404 (raised by the
services, which only find what the user's scope allows).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from server import errors
from server.app_context import services
from server.clock import utcnow
from server.services import auth
from server.services.auth import CurrentUser

SESSION_TOKEN_KEY = "sid"  # noqa: S105 - the session key name, not a secret
ANYONE_SIGNED_IN = ("admin", "supervisor", "viewer")
RECORD_ROLES = ("admin", "supervisor")
ADMIN = ("admin",)

F = TypeVar("F", bound=Callable[..., Any])


def load_user() -> None:
    """Resolve the session cookie to a user (or None) once per request."""
    token = session.get(SESSION_TOKEN_KEY)
    g.user = None
    if not token:
        return
    with services().store.session() as db:
        g.user = auth.resume(db, token, utcnow())
    if g.user is None:
        # Ended or timed out on the server: forget it in the browser too.
        session.pop(SESSION_TOKEN_KEY, None)
        g.session_ended = True


def current_user() -> CurrentUser | None:
    """The signed-in user of this request."""
    return cast(CurrentUser | None, g.get("user"))


def signed_in_user() -> CurrentUser:
    """The signed-in user of a view that requires one."""
    user = current_user()
    if user is None:
        raise errors.unauthenticated()
    return user


def _to_login() -> Response:
    target = request.full_path if request.method == "GET" else request.path
    return redirect(url_for("web.login", next=target.rstrip("?")))


def requires(*roles: str) -> Callable[[F], F]:
    """Only signed-in users with one of `roles` reach the view."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return _to_login()
            if user.role not in roles:
                raise errors.forbidden()
            return view(*args, **kwargs)

        wrapper.required_roles = roles  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


def public(view: F) -> F:
    """Marks a view anyone may reach (sign-in page, health check, language switch)."""
    view.required_roles = ()  # type: ignore[attr-defined]
    return view


def safe_next(target: str | None, default: str) -> str:
    """A redirect target from a form or query: a local path only, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
