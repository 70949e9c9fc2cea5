"""HTTP Basic on the OpenRosa API: collector accounts only, through the same sign-in guard as
the web login (one verification, back-off, audit), stopped at once by revocation; and a phone
that sends Basic as ODK Collect does (after the 401 challenge)."""

from __future__ import annotations

import base64
import time

from server.security.passwords import hash_password
from server.services import collectors as collector_service
from server.store import audit
from server.store import users as user_store
from tests.conftest import TEST_ADMIN_PASSWORD
from tests.factories import Deployment, plain_instance, post_submission, services_of
from tests.hashing import counting_verifications
from tests.web.conftest import csrf_of

OR = {"X-OpenRosa-Version": "1.0"}


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", **OR}


def _basic_collector(deployment: Deployment, name: str = "thu") -> tuple[int, str]:
    services = services_of(deployment.app)
    with services.store.session() as session:
        created = collector_service.create(
            session, "http://127.0.0.1:8080", name, "01", "test", basic=True
        )
    assert created.password is not None
    assert created.token is None  # nothing of a token URL is shown for a Basic collector
    return created.collector.id, created.password


def _web_login(deployment: Deployment, name: str, password: str) -> int:
    client = deployment.app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token}
    ).status_code


def test_a_collector_account_sends_with_basic_after_the_challenge(
    deployment: Deployment,
) -> None:
    _, password = _basic_collector(deployment)
    client = deployment.client
    challenge = client.head("/submission", headers=OR)
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"] == 'Basic realm="fieldcase", charset="UTF-8"'
    assert client.head("/submission", headers=_basic("thu", password)).status_code == 204
    listed = client.get("/formList", headers=_basic("Thu", password))  # names ignore case
    assert listed.status_code == 200
    assert "<formID>vt_test</formID>" in listed.get_data(as_text=True)
    assert client.get("/formList", headers=_basic("thu", "wrong-password-1")).status_code == 401


def test_a_collector_account_cannot_sign_in_to_the_web(deployment: Deployment) -> None:
    _, password = _basic_collector(deployment)
    assert _web_login(deployment, "thu", password) == 401


def test_revocation_stops_basic_at_once(deployment: Deployment) -> None:
    collector_id, password = _basic_collector(deployment)
    client = deployment.client
    assert client.get("/formList", headers=_basic("thu", password)).status_code == 200
    with services_of(deployment.app).store.session() as session:
        collector_service.revoke(session, collector_id, "test")
    # The password was verified a moment ago and remembered: revocation still wins.
    response = client.get("/formList", headers=_basic("thu", password))
    assert response.status_code == 401
    assert client.head("/submission", headers=_basic("thu", password)).status_code == 401


def test_a_remembered_verification_ends_with_the_password(deployment: Deployment) -> None:
    _collector_id, password = _basic_collector(deployment)
    client = deployment.client
    with counting_verifications(cheap=False) as hasher:
        for _ in range(3):
            assert client.get("/formList", headers=_basic("thu", password)).status_code == 200
    assert hasher.verifications == 1  # a phone pays for one verification, not one a request
    services = services_of(deployment.app)
    with services.store.session() as session:
        account = user_store.by_username(session, "thu")
        assert account is not None
        account.password_hash = hash_password("a-new-phone-password")
    assert client.get("/formList", headers=_basic("thu", password)).status_code == 401
    new = client.get("/formList", headers=_basic("thu", "a-new-phone-password"))
    assert new.status_code == 200


def test_every_basic_attempt_runs_one_verification(deployment: Deployment) -> None:
    _, _password = _basic_collector(deployment)
    with services_of(deployment.app).store.session() as session:
        user_store.add(session, "sup", hash_password("sup-long-password"), "supervisor")
    for name, guess in [
        ("nobody", "some-guess-1"),
        ("sup", "sup-long-password"),  # the right password of a web account
        ("thu", "some-guess-1"),
        ("admin", TEST_ADMIN_PASSWORD),
    ]:
        with counting_verifications(cheap=False) as hasher:
            response = deployment.client.get("/formList", headers=_basic(name, guess))
        assert response.status_code == 401, name
        assert hasher.verifications == 1, name


def test_no_timing_tells_a_web_account_from_an_unknown_name(deployment: Deployment) -> None:
    with services_of(deployment.app).store.session() as session:
        user_store.add(session, "sup", hash_password("sup-long-password"), "supervisor")
    client = deployment.client
    cases = {"right password of a supervisor": ("sup", "sup-long-password")}
    cases["wrong password"] = ("sup", "not-the-password")
    cases["unknown name"] = ("nosuchuser", "sup-long-password")
    timings: dict[str, list[float]] = {label: [] for label in cases}
    for round_number in range(6):  # interleaved, each from its own address (no back-off)
        for label, (name, password) in cases.items():
            client.environ_base["REMOTE_ADDR"] = f"192.0.{round_number}.{len(timings[label])}"
            client.environ_base["REMOTE_ADDR"] += str(list(cases).index(label))
            started = time.perf_counter()
            assert client.get("/formList", headers=_basic(name, password)).status_code == 401
            timings[label].append(time.perf_counter() - started)
    # The quickest of each: what the work costs, without the noise of a machine shared with
    # other jobs. A skipped verification would take a few milliseconds against ~0.2 s.
    quickest = {label: min(values) for label, values in timings.items()}
    assert max(quickest.values()) < 2 * min(quickest.values()) + 0.05, quickest


def test_basic_failures_share_the_web_logins_backoff(deployment: Deployment) -> None:
    _, password = _basic_collector(deployment)
    client = deployment.client
    for _ in range(3):
        assert client.get("/formList", headers=_basic("thu", "guess-guess-1")).status_code == 401
    assert _web_login(deployment, "thu", "guess-guess-1") == 401
    assert _web_login(deployment, "thu", "guess-guess-1") == 401  # the fifth: a wait starts
    refused = client.get("/formList", headers=_basic("thu", password))
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 61
    assert "Thử quá nhiều lần. Hãy thử lại sau. / Too many attempts" in refused.get_data(
        as_text=True
    )
    # The phone of another address is not held up.
    client.environ_base["REMOTE_ADDR"] = "192.0.2.77"
    assert client.get("/formList", headers=_basic("thu", password)).status_code == 200


def test_basic_failures_are_audited_without_the_typed_name(deployment: Deployment) -> None:
    _basic_collector(deployment)
    client = deployment.client
    client.get("/formList", headers=_basic("Trần Văn Bình", "a-typed-password"))
    client.get("/formList", headers=_basic("thu", "a-typed-password"))
    with services_of(deployment.app).store.reader() as session:
        entries = audit.browse(session, action="login.failed", limit=2)
    known, unknown = entries
    assert unknown.actor == "anonymous"
    assert unknown.target is None
    assert unknown.detail == {"channel": "openrosa", "reason": "unknown user"}
    assert known.actor == "thu"
    assert known.detail == {"channel": "openrosa", "reason": "wrong password"}
    assert "a-typed-password" not in str([e.detail for e in entries])


def test_a_basic_collector_submits_like_any_phone(deployment: Deployment) -> None:
    _, password = _basic_collector(deployment)
    xml = plain_instance()
    first = post_submission(deployment.client, "", xml, headers=_basic("thu", password))
    assert first.status_code == 201, first.get_data(as_text=True)
    again = post_submission(deployment.client, "", xml, headers=_basic("thu", password))
    assert again.status_code == 202
