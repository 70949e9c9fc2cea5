"""Signing in to the web view: passwords, lockout, throttling and server-side sessions.

A browser that signs in gets a fresh random session token (the cookie is cleared first, so a
token planted before sign-in is worthless: no session fixation). Only the token's SHA-256 is
stored, in `web_sessions`, so logout, idle timeout, a password change or a disabled account
end the session on the server, whatever the browser still holds.

Failed sign-ins count per account (`users.failed_logins`); after MAX_FAILED_LOGINS the account
is locked for LOCKOUT. A per-address and per-name throttle in memory slows guessing across
accounts and for names that do not exist, so a lockout does not reveal which names exist.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
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
from server.store import audit
from server.store import users as user_store
from server.store import web_sessions as web_session_store
from server.store.models import User
from server.store.scope import UnitScope

WEB_ROLES = ("admin", "supervisor", "viewer")
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
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


class LoginThrottle:
    """Sliding-window limit on sign-in attempts per key (address, user name), in memory.

    Per worker process (gunicorn runs FIELDCASE_WORKERS of them); the account lockout in
    the database holds across processes and restarts.
    """

    def __init__(self, max_attempts: int = 20, window_seconds: float = 300.0) -> None:
        self.max_attempts = max_attempts
        self.window = window_seconds
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Seconds to wait before `key` may try again; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            attempts = self._attempts.get(key)
            if not attempts:
                return 0
            while attempts and attempts[0] <= now - self.window:
                attempts.popleft()
            if len(attempts) < self.max_attempts:
                return 0
            return max(1, int(attempts[0] + self.window - now) + 1)

    def record(self, key: str, now: float | None = None) -> None:
        """Count one failed attempt for `key`."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._attempts.setdefault(key, deque()).append(now)
            if len(self._attempts) > 10_000:  # bound memory under a spray of names
                oldest = next(iter(self._attempts))
                del self._attempts[oldest]

    def clear(self, key: str) -> None:
        """Forget the failures of `key` (after a successful sign-in)."""
        with self._lock:
            self._attempts.pop(key, None)


@dataclass
class LoginResult:
    """A sign-in attempt: the new session token, or the problem to show."""

    token: str | None = None
    user: CurrentUser | None = None
    problem: Problem | None = None
    audit_detail: dict[str, object] = field(default_factory=dict)


def login(session: Session, username: str, password: str, now: datetime) -> LoginResult:
    """Check a sign-in and start a session; failures are counted and audited, never raised.

    The caller commits the transaction whatever the outcome, so the failure count and the
    audit entry are kept.
    """
    user = user_store.by_username(session, username.strip())
    if user is not None and user.locked_until is not None and aware(user.locked_until) > now:
        audit.append(session, user.username, "login.locked", f"user:{user.id}")
        retry = int((aware(user.locked_until) - now).total_seconds()) + 1
        return LoginResult(problem=errors.too_many_attempts(retry))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.disabled_at is not None or user.role not in WEB_ROLES:
        if user is None:
            # Never write what was typed: it may be a password or someone's name.
            audit.append(session, "anonymous", "login.failed", None, {"reason": "unknown user"})
            return LoginResult(problem=errors.login_failed())
        user.failed_logins = (user.failed_logins or 0) + 1
        detail: dict[str, object] = {"failed_logins": user.failed_logins}
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            detail["locked_minutes"] = int(LOCKOUT.total_seconds() // 60)
        if user.disabled_at is not None:
            detail["reason"] = "disabled"
        audit.append(session, user.username, "login.failed", f"user:{user.id}", detail)
        return LoginResult(problem=errors.login_failed())

    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
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
    problem = password_problem(new_password)
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
