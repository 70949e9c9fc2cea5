"""Collectors: field workers' phone accounts, their server URLs and ODK Collect QR codes.

A collector authenticates in one of two ways, chosen when it is made:

- a long random token carried in its server URL (`<public url>/c/<token>`), as ODK Central's
  app users do. Only the token's SHA-256 is stored, so the database alone does not let anyone
  impersonate a phone; a lost token means a new collector (revoke the old one).
- a user name and a generated password sent with HTTP Basic to the plain public URL (a user
  account with the `collector` role, linked to the collector). Only the password's Argon2id
  hash is stored; the sign-in goes through the same back-off as the web login
  (server/services/sign_in.py).

Revoking a collector stops both at once.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import secrets
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import segno
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from server import errors
from server.clock import utcnow
from server.security.passwords import generate_password, hash_password
from server.services import case_assignments
from server.services.accounts import USERNAME, check_known_units
from server.services.sign_in import SignInAccount
from server.store import audit
from server.store import collectors as collector_store
from server.store import forms as form_store
from server.store import users as user_store
from server.store.db import Store
from server.store.models import Collector, Form

TOKEN_BYTES = 32
# A phone's last_seen_at is written at most this often (a sync is several requests).
SEEN_EVERY = timedelta(minutes=1)
log = logging.getLogger("server.collectors")


class LastSeen:
    """Records when each collector was last heard from, and the ODK Collect version it named.

    At most one write a minute per collector: this process remembers what it wrote, and the
    UPDATE itself skips a row written within the minute with the same version, so several
    worker processes do not each write it. A new app version is written at once. A failed
    write is logged and never fails the phone's request.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._written: dict[int, tuple[datetime, str | None]] = {}
        self._lock = threading.Lock()

    def record(self, collector_id: int, app_version: str | None, now: datetime) -> bool:
        """Note a request of `collector_id`; True when the database was written."""
        with self._lock:
            previous = self._written.get(collector_id)
            if (
                previous is not None
                and now - previous[0] < SEEN_EVERY
                and app_version in (None, previous[1])
            ):
                return False
            known = app_version or (previous[1] if previous else None)
            self._written[collector_id] = (now, known)
        try:
            with self._store.transaction() as connection:
                return collector_store.mark_seen(
                    connection, collector_id, now, now - SEEN_EVERY, app_version
                )
        except SQLAlchemyError as exc:
            log.warning(
                "last seen of collector %d not written: %s", collector_id, type(exc).__name__
            )
            return False


