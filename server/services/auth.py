"""Signing in to the web view: passwords, the sign-in guard and server-side sessions.

A browser that signs in gets a fresh random session token (the cookie is cleared first, so a
token planted before sign-in is worthless: no session fixation). Only the token's SHA-256 is
stored, in `web_sessions`, so logout, idle timeout, a password change or a disabled account
end the session on the server, whatever the browser still holds.

Names and passwords are checked by the sign-in guard (server/services/sign_in.py) that also
serves HTTP Basic on the OpenRosa API: one verification per attempt, the same answer for
unknown and known names, back-off per (name, client) and per client, kept in the database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from server import errors
from server.errors import Problem
from server.security.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from server.services.sign_in import (
    CHANNEL_WEB,
    PasswordSignIn,
    SignInAccount,
    SignInAttempt,
)
from server.store import audit
from server.store import users as user_store
from server.store import web_sessions as web_session_store
from server.store.db import Store
from server.store.models import User
from server.store.scope import UnitScope

WEB_ROLES = ("admin", "supervisor", "viewer")
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# last_seen_at is written at most this often, so a page view is not a write each time.
TOUCH_EVERY = timedelta(seconds=60)
TOKEN_BYTES = 32


def aware(moment: datetime) -> datetime:
    """A datetime from the store as UTC-aware (SQLite gives naive values back)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def token_digest(token: str) -> str:
    """What is stored for a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user of a request, with what they may see."""

    id: int
    username: str
    role: str
    units: tuple[str, ...]
    scope: UnitScope
    session_id: int

    @property
    def is_admin(self) -> bool:
        """Admins manage accounts, collectors, forms and keys, and see every unit."""
        return self.role == "admin"

    @property
    def sees_records(self) -> bool:
        """Admins and supervisors see submissions and cases; viewers only aggregate figures."""
        return self.role in ("admin", "supervisor")

    @property
    def may_reveal(self) -> bool:
        """Who may reveal identifying fields, after giving a reason."""
        return self.role in ("admin", "supervisor")


def current_user_of(user: User, units: list[str], session_id: int) -> CurrentUser:
    """The request's view of a user account."""
    scope = UnitScope.all_units() if user.role == "admin" else UnitScope.of_units(units)
    return CurrentUser(user.id, user.username, user.role, tuple(units), scope, session_id)


@dataclass
class LoginResult:
    """A sign-in attempt: the new session token, or the problem to show."""

    token: str | None = None
    user: CurrentUser | None = None
    problem: Problem | None = None
    audit_detail: dict[str, object] = field(default_factory=dict)


def may_sign_in_to_the_web(account: SignInAccount) -> str | None:
    """Why an account may not sign in to the web view, or None when it may: enabled
    accounts of the web roles (collector accounts use HTTP Basic on the OpenRosa API only)."""
    if account.role not in WEB_ROLES:
        return "not a web account"
    if account.disabled:
        return "disabled"
    return None


def login(
    store: Store,
    sign_in: PasswordSignIn,
    username: str,
    password: str,
    client: str,
    now: datetime,
) -> LoginResult:
    """Check a sign-in from `client` and start a session; failures are counted and audited by
    the guard, never raised (except 503.2 when the server is too busy to check)."""
    outcome = sign_in.attempt(
        SignInAttempt(CHANNEL_WEB, username, password, client), may_sign_in_to_the_web, now
    )
    if outcome.retry_after:
        return LoginResult(problem=errors.too_many_attempts(outcome.retry_after))
    account = outcome.account
    if account is None:
        return LoginResult(problem=errors.login_failed())
    # Made before the write transaction: hashing takes a while and must not hold it.
    new_hash = hash_password(password) if needs_rehash(account.password_hash) else None
    with store.session() as session:
        user = user_store.by_id(session, account.user_id)
        if user is None or user.password_hash != account.password_hash:
            # Changed between the check and now (reset, deleted): that password is stale.
            return LoginResult(problem=errors.login_failed())
        if new_hash is not None:
            user.password_hash = new_hash
        token = secrets.token_urlsafe(TOKEN_BYTES)
        web_session = web_session_store.add(session, token_digest(token), user.id, now)
        audit.append(session, user.username, "login", f"user:{user.id}")
        units = user_store.units_of(session, user.id)
        return LoginResult(token=token, user=current_user_of(user, units, web_session.id))


def resume(session: Session, token: str | None, now: datetime) -> CurrentUser | None:
    """The user of a session token, or None when it is unknown, ended or timed out."""
    if not token or len(token) > 200:
        return None
    web_session = web_session_store.by_token_sha256(session, token_digest(token))
    if web_session is None or web_session.ended_at is not None:
        return None
    if now - aware(web_session.last_seen_at) > IDLE_TIMEOUT:
        web_session_store.end(session, web_session, "idle", now)
        return None
    if now - aware(web_session.created_at) > ABSOLUTE_TIMEOUT:
        web_session_store.end(session, web_session, "expired", now)
        return None
    user = user_store.by_id(session, web_session.user_id)
    if user is None or user.disabled_at is not None or user.role not in WEB_ROLES:
        web_session_store.end(session, web_session, "disabled", now)
        return None
    if now - aware(web_session.last_seen_at) > TOUCH_EVERY:
        web_session.last_seen_at = now
    return current_user_of(user, user_store.units_of(session, user.id), web_session.id)


def logout(session: Session, token: str | None, now: datetime) -> None:
    """End the session of this token, if it is open."""
    if not token:
        return
    web_session = web_session_store.by_token_sha256(session, token_digest(token))
    if web_session is not None and web_session.ended_at is None:
        web_session_store.end(session, web_session, "logout", now)
        user = user_store.by_id(session, web_session.user_id)
        audit.append(
            session, user.username if user else "?", "logout", f"user:{web_session.user_id}"
        )


def change_password(
    session: Session,
    current: CurrentUser,
    old_password: str,
    new_password: str,
    confirmation: str,
    now: datetime,
) -> None:
    """Change one's own password; every other session of the account ends."""
    user = user_store.by_id(session, current.id)
    if user is None or not verify_password(user.password_hash, old_password):
        raise errors.validation_failed("The current password is wrong.")
    if new_password != confirmation:
        raise errors.validation_failed("The two new passwords differ.")
    problem = password_problem(new_password, user.username)
    if problem:
        raise errors.validation_failed(problem)
    if verify_password(user.password_hash, new_password):
        raise errors.validation_failed("The new password must differ from the current one.")
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    web_session_store.end_all_for_user(
        session, user.id, "password changed", now, keep_id=current.session_id
    )
    audit.append(session, user.username, "password.change", f"user:{user.id}")
