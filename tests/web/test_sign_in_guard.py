"""The sign-in guard on the web login: the same answer for unknown and known names, back-off
per (name, client) that grows, a per-client limit across names, kept in the database (other
workers, restarts), rows that expire, and the client address behind a trusted proxy only."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from server.app import create_app
from server.clock import utcnow
from server.config import TrustedProxies
from server.services import accounts
from server.services.sign_in import aware
from server.store import audit
from server.store.db import Store
from server.store.models import SignInFailure
from tests.hashing import counting_verifications
from tests.web.conftest import WebClient, WebDeployment

_addresses = (f"192.0.2.{n}" for n in itertools.count(100))


def _client(web: WebDeployment, address: str | None = None, app: Flask | None = None) -> WebClient:
    """A fresh browser whose connection comes from an address no other test uses."""
    client = WebClient((app or web.app).test_client())
    client.client.environ_base["REMOTE_ADDR"] = address or next(_addresses)
    return client


def _user(web: WebDeployment, name: str, password: str, role: str = "supervisor") -> int:
    with web.store.session() as session:
        user, _ = accounts.create_user(session, "test", name, role, ["01"], password)
        return user.id


class Clock:
    """The time the login view sees, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("server.web.views.account.utcnow", clock)
    return clock


def _comparable(response: TestResponse, typed_name: str) -> tuple[int, str, list[str]]:
    body = response.get_data(as_text=True).replace(typed_name, "NAME")
    body = re.sub(r"<input[^>]*csrf_token[^>]*>", "", body)
    # X-Request-ID is a fresh random id per request (server/access_log.py): no oracle.
    headers = sorted(k for k in response.headers if k != "Set-Cookie" and k[0] != "X-Request-ID")
    return response.status_code, body, headers


def test_unknown_and_known_names_get_the_same_answer(web: WebDeployment) -> None:
    _user(web, "known_1", "the-real-secret-1")
    known, unknown = _client(web), _client(web)
    for attempt in range(web.services.sign_in.guard.policy.free_failures + 2):
        a = known.login("known_1", "a-wrong-guess-9")
        b = unknown.login("ghost_1", "a-wrong-guess-9")
        assert _comparable(a, "known_1") == _comparable(b, "ghost_1"), attempt
        assert a.status_code == (401 if attempt < 5 else 429)
        if a.status_code == 429:
            # The unknown name waits just as long: a back-off says nothing about existence.
            assert abs(int(a.headers["Retry-After"]) - int(b.headers["Retry-After"])) <= 1


def test_every_attempt_runs_one_verification(web: WebDeployment) -> None:
    _user(web, "counted_1", "tally-secret-one")
    disabled = _user(web, "counted_2", "tally-secret-two")
    with web.store.session() as session:
        accounts.set_disabled(session, 0, "test", disabled, True, utcnow())
    cases = [
        ("nobody_here", "whatever-guess-1"),  # unknown name: a dummy hash is verified
        ("counted_1", "whatever-guess-1"),  # wrong password
        ("counted_2", "tally-secret-two"),  # right password of a disabled account
        ("phone-a", "whatever-guess-1"),  # a collector: no account of the web at all
    ]
    for name, password in cases:
        with counting_verifications() as hasher:
            response = _client(web).login(name, password)
        assert response.status_code == 401, name
        assert hasher.verifications == 1, name
    with counting_verifications() as hasher:
        assert _client(web).login("counted_1", "tally-secret-one").status_code == 302
    assert hasher.verifications == 1


def test_the_victim_signs_in_from_elsewhere_while_the_attacker_waits(web: WebDeployment) -> None:
    _user(web, "victim_1", "her-own-secret-9")
    attacker = _client(web)
    for _ in range(5):
        assert attacker.login("victim_1", "guess-guess-guess").status_code == 401
    assert attacker.login("victim_1", "her-own-secret-9").status_code == 429
    assert _client(web).login("victim_1", "her-own-secret-9").status_code == 302


