"""One guard for every password sign-in: the web login, HTTP Basic on the OpenRosa API, and
any later API sign-in.

Rules (docs/security.md, "Who may authenticate where"):

- Every attempt runs exactly one password verification, against the account's hash or a
  dummy one when the name is unknown, and an account that may not use this channel (a
  supervisor on the OpenRosa API, a collector on the web) fails like a wrong password: same
  status, same body, same work. Nothing tells which names exist or which password is right.
- Failures count per (typed name, client address), known name or not. After
  `free_failures` of them that pair waits `first_backoff`, doubled at each further failure up
  to `max_backoff`; a success from that client clears the pair. Another client is not
  affected, so nobody can lock someone else's account out from elsewhere.
- Failures also count per client across names: `client_failures` in `client_window` and the
  client waits until the window ends. This slows one address spraying many names.
- While a pair or its client waits, attempts are refused (429.1) without a verification.
- The counts live in the database (`sign_in_failures`), so they hold across gunicorn workers
  and restarts; rows expire (`forget_after` after the last failure of a pair, at the end of
  the window of a client) and are purged as new failures come in.
- Failures are audited (`login.failed`, with the channel and why), under the account's name
  when it exists and as "anonymous" otherwise: never what was typed for an unknown name, never
  a password.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from server import metrics
from server.security.passwords import verify_password
from server.store import audit
from server.store import sign_in_failures as failure_store
from server.store import users as user_store
from server.store.db import Store
from server.store.models import SignInFailure

log = logging.getLogger("server.sign_in")

CHANNEL_WEB = "web"
CHANNEL_OPENROSA = "openrosa"
# The name part of a per-client row: no typed name digests to the empty string.
ANY_NAME = ""


def aware(moment: datetime) -> datetime:
    """A datetime from the store as UTC-aware (SQLite gives naive values back)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class BackoffPolicy:
    """How many failures are free and how long a pair or a client then waits."""

    free_failures: int = 5
    first_backoff: timedelta = timedelta(minutes=1)
    max_backoff: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=24)
    client_failures: int = 30
    client_window: timedelta = timedelta(minutes=10)

    def backoff(self, failures: int) -> timedelta | None:
        """The wait after the `failures`-th failure of a pair, or None while it is free."""
        if failures < self.free_failures:
            return None
        doublings = min(failures - self.free_failures, 30)
        return min(self.first_backoff * (1 << doublings), self.max_backoff)


@dataclass(frozen=True)
class GuardState:
    """What the guard says before an attempt."""

    retry_after: int  # seconds to wait; 0 when the attempt may go ahead
    pair_has_failures: bool


