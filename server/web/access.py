"""Who is asking: the signed-in user of a web request, and the role each view needs.

Every view of the blueprint declares its roles with `@requires(...)`; the permission-matrix
test checks each route against every kind of caller. Anonymous callers are sent to sign in;
signed-in users without the role get 403; records outside their units are 404 (raised by the
services, which only find what the user's scope allows).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

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


# Whitespace, control and format characters (Cc, Cf, Zs, Zl, Zp): browsers drop some of them
# from URLs (tab, newline), so "/\t/evil.example" would become "//evil.example".
_INVISIBLE = frozenset(("Cc", "Cf", "Zs", "Zl", "Zp"))


def safe_next(target: str | None, default: str) -> str:
    """A redirect target from a form or query: a path on this site only, else `default`.

    Whitespace and control characters are removed first; what remains must parse
    (urllib.parse) without a scheme or a host, start with one "/" that is not followed by
    another "/" or a "\\" (also once percent-decoded, and in Unicode's compatibility form,
    which turns "／" into "/"), and hold only printable ASCII.
    """
    if not target:
        return default
    cleaned = "".join(c for c in target if unicodedata.category(c) not in _INVISIBLE)
    if not cleaned.isascii() or not cleaned.isprintable():
        return default
    for form in {cleaned, unquote(cleaned), unicodedata.normalize("NFKC", unquote(cleaned))}:
        if any(unicodedata.category(c) in ("Cc", "Cf") for c in form):
            return default
        if not form.startswith("/") or form[1:2] in ("/", "\\") or "\\" in form:
            return default
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return default
    return cleaned