def test_the_backoff_doubles_and_is_capped(web: WebDeployment, clock: Clock) -> None:
    _user(web, "patient_1", "calm-secret-wait")
    client = _client(web)
    for _ in range(4):
        assert client.login("patient_1", "wrong-wrong-1").status_code == 401
    waits = []
    for _ in range(7):
        failed = client.login("patient_1", "wrong-wrong-1")
        assert failed.status_code == 401  # the attempt that starts a wait is still answered
        refused = client.login("patient_1", "calm-secret-wait")
        assert refused.status_code == 429
        wait = int(refused.headers["Retry-After"])
        waits.append(wait)
        clock.advance(seconds=wait)
    assert waits == [61, 121, 241, 481, 901, 901, 901]
    # The wait is over: the right password works, and the count starts again.
    assert client.login("patient_1", "calm-secret-wait").status_code == 302


def test_a_pairs_count_is_forgotten_after_a_day(web: WebDeployment, clock: Clock) -> None:
    _user(web, "forgetful_1", "memory-lane-77x")
    client = _client(web)
    for _ in range(4):
        assert client.login("forgetful_1", "not-it-at-all").status_code == 401
    clock.advance(hours=24, seconds=1)
    for _ in range(4):  # four more free failures: the first four are forgotten
        assert client.login("forgetful_1", "not-it-at-all").status_code == 401
    assert client.login("forgetful_1", "memory-lane-77x").status_code == 302


def test_one_client_spraying_names_is_slowed(web: WebDeployment, clock: Clock) -> None:
    _user(web, "office_1", "desk-secret-one")
    policy = web.services.sign_in.guard.policy
    sprayer = _client(web)
    for number in range(policy.client_failures):
        assert sprayer.login(f"name_{number}", "common-guess-1").status_code == 401
    blocked = sprayer.login("office_1", "desk-secret-one")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) <= policy.client_window.total_seconds() + 1
    # Another client is not affected; the sprayer may try again once the window is over.
    assert _client(web).login("office_1", "desk-secret-one").status_code == 302
    clock.advance(seconds=policy.client_window.total_seconds() + 1)
    assert sprayer.login("office_1", "desk-secret-one").status_code == 302


def test_the_backoff_holds_in_another_worker_and_after_a_restart(web: WebDeployment) -> None:
    _user(web, "durable_1", "lasting-secret-1")
    address = next(_addresses)
    client = _client(web, address)
    for _ in range(5):
        assert client.login("durable_1", "nope-nope-nope").status_code == 401
    # Another app on the same database, as another gunicorn worker or a restarted server is.
    other_store = Store(web.config.database_url)
    try:
        other = create_app(web.config, other_store)
        response = _client(web, address, other).login("durable_1", "lasting-secret-1")
        assert response.status_code == 429
    finally:
        other_store.dispose()


def test_rows_expire_and_are_purged(web: WebDeployment, clock: Clock) -> None:
    client = _client(web)
    for number in range(3):
        client.login(f"purge_{number}", "purge-guess-1")
    guard = web.services.sign_in.guard
    digests = [guard.name_digest(f"purge_{number}") for number in range(3)]

    def rows_of_the_pairs() -> int:
        with web.store.reader() as session:
            found = session.scalars(
                select(SignInFailure).where(SignInFailure.name_digest.in_(digests))
            )
            return len(list(found))

    assert rows_of_the_pairs() == 3
    clock.advance(hours=24, seconds=1)
    _client(web).login("purge_late", "purge-guess-1")  # a failure purges what has expired
    assert rows_of_the_pairs() == 0
    with web.store.reader() as session:
        left = session.scalars(select(SignInFailure)).all()
    assert left
    assert all(aware(row.expires_at) > clock.now for row in left)


