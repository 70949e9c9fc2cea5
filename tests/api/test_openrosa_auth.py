"""Who may talk to the OpenRosa API: collector tokens, collector accounts, nobody else."""

from __future__ import annotations

import base64

from server.security.passwords import hash_password
from server.services import collectors as collector_service
from server.store import collectors as collector_store
from server.store import forms as form_store
from server.store import users as user_store
from tests.conftest import TEST_ADMIN_PASSWORD
from tests.factories import Deployment, services_of

OR = {"X-OpenRosa-Version": "1.0"}


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", **OR}


def test_unknown_token_is_refused(deployment: Deployment) -> None:
    response = deployment.client.get("/c/not-a-token/formList", headers=OR)
    assert response.status_code == 403
    assert "not valid or has been revoked" in response.get_data(as_text=True)


def test_revoked_collector_is_stopped_at_once(deployment: Deployment) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    assert client.get(f"{prefix}/formList", headers=OR).status_code == 200
    services = services_of(deployment.app)
    with services.store.session() as session:
        collector_service.revoke(session, deployment.collector_id, "test")
    assert client.get(f"{prefix}/formList", headers=OR).status_code == 403
    assert client.head(f"{prefix}/submission", headers=OR).status_code == 403


def test_basic_auth_challenge_then_access(deployment: Deployment) -> None:
    services = services_of(deployment.app)
    with services.store.session() as session:
        user = user_store.add(session, "thu", hash_password("a-long-password-1"), "collector")
        collector = collector_store.add(session, "thu-phone", "x" * 64, "01", user_id=user.id)
        for form in form_store.all_forms(session):
            form_store.assign(session, collector.id, form.id)
    client = deployment.client
    challenge = client.head("/submission", headers=OR)
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"].startswith('Basic realm="fieldcase"')
    assert client.get("/formList", headers=_basic("thu", "wrong")).status_code == 401
    ok = client.get("/formList", headers=_basic("thu", "a-long-password-1"))
    assert ok.status_code == 200
    assert "<formID>vt_test</formID>" in ok.get_data(as_text=True)


def test_web_users_may_not_use_the_openrosa_api(deployment: Deployment) -> None:
    # Was 403 for the right password of a web account, 401 for a wrong one: a password oracle
    # for supervisors and admins. Now any account but a collector's gets the 401 of a wrong
    # password, byte for byte.
    services = services_of(deployment.app)
    with services.store.session() as session:
        user_store.add(session, "sup", hash_password("a-long-password-2"), "supervisor")
    client = deployment.client
    right = client.get("/formList", headers=_basic("sup", "a-long-password-2"))
    wrong = client.get("/formList", headers=_basic("sup", "not-the-password"))
    unknown = client.get("/formList", headers=_basic("sux", "a-long-password-2"))
    for response in (right, wrong, unknown):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]
        assert response.get_data() == wrong.get_data()
    admin = client.get("/formList", headers=_basic("admin", TEST_ADMIN_PASSWORD))
    assert admin.status_code == 401
    assert admin.get_data() == wrong.get_data()


def test_collect_settings_qr_payload_round_trips() -> None:
    settings = collector_service.collect_settings("https://x.example/c/tok", "fieldcase")
    payload = collector_service.collect_qr_payload(settings)
    assert collector_service.decode_qr_payload(payload) == settings
    assert settings["general"]["delete_send"] is True
    assert collector_service.qr_code(payload, "svg").startswith(b"<svg")
    assert collector_service.qr_code(payload, "png").startswith(b"\x89PNG")