def token_digest(token: str) -> str:
    """What is stored for a token (SHA-256 hex): tokens are random, so no salt is needed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def server_url(public_url: str, token: str) -> str:
    """The URL ODK Collect is pointed at; it appends /formList and /submission itself."""
    return f"{public_url.rstrip('/')}/c/{token}"


@dataclass(frozen=True)
class NewCollector:
    """A collector just created; its secret (`token`, or `username` and `password` for HTTP
    Basic) is shown once and never stored."""

    collector: Collector
    url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None


def check_unit(unit_code: str | None) -> str:
    """The collector's unit code, stripped, or a 400 problem: a collector acts only inside
    its unit (the unit rule) and its unit cannot change later, so it is required and must
    be a province or commune of the admin units list (`accounts.check_known_units`): a
    submission from a unit the list does not hold would only be flagged, never act."""
    code = (unit_code or "").strip()
    if not code:
        raise errors.validation_failed(
            "A collector needs the unit it works for (a province or commune code)."
        )
    check_known_units([code])
    return code


def create(
    session: Session,
    public_url: str,
    name: str,
    unit_code: str | None,
    actor: str,
    assign_all_forms: bool = True,
    basic: bool = False,
) -> NewCollector:
    """Create a collector, assigned every form unless told otherwise: with a fresh token in
    its server URL, or (`basic`) with a user account of the same name and a generated
    password for HTTP Basic on the plain public URL."""
    name = name.strip()
    if not name or len(name) > 200:
        raise errors.validation_failed("A collector needs a name of 1 to 200 characters.")
    if basic and not USERNAME.match(name):
        raise errors.validation_failed(
            "User names have 2 to 100 letters, digits, dots, dashes or underscores."
        )
    unit_code = check_unit(unit_code)
    if collector_store.by_name(session, name) is not None:
        raise errors.already_exists(f"A collector named {name!r}")
    if basic and user_store.by_username(session, name) is not None:
        raise errors.already_exists(f"A user named {name!r}")
    # A Basic collector still gets a random token (the column is required), which is never
    # shown: its server URL is the plain public URL.
    token = secrets.token_urlsafe(TOKEN_BYTES)
    password = None
    user_id = None
    if basic:
        password = generate_password(name)
        user_id = user_store.add(session, name, hash_password(password), "collector").id
    collector = collector_store.add(session, name, token_digest(token), unit_code, user_id)
    if assign_all_forms:
        for form in form_store.all_forms(session):
            form_store.assign(session, collector.id, form.id)
    audit.append(
        session,
        actor,
        "collector.add",
        f"collector:{collector.id}",
        {"name": name, "unit": unit_code, "sign_in": "basic" if basic else "token"},
    )
    if basic:
        return NewCollector(collector, public_url.rstrip("/"), username=name, password=password)
    return NewCollector(collector, server_url(public_url, token), token=token)


def may_send(account: SignInAccount) -> str | None:
    """Why an account may not use HTTP Basic on the OpenRosa API, or None when it may: only
    enabled collector accounts whose collector is not revoked."""
    if account.role != "collector" or account.collector_id is None:
        return "not a collector account"
    if account.disabled:
        return "disabled"
    if account.collector_revoked:
        return "collector revoked"
    return None


def authenticate(session: Session, token: str) -> Collector | None:
    """The active collector holding this token, or None (unknown or revoked)."""
    if not token or len(token) > 200:
        return None
    collector = collector_store.by_token_sha256(session, token_digest(token))
    if collector is None or collector.revoked_at is not None:
        return None
    return collector


def token_refused() -> errors.Problem:
    """The 403 of a server URL whose token is unknown or revoked (or was, by the time its
    submission is recorded)."""
    return errors.forbidden(
        "This server URL is not valid or has been revoked. Ask your supervisor for a new one.",
        vi="Địa chỉ máy chủ này không hợp lệ hoặc đã bị thu hồi. Hãy xin người giám sát một "
        "địa chỉ máy chủ mới.",
    )


@dataclass(frozen=True)
class Credential:
    """The token a collector was authenticated by (its digest) and the credential generation
    (server/store/models.py CredentialGeneration) the answer was read under."""

    digest: str
    generation: int


@dataclass(frozen=True)
class CollectorRef:
    """The collector behind a request: enough to check what it may send."""

    id: int
    name: str
    form_ids: frozenset[int]  # the forms assigned to it when the request began
    # How a token lookup found it (None: HTTP Basic), for the check at recording.
    credential: Credential | None = None


def _ref(row: Any) -> CollectorRef:
    assigned = frozenset(int(form_id) for form_id in (row.form_ids or "").split(",") if form_id)
    digest, generation = getattr(row, "token_sha256", None), getattr(row, "generation", None)
    credential = Credential(digest, int(generation)) if digest and generation is not None else None
    return CollectorRef(row.id, row.name, assigned, credential)


def recheck_credentials(
    connection: Connection, credentials: Iterable[Credential]
) -> tuple[int, dict[str, CollectorRef]]:
    """In the transaction that records their submissions: the credential generation now, and,
    for the credentials read under another generation, their token's collector as it is now,
    by token digest (missing: revoked, removed or given another token)."""
    generation = collector_store.credential_generation(connection)
    stale = {credential.digest for credential in credentials if credential.generation != generation}
    rows = collector_store.active_by_token_sha256s(connection, sorted(stale)) if stale else {}
    return generation, {digest: _ref(row) for digest, row in rows.items()}


def authenticate_token(connection: Connection, token: str) -> CollectorRef | None:
    """`authenticate` on a Core connection, for every OpenRosa request."""
    if not token or len(token) > 200:
        return None
    row = collector_store.active_by_token_sha256(connection, token_digest(token))
    return _ref(row) if row is not None else None


class _Lookup:
    """One request's token digest, waiting for the statement that answers it."""

    __slots__ = ("digest", "done", "error", "found")

    def __init__(self, digest: str) -> None:
        self.digest = digest
        self.done = False
        self.found: CollectorRef | None = None
        self.error: BaseException | None = None