def test_failures_are_audited_without_what_was_typed(web: WebDeployment) -> None:
    typed = "Nguyễn Thị Lan"  # someone typed a victim's name: it must go nowhere
    _client(web).login(typed, "my-secret-password-1")
    with web.store.reader() as session:
        entry = audit.recent(session, 1, "login.failed")[0]
    assert entry.actor == "anonymous"
    assert entry.detail == {"channel": "web", "reason": "unknown user"}
    assert typed not in str(entry.detail)
    assert "my-secret" not in str(entry.detail)
    with web.store.reader() as session:
        rows = session.scalars(select(SignInFailure)).all()
    stored = " ".join(f"{row.name_digest} {row.client_digest}" for row in rows)
    assert rows
    assert re.fullmatch(r"[0-9a-f ]*", stored)


def test_a_password_reset_lifts_the_backoff(web: WebDeployment) -> None:
    user_id = _user(web, "forgot_1", "lost-secret-key1")
    client = _client(web)
    for _ in range(5):
        client.login("forgot_1", "which-one-was-it")
    page = web.client("admin").post(f"/admin/users/{user_id}/password").get_data(as_text=True)
    password = re.search(r'<code class="secret"[^>]*>([^<]+)</code>', page)
    assert password is not None
    assert client.login("forgot_1", password.group(1)).status_code == 302


# The client address behind a reverse proxy ----------------------------------------------


def _proxied_app(web: WebDeployment, setting: str) -> Flask:
    config = web.config.with_changes(trusted_proxies=TrustedProxies.parse(setting))
    return create_app(config, web.store)


def _login_via(client: WebClient, forwarded_for: str, name: str, password: str) -> int:
    return client.client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": client.token()},
        headers={"X-Forwarded-For": forwarded_for},
    ).status_code


def test_x_forwarded_for_is_ignored_without_the_setting(web: WebDeployment) -> None:
    _user(web, "spoofed_1", "masked-secret-1")
    attacker = _client(web)
    for number in range(5):  # a new made-up address each time: it does not help
        assert _login_via(attacker, f"203.0.113.{number}", "spoofed_1", "guess-xx-1") == 401
    assert _login_via(attacker, "203.0.113.99", "spoofed_1", "masked-secret-1") == 429


@pytest.mark.parametrize("setting", ["127.0.0.1", "127.0.0.0/8, ::1", "1"])
def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(web: WebDeployment, setting: str) -> None:
    name = f"proxied_{abs(hash(setting)) % 10_000}"
    _user(web, name, "relay-secret-1")
    app = _proxied_app(web, setting)
    # Everyone comes through the proxy on 127.0.0.1; the proxy appends the client it saw.
    attacker, victim = _client(web, "127.0.0.1", app), _client(web, "127.0.0.1", app)
    for _ in range(5):
        assert _login_via(attacker, "198.51.100.7, 203.0.113.66", name, "guess-yy-1") == 401
    assert _login_via(attacker, "203.0.113.66", name, "relay-secret-1") == 429
    # The attacker's own first entry is not believed: only the proxy's last one counts.
    assert _login_via(attacker, "203.0.113.67, 203.0.113.66", name, "relay-secret-1") == 429
    assert _login_via(victim, "203.0.113.8", name, "relay-secret-1") == 302


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(web: WebDeployment) -> None:
    _user(web, "peer_1", "fellow-secret-1")
    app = _proxied_app(web, "10.0.0.5")
    outsider = _client(web, "198.18.0.250", app)  # not the listed proxy
    for number in range(5):
        assert _login_via(outsider, f"203.0.113.{number}", "peer_1", "guess-zz-1") == 401
    assert _login_via(outsider, "203.0.113.200", "peer_1", "fellow-secret-1") == 429
    # The same header through the listed proxy names another client, which may sign in.
    through_proxy = _client(web, "10.0.0.5", app)
    assert _login_via(through_proxy, "203.0.113.200", "peer_1", "fellow-secret-1") == 302