class SignInGuard:
    """The back-off of failed sign-ins, kept in the store (see the module docstring)."""

    def __init__(self, secret: bytes, policy: BackoffPolicy | None = None) -> None:
        # A key of its own, so the digests say nothing to someone who has another digest of
        # the server secret.
        self._key = hmac.new(secret, b"fieldcase sign-in back-off v1", hashlib.sha256).digest()
        self.policy = policy or BackoffPolicy()

    def _digest(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()

    def name_digest(self, username: str) -> str:
        """What is stored for a typed name: compared as the user store compares names."""
        return self._digest("name", username.strip().lower())

    def client_digest(self, client: str) -> str:
        """What is stored for a client address."""
        return self._digest("client", client)

    def check(self, session: Session, username: str, client: str, now: datetime) -> GuardState:
        """Whether this name from this client must wait before an attempt, and whether the
        pair has failures on record (a success then clears them)."""
        name, address = self.name_digest(username), self.client_digest(client)
        rows = failure_store.current(session, [(name, address), (ANY_NAME, address)], now)
        waits = [
            aware(row.blocked_until) - now
            for row in rows
            if row.blocked_until is not None and aware(row.blocked_until) > now
        ]
        retry = int(max(waits).total_seconds()) + 1 if waits else 0
        return GuardState(retry, any(row.name_digest == name for row in rows))

    def record_failure(
        self, session: Session, username: str, client: str, now: datetime
    ) -> timedelta | None:
        """Count one failure of this name from this client (and of this client); the wait it
        starts for the pair or the client, or None."""
        policy = self.policy
        failure_store.purge_expired(session, now)
        address = self.client_digest(client)
        pair = failure_store.locked_for_update(session, self.name_digest(username), address, now)
        _count(pair, now, expires_at=now + policy.forget_after)
        wait = policy.backoff(pair.failures)
        started = None
        if wait is not None:
            pair.blocked_until = now + wait
            started = wait
        per_client = failure_store.locked_for_update(session, ANY_NAME, address, now)
        _count(per_client, now, expires_at=None, window=policy.client_window)
        if per_client.failures >= policy.client_failures:
            per_client.blocked_until = aware(per_client.expires_at)
            client_wait = aware(per_client.expires_at) - now
            started = max(started or timedelta(0), client_wait)
        session.flush()
        return started

    def record_success(self, session: Session, username: str, client: str) -> None:
        """A right password from this client: its count for this name starts again."""
        failure_store.forget(session, self.name_digest(username), self.client_digest(client))

    def forget_account(self, session: Session, username: str) -> None:
        """Lift every wait of this name, from every client (after an admin resets it)."""
        failure_store.forget(session, self.name_digest(username))


def _count(
    row: SignInFailure,
    now: datetime,
    *,
    expires_at: datetime | None,
    window: timedelta | None = None,
) -> None:
    """Add one failure to a row; a lapsed row starts again from one."""
    if aware(row.expires_at) <= now:
        row.failures = 1
        row.first_failed_at = now
        row.blocked_until = None
        row.expires_at = now + window if window is not None else now
    else:
        row.failures += 1
    row.last_failed_at = now
    if expires_at is not None:  # a pair is forgotten a while after its last failure
        row.expires_at = expires_at


@dataclass(frozen=True)
class SignInAccount:
    """What an attempt needs to know of the account behind a typed name."""

    user_id: int
    username: str
    role: str
    password_hash: str
    disabled: bool
    collector_id: int | None
    collector_revoked: bool


@dataclass(frozen=True)
class SignInAttempt:
    """A name and password from a client, on one channel (web, openrosa, api)."""

    channel: str
    username: str
    password: str
    client: str


@dataclass(frozen=True)
class SignInOutcome:
    """The account when the attempt is accepted; else why not, for the caller's answer."""

    account: SignInAccount | None = None
    retry_after: int = 0  # > 0: refused for the back-off, without a verification


# Why an account may not use a channel, or None when it may.
Eligibility = Callable[[SignInAccount], str | None]


class RecentlyVerified:
    """Passwords verified a moment ago, so a phone that sends HTTP Basic with every request
    pays for one Argon2 verification per `ttl_seconds`, not one per request.

    Held in this process only, keyed by an HMAC of channel, name and password (the password is
    never kept); an entry counts only while the account's stored hash is the one it was
    verified against, so a password change or reset ends it, and the caller still checks that
    the account is enabled and the collector not revoked on every request.
    """

    def __init__(self, ttl_seconds: float = 600.0, max_entries: int = 2048) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[str, tuple[int, str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _entry_key(self, attempt: SignInAttempt) -> str:
        text = f"{attempt.channel}\0{attempt.username.strip().lower()}\0{attempt.password}"
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def holds(self, attempt: SignInAttempt, account: SignInAccount) -> bool:
        """True when this password was verified for this account and hash a moment ago."""
        key = self._entry_key(attempt)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            user_id, password_hash, until = entry
            if until < time.monotonic():
                del self._entries[key]
                return False
            return user_id == account.user_id and password_hash == account.password_hash

    def remember(self, attempt: SignInAttempt, account: SignInAccount) -> None:
        """Keep a successful verification for a while."""
        key = self._entry_key(attempt)
        with self._lock:
            until = time.monotonic() + self.ttl
            self._entries[key] = (account.user_id, account.password_hash, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


class PasswordSignIn:
    """Checks name and password attempts under the guard; the one way any channel does it."""

    def __init__(
        self, store: Store, guard: SignInGuard, recently: RecentlyVerified | None = None
    ) -> None:
        self.store = store
        self.guard = guard
        self.recently = recently or RecentlyVerified()

    def attempt(
        self,
        attempt: SignInAttempt,
        eligible: Eligibility,
        now: datetime,
        *,
        remember: bool = False,
    ) -> SignInOutcome:
        """Check one attempt: refused without a verification while backed off; else exactly
        one verification (none when `remember` and the same password was verified a moment
        ago), then the failure is counted and audited, or the pair's count cleared.

        The password is verified outside any write transaction, so a sign-in never holds the
        SQLite writer's turn for the 0.2 s of Argon2.
        """
        with self.store.reader() as session:
            state = self.guard.check(session, attempt.username, attempt.client, now)
            if state.retry_after:
                log.info("sign-in refused during back-off channel=%s", attempt.channel)
                metrics.count_login_failure(attempt.channel)
                return SignInOutcome(retry_after=state.retry_after)
            account = _account(session, attempt.username)
        if remember and account is not None and self.recently.holds(attempt, account):
            verified = True
        else:
            verified = verify_password(account.password_hash if account else None, attempt.password)
        refusal = "unknown user" if account is None else None
        if refusal is None and not verified:
            refusal = "wrong password"
        if refusal is None and account is not None:
            refusal = eligible(account)
        if refusal is not None:
            self._failed(attempt, account, refusal, now)
            return SignInOutcome()
        assert account is not None
        if remember:
            self.recently.remember(attempt, account)
        if state.pair_has_failures:
            with self.store.session() as session:
                self.guard.record_success(session, attempt.username, attempt.client)
        return SignInOutcome(account=account)

    def _failed(
        self, attempt: SignInAttempt, account: SignInAccount | None, reason: str, now: datetime
    ) -> None:
        with self.store.session() as session:
            wait = self.guard.record_failure(session, attempt.username, attempt.client, now)
            detail: dict[str, object] = {"channel": attempt.channel, "reason": reason}
            if wait is not None:
                detail["backoff_seconds"] = int(wait.total_seconds())
            if account is None:
                # Never what was typed: it may be a password or someone's name.
                audit.append(session, "anonymous", "login.failed", None, detail)
            else:
                audit.append(
                    session, account.username, "login.failed", f"user:{account.user_id}", detail
                )
        log.info("sign-in failed channel=%s", attempt.channel)
        metrics.count_login_failure(attempt.channel)


def _account(session: Session, username: str) -> SignInAccount | None:
    found = user_store.sign_in_account(session, username.strip())
    if found is None:
        return None
    user, collector = found
    return SignInAccount(
        user_id=user.id,
        username=user.username,
        role=user.role,
        password_hash=user.password_hash,
        disabled=user.disabled_at is not None,
        collector_id=collector.id if collector is not None else None,
        collector_revoked=collector is not None and collector.revoked_at is not None,
    )