class TokenLookups:
    """Collector tokens of concurrent OpenRosa requests looked up together, one statement for
    all the requests of this process that are waiting, instead of one each.

    `find` answers only from a statement that began after the request arrived (its digest is
    queued first; a statement takes the queue when it begins), so a collector revoked before a
    request arrives is refused on that very request, in every worker. A request arriving while
    a statement is running waits for the next one. The statement runs under a lock held by
    whichever waiting request gets it first (as GroupCommit does for writes), so the more
    requests arrive together, the fewer statements there are.

    `find_for_submission` may answer a POST of a submission from what an earlier lookup of
    the same token found, while nothing has changed the credential generation since, as far
    as this process knows. That answer only lets the request be read and its parts stored:
    the submission is recorded only by a transaction that has read the generation and found
    it unchanged, or has looked the token up again and refuses what it no longer allows
    (server/services/recording.py). Every transaction that reads it tells this process
    (`saw_generation`), so after a revocation at most the requests already under way are
    read before being refused; the next ones are looked up.
    """

    MAX_BATCH = 500
    MAX_REMEMBERED = 10_000  # collectors a process remembers (all of a province's phones)

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: list[_Lookup] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        self._remembered: dict[str, CollectorRef] = {}
        self._generation: int | None = None  # the newest this process has read

    def find_for_submission(self, token: str) -> CollectorRef | None:
        """`find`, or the collector an earlier lookup found for this token if the credential
        generation it was read under is still the newest this process has seen."""
        if not token or len(token) > 200:
            return None
        remembered = self._remembered.get(token_digest(token))
        if (
            remembered is not None
            and remembered.credential is not None
            and remembered.credential.generation == self._generation
        ):
            return remembered
        return self.find(token)

    def saw_generation(self, generation: int, refused: Iterable[str] = ()) -> None:
        """A transaction read the credential generation (and found the tokens of `refused`
        no longer valid): what was read under another one is not answered from again."""
        with self._queue_lock:
            if generation != self._generation:
                self._generation = generation
                self._remembered.clear()
            for digest in refused:
                self._remembered.pop(digest, None)

    def _remember(self, found: list[CollectorRef]) -> None:
        with self._queue_lock:
            for ref in found:
                if ref.credential is None:
                    continue
                if ref.credential.generation != self._generation:
                    self._generation = ref.credential.generation
                    self._remembered.clear()
                if len(self._remembered) >= self.MAX_REMEMBERED:
                    self._remembered.clear()
                self._remembered[ref.credential.digest] = ref

    def find(self, token: str) -> CollectorRef | None:
        """The active collector whose token this is, or None (unknown, revoked, malformed).
        Raises what the statement raised (a database error when the database is down)."""
        if not token or len(token) > 200:
            return None
        waiting = _Lookup(token_digest(token))
        with self._queue_lock:
            self._queue.append(waiting)
        while not waiting.done:
            with self._leader:
                if waiting.done:
                    break
                with self._queue_lock:
                    batch = self._queue[: self.MAX_BATCH]
                    del self._queue[: self.MAX_BATCH]
                self._answer(batch)
        if waiting.error is not None:
            raise waiting.error
        return waiting.found

    def waiting(self) -> int:
        """How many requests are queued for the next statement (for tests)."""
        with self._queue_lock:
            return len(self._queue)

    def _answer(self, batch: list[_Lookup]) -> None:
        try:
            with self._store.read() as connection:
                rows = collector_store.active_by_token_sha256s(
                    connection, [lookup.digest for lookup in batch]
                )
        except BaseException as exc:
            for lookup in batch:
                lookup.error, lookup.done = exc, True
            return
        found = {digest: _ref(row) for digest, row in rows.items()}
        self._remember(list(found.values()))
        for lookup in batch:
            lookup.found = found.get(lookup.digest)
            lookup.done = True


