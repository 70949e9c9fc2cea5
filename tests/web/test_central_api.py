"""The /v1 API (ODK Central's subset): sign-in, forms, the OData feed, need-to-know, audit.

On the seeded web deployment (tests/web/builders.py): sup_a sees unit 01, sup_b unit 02, the
viewer aggregate figures only; the people have names, phones and documents (P3) that must
never appear in any answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from server.services import analyst_api
from server.store import audit
from tests.conftest import IDENTIFYING_TEST_VALUES
from tests.consenting import give_data_use_consent
from tests.web.builders import PASSWORDS
from tests.web.conftest import WebDeployment

SVC = "/v1/projects/1/forms/vt01_intake.svc"


def bearer(web: WebDeployment, username: str) -> dict[str, str]:
    client = web.app.test_client()
    response = client.post(
        "/v1/sessions", json={"email": username, "password": PASSWORDS[username]}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


@pytest.fixture(scope="module")
def tokens(web: WebDeployment) -> dict[str, dict[str, str]]:
    give_data_use_consent(web.store)
    return {name: bearer(web, name) for name in ("admin", "sup_a", "sup_b", "viewer")}


def get(web: WebDeployment, headers: dict[str, str], url: str) -> Any:
    response = web.app.test_client().get(url, headers=headers)
    assert response.status_code == 200, (url, response.get_data(as_text=True)[:400])
    text = response.get_data(as_text=True)
    for value in IDENTIFYING_TEST_VALUES:
        assert value not in text, url
    return response.get_json() if "json" in response.content_type else text


def all_rows(web: WebDeployment, headers: dict[str, str], url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while url:
        page = get(web, headers, url)
        rows += page["value"]
        link = page.get("@odata.nextLink")
        url = (urlsplit(link).path + "?" + urlsplit(link).query) if link else ""
    return rows


def test_sign_in_answers_as_central_and_is_audited(web: WebDeployment) -> None:
    client: FlaskClient = web.app.test_client()
    response = client.post("/v1/sessions", json={"email": "sup_a", "password": PASSWORDS["sup_a"]})
    body = response.get_json()
    assert response.status_code == 200
    assert set(body) == {"token", "createdAt", "expiresAt"}
    me = client.get("/v1/users/current", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.get_json()["displayName"] == "sup_a"
    wrong = client.post("/v1/sessions", json={"email": "sup_a", "password": "wrong-password"})
    assert wrong.status_code == 401
    assert wrong.get_json()["code"] == "401.2"
    with web.services.store.reader() as session:
        failed = audit.recent(session, limit=5, action="login.failed")[0]
    assert failed.detail["channel"] == analyst_api.CHANNEL_API
    assert client.get("/v1/users/current").status_code == 401
    assert (
        client.get("/v1/users/current", headers={"Authorization": "Bearer nope"}).status_code == 401
    )


def test_the_service_document_and_metadata(web: WebDeployment, tokens) -> None:
    service = get(web, tokens["sup_a"], SVC)
    urls = [entry["url"] for entry in service["value"]]
    assert urls[0] == "Submissions"
    assert "Submissions.minors" in urls
    metadata = get(web, tokens["sup_a"], f"{SVC}/$metadata")
    assert "full_name" not in metadata
    assert "NavigationProperty" in metadata


def test_supervisor_rows_are_their_units_only(web: WebDeployment, tokens) -> None:
    rows_a = all_rows(web, tokens["sup_a"], f"{SVC}/Submissions?$top=1")
    rows_b = all_rows(web, tokens["sup_b"], f"{SVC}/Submissions")
    ids_a = {row["__id"] for row in rows_a}
    ids_b = {row["__id"] for row in rows_b}
    assert ids_a
    assert ids_b
    assert not ids_a & ids_b
    minors = all_rows(web, tokens["sup_a"], f"{SVC}/Submissions.minors?$top=1")
    assert all(m["__Submissions-id"] in ids_a for m in minors)