def active_collector(connection: Connection, collector_id: int) -> CollectorRef | None:
    """The collector of an account that has just signed in with HTTP Basic, unless revoked."""
    row = collector_store.active_by_id(connection, collector_id)
    return _ref(row) if row is not None else None


def revoke(session: Session, collector_id: int, actor: str) -> None:
    """Stop a collector at once: neither its token nor its HTTP Basic account authenticates."""
    collector = collector_store.by_id(session, collector_id)
    if collector is None:
        raise errors.not_found("The collector")
    if collector.revoked_at is None:
        now = utcnow()
        collector.revoked_at = now
        if collector.user_id is not None:  # its HTTP Basic account stops too
            account = user_store.by_id(session, collector.user_id)
            if account is not None and account.disabled_at is None:
                account.disabled_at = now
        audit.append(session, actor, "collector.revoke", f"collector:{collector_id}")
        case_assignments.collector_revoked(session, collector_id, actor)


def collect_settings(
    url: str,
    project_name: str,
    username: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """ODK Collect settings for a collector: its server (and HTTP Basic credentials for a
    Basic collector), and safe defaults for sensitive work.

    Sent forms are deleted from the phone, finished forms cannot be reopened, forms on the
    phone follow the server exactly, and the server cannot be changed by the user.
    """
    credentials = {"username": username, "password": password} if username and password else {}
    return {
        "general": {
            "server_url": url,
            **credentials,
            "form_update_mode": "match_exactly",
            "autosend": "wifi_and_cellular",
            "delete_send": True,
            "automatic_update": True,
        },
        "admin": {"change_server": False, "edit_saved": False},
        "project": {"name": project_name, "icon": "F", "color": "#0b5cad"},
    }


def collect_qr_payload(settings: dict[str, Any]) -> str:
    """The text a Collect settings QR code carries: base64 of zlib-compressed JSON."""
    raw = json.dumps(settings, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(zlib.compress(raw)).decode("ascii")


def decode_qr_payload(payload: str) -> dict[str, Any]:
    """The settings a Collect QR payload carries (for tests and support)."""
    result: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(payload)))
    return result


def qr_code(payload: str, kind: str = "svg") -> bytes:
    """The QR code image (SVG or PNG) for a settings payload."""
    code = segno.make(payload, micro=False, error="m")
    out = io.BytesIO()
    if kind == "png":
        code.save(out, kind="png", scale=5, border=4)
    else:
        code.save(out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True)
    return out.getvalue()


# Reading collectors, for the admin pages and commands.


def all_collectors(session: Session) -> Sequence[Collector]:
    """Every collector, revoked ones included."""
    return collector_store.all_collectors(session)


def collector_by_id(session: Session, collector_id: int) -> Collector | None:
    """The collector with this id, or None."""
    return collector_store.by_id(session, collector_id)


def collector_by_name(session: Session, name: str) -> Collector | None:
    """The collector with this name, or None."""
    return collector_store.by_name(session, name)


def assigned_forms(session: Session, collector_id: int) -> Sequence[Form]:
    """The forms a collector may list, download and submit."""
    return form_store.assigned_forms(session, collector_id)
