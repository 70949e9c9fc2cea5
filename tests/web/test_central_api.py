"""The /v1 API (ODK Central's subset): sign-in, forms, the OData feed, need-to-know, audit.

On the seeded web deployment (tests/web/builders.py): sup_a sees unit 01, sup_b unit 02, the
viewer aggregate figures only; the people have names, phones and documents (P3) that must
never appear in any answer.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import zipfile
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from server.clock import utcnow
from server.services import analyst_api
from server.store import audit
from tests.conftest import IDENTIFYING_TEST_VALUES
from tests.consenting import NOT_CONSENTING_CASE, give_data_use_consent
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


def query_token(body: dict[str, int]) -> str:
    """A $skiptoken as the server writes them, with any content."""
    return "01" + base64.urlsafe_b64encode(json.dumps(body).encode()).decode().replace("=", "%3D")


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


def test_viewer_gets_403_from_everything_with_rows(web: WebDeployment, tokens) -> None:
    client = web.app.test_client()
    for url in (
        "/v1/projects/1/forms",
        "/v1/projects/1/forms/vt01_intake",
        "/v1/projects/1/forms/vt01_intake/submissions",
        "/v1/projects/1/forms/vt01_intake/submissions.csv.zip",
        SVC,
        f"{SVC}/$metadata",
        f"{SVC}/Submissions",
        f"{SVC}/Submissions.minors",
    ):
        response = client.get(url, headers=tokens["viewer"])
        assert response.status_code == 403, url
        assert response.get_json()["code"] == "403.1"
    assert client.get("/v1/users/current", headers=tokens["viewer"]).status_code == 200


def test_the_person_without_data_use_consent_is_left_out(web: WebDeployment, tokens) -> None:
    rows = all_rows(web, tokens["admin"], f"{SVC}/Submissions")
    codes = {row["case_code"] for row in rows}
    assert "01-2025-aaaaaa" in codes
    assert "02-2025-bbbbbb" in codes
    assert NOT_CONSENTING_CASE not in codes
    minors = all_rows(web, tokens["admin"], f"{SVC}/Submissions.minors")
    assert [m["__id"].rsplit("/", 1)[-1] for m in minors] == ["minors[1]"]
    zipped = web.app.test_client().get(
        "/v1/projects/1/forms/vt01_intake/submissions.csv.zip", headers=tokens["admin"]
    )
    with zipfile.ZipFile(io.BytesIO(zipped.data)) as archive:
        main = archive.read("vt01_intake.csv").decode("utf-8")
    assert NOT_CONSENTING_CASE not in main
    assert "01-2025-aaaaaa" in main


def test_supervisor_of_unit_01_gets_no_unit_02_row_by_any_way(web: WebDeployment, tokens) -> None:
    theirs = {r["__id"] for r in all_rows(web, tokens["sup_b"], f"{SVC}/Submissions")}
    assert theirs
    for query in (
        "",
        "?$expand=*",
        "?$count=true&$top=1",
        "?$skip=1",
        "?$filter=__system/submissionDate gt 1970-01-01",
        "?$filter=__system/reviewState eq null or not (__system/reviewState eq null)",
        "?$select=__id,case_code",
    ):
        for table in ("Submissions", "Submissions.minors", "Submissions_minors"):
            if table != "Submissions" and ("expand" in query or "select" in query):
                continue
            text = json.dumps(all_rows(web, tokens["sup_a"], f"{SVC}/{table}{query}"))
            assert not any(instance in text for instance in theirs), (table, query)
            assert "02-2025-bbbbbb" not in text
    listed = get(web, tokens["sup_a"], "/v1/projects/1/forms/vt01_intake/submissions")
    assert not {item["instanceId"] for item in listed} & theirs
    zipped = web.app.test_client().get(
        "/v1/projects/1/forms/vt01_intake/submissions.csv.zip", headers=tokens["sup_a"]
    )
    assert b"02-2025-bbbbbb" not in zipped.data
    with zipfile.ZipFile(io.BytesIO(zipped.data)) as archive:
        assert not any(i.encode() in archive.read(n) for n in archive.namelist() for i in theirs)


def test_navigation_links_lead_to_the_rows_of_one_submission(web: WebDeployment, tokens) -> None:
    rows = all_rows(web, tokens["sup_a"], f"{SVC}/Submissions")
    with_minor = next(r for r in rows if r["case_code"] == "01-2025-aaaaaa")
    link = with_minor["minors@odata.navigationLink"]
    minors = get(web, tokens["sup_a"], f"{SVC}/{link}")["value"]
    assert [m["__Submissions-id"] for m in minors] == [with_minor["__id"]]
    one = get(web, tokens["sup_a"], f"{SVC}/{link.split('/')[0]}")["value"]
    assert [r["__id"] for r in one] == [with_minor["__id"]]
    # Another unit's submission is no row of sup_b's, whoever knows its id.
    assert get(web, tokens["sup_b"], f"{SVC}/{link}")["value"] == []
    assert get(web, tokens["sup_b"], f"{SVC}/{link.split('/')[0]}")["value"] == []
    client = web.app.test_client()
    assert client.get(f"{SVC}/Submissions/minors", headers=tokens["sup_a"]).status_code == 404
    nowhere = f"{SVC}/{link.split('/')[0]}/nowhere"
    assert client.get(nowhere, headers=tokens["sup_a"]).status_code == 404


def test_filter_count_select_and_paging(web: WebDeployment, tokens) -> None:
    headers = tokens["admin"]
    none = get(web, headers, f"{SVC}/Submissions?$filter=__system/submissionDate lt 2000-01-01")
    assert none["value"] == []
    approved = get(web, headers, f"{SVC}/Submissions?$filter=__system/reviewState eq 'approved'")
    assert approved["value"] == []
    everything = all_rows(web, headers, f"{SVC}/Submissions")
    counted = get(web, headers, f"{SVC}/Submissions?$count=true&$top=1")
    assert counted["@odata.count"] == len(everything) == 2
    assert len(counted["value"]) == 1
    assert "%24skiptoken=" in counted["@odata.nextLink"]
    assert [r["__id"] for r in all_rows(web, headers, f"{SVC}/Submissions?$top=1")] == [
        r["__id"] for r in everything
    ]
    skipped = get(web, headers, f"{SVC}/Submissions?$skip=1")
    assert [r["__id"] for r in skipped["value"]] == [everything[1]["__id"]]
    selected = get(
        web, headers, f"{SVC}/Submissions?$select=__id,meta/instanceID,__system/reviewState"
    )
    assert set(selected["value"][0]) == {"__id", "meta", "__system"}
    assert set(selected["value"][0]["__system"]) == {"reviewState"}
    client = web.app.test_client()
    for query, code in (
        ("$filter=case_code eq '01-2025-aaaaaa'", "501.1"),
        ("$filter=__system/submissionDate lt yesterday", "400.1"),
        ("$filter=(__system/submissionDate lt 2020-01-01", "400.1"),
        ("$filter=__system/reviewState gt 'approved'", "400.1"),
        ("$select=full_name", "400.1"),
        ("$select=nope", "400.1"),
        ("$expand=minors", "501.1"),
        ("$expand=*&$select=__id", "400.1"),
        ("$orderby=__id", "501.1"),
        ("$top=-1", "400.1"),
        ("$skiptoken=01bm9wZQ==", "400.1"),
        ("$skiptoken=" + query_token({"s": 2**40, "o": 0}), "400.1"),
        ("$filter=" + "(" * 600 + "__system/reviewState eq null" + ")" * 600, "400.1"),
        ("$filter=" + "not " * 100 + "__system/reviewState eq null", "400.1"),
    ):
        response = client.get(f"{SVC}/Submissions?{query}", headers=headers)
        assert response.get_json()["code"] == code, query
        assert "01-2025-aaaaaa" not in response.get_data(as_text=True)


def test_every_call_is_audited_with_user_form_filter_and_rows(web: WebDeployment, tokens) -> None:
    get(
        web,
        tokens["sup_a"],
        f"{SVC}/Submissions?$filter=__system/submissionDate ge 2001-02-03&$top=5",
    )
    with web.services.store.reader() as session:
        entry = audit.recent(session, limit=1, action="api.read")[0]
    assert entry.actor == "sup_a"
    assert entry.target == "form:vt01_intake"
    assert entry.detail["entity_set"] == "Submissions"
    assert entry.detail["filter"] == "__system/submissionDate ge 2001-02-03T00:00:00.000000Z"
    assert entry.detail["rows"] == 1  # unit 01, with consent: one submission
    get(web, tokens["sup_a"], f"{SVC}/$metadata")
    with web.services.store.reader() as session:
        assert audit.recent(session, limit=1, action="api.read")[0].detail["what"] == "metadata"


def test_metadata_is_well_formed_csdl_that_holds_together(web: WebDeployment, tokens) -> None:
    from lxml import etree

    text = get(web, tokens["admin"], f"{SVC}/$metadata")
    root = etree.fromstring(text.encode())
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    assert root.tag == "{http://docs.oasis-open.org/odata/ns/edmx}Edmx"
    assert root.get("Version") == "4.0"
    declared = {
        f"{schema.get('Namespace')}.{kind.get('Name')}"
        for schema in root.iter(f"{edm}Schema")
        for kind in schema
        if kind.tag in (f"{edm}EntityType", f"{edm}ComplexType")
    }
    for prop in root.iter(f"{edm}Property"):
        kind = prop.get("Type")
        assert kind.startswith("Edm.") or kind in declared, kind
    for nav in root.iter(f"{edm}NavigationProperty"):
        assert nav.get("Type").removeprefix("Collection(").removesuffix(")") in declared
    for entity in root.iter(f"{edm}EntityType"):
        key = entity.find(f"{edm}Key/{edm}PropertyRef").get("Name")
        assert entity.find(f"{edm}Property[@Name='{key}']") is not None
    sets = {s.get("Name"): s for s in root.iter(f"{edm}EntitySet")}
    assert set(sets) == {"Submissions", "Submissions_minors"}
    for entity_set in sets.values():
        assert entity_set.get("EntityType") in declared
        for binding in entity_set.iter(f"{edm}NavigationPropertyBinding"):
            assert binding.get("Target") in sets
    names = {p.get("Name") for p in root.iter(f"{edm}Property")}
    assert not names & {"full_name", "phone", "id_doc_number", "minor_name", "res_address_detail"}


def test_sign_in_back_off_counts_api_failures(web: WebDeployment) -> None:
    client = web.app.test_client()
    for _ in range(5):
        wrong = client.post("/v1/sessions", json={"email": "extra", "password": "not-it"})
        assert wrong.status_code == 401
    right = client.post("/v1/sessions", json={"email": "extra", "password": PASSWORDS["extra"]})
    assert right.status_code == 429
    assert right.get_json()["code"] == "429.1"
    assert "token" not in right.get_json()
    assert client.post("/v1/sessions", data="x").status_code == 400


def test_http_basic_only_when_switched_on(web: WebDeployment) -> None:
    from server.app import create_app

    basic = {
        "Authorization": "Basic "
        + base64.b64encode(b"sup_a:" + PASSWORDS["sup_a"].encode()).decode()
    }
    off = web.app.test_client().get(f"{SVC}/Submissions", headers=basic)
    assert off.status_code == 401
    assert off.headers["WWW-Authenticate"].startswith("Bearer")
    app = create_app(dataclasses.replace(web.config, odata_basic=True), web.store)
    client = app.test_client()
    assert client.get(SVC).headers["WWW-Authenticate"].startswith("Basic")
    on = client.get(f"{SVC}/Submissions", headers=basic)
    assert on.status_code == 200
    assert {r["case_code"] for r in on.get_json()["value"]} == {"01-2025-aaaaaa"}
    # Basic is for the feed only, not the REST paths.
    assert client.get("/v1/projects/1/forms", headers=basic).status_code == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"sup_b:wrong-one").decode()}
    assert client.get(SVC, headers=wrong).status_code == 401
    with web.services.store.reader() as session:
        failed = audit.recent(session, limit=1, action="login.failed")[0]
    assert failed.detail["channel"] == analyst_api.CHANNEL_ODATA_BASIC


def test_an_expired_or_ended_token_is_refused(web: WebDeployment) -> None:
    headers = bearer(web, "sup_a")
    token = headers["Authorization"].split()[1]
    later = utcnow() + analyst_api.TOKEN_LIFETIME + timedelta(minutes=1)
    assert analyst_api.resume(web.services.store, token, later) is None
    assert web.app.test_client().get("/v1/users/current", headers=headers).status_code == 401
    other = bearer(web, "sup_a")
    client = web.app.test_client()
    assert (
        client.delete(
            f"/v1/sessions/{other['Authorization'].split()[1]}", headers=other
        ).status_code
        == 200
    )
    assert client.get("/v1/users/current", headers=other).status_code == 401


def test_superseded_and_undecrypted_submissions_are_left_out(web: WebDeployment, tokens) -> None:
    """Last in the module: it adds submissions. As the CSV export, the feed gives neither a
    submission replaced by an edit nor one not decrypted (yet)."""
    from server.store import forms as form_store
    from server.store.models import Submission

    with web.store.session() as session:
        form = form_store.by_xml_form_id(session, "vt01_intake")
        version = form_store.current_version(session, form.id)
        made = {}
        for instance, state in (
            ("uuid:superseded-one", "decrypted"),
            ("uuid:edit-of-it", "decrypted"),
            ("uuid:not-yet", "pending"),
        ):
            submission = Submission(
                form_id=form.id,
                form_version_id=version.id,
                instance_id=instance,
                manifest_sha256="0" * 64,
                encrypted=True,
                decrypt_state=state,
                review_state="received",
                data={"sex": "female", "meta": {"instanceID": instance}},
                province_code="01",
            )
            session.add(submission)
            session.flush()
            made[instance] = submission
        made["uuid:superseded-one"].superseded_by_id = made["uuid:edit-of-it"].id
    ids = {r["__id"] for r in all_rows(web, tokens["admin"], f"{SVC}/Submissions?$top=2")}
    assert "uuid:edit-of-it" in ids
    assert "uuid:superseded-one" not in ids
    assert "uuid:not-yet" not in ids
    counted = get(web, tokens["admin"], f"{SVC}/Submissions?$count=true&$top=0")
    assert counted["@odata.count"] == len(ids)
    assert counted["value"] == []


ROWS = {"anonymous": 401, "viewer": 403, "sup_a": 200, "sup_b": 200, "admin": 200}
SIGNED_IN = {"anonymous": 401, "viewer": 200, "sup_a": 200, "sup_b": 200, "admin": 200}
# Every /v1 route x every kind of bearer: a new route without a rule here fails.
API_MATRIX = {
    ("api.sign_in", "POST"): dict.fromkeys(ROWS, 400),  # an empty body
    ("api.sign_out", "DELETE"): {**dict.fromkeys(ROWS, 404), "anonymous": 401},  # not theirs
    ("api.current_user", "GET"): SIGNED_IN,
    ("api.projects", "GET"): SIGNED_IN,
    ("api.project", "GET"): SIGNED_IN,
    ("api.forms", "GET"): ROWS,
    ("api.form", "GET"): ROWS,
    ("api.submissions", "GET"): ROWS,
    ("api.submissions_zip", "GET"): ROWS,
    ("api.service_document", "GET"): ROWS,
    ("api.metadata", "GET"): ROWS,
    ("api.entity_set", "GET"): ROWS,
    ("api.navigation", "GET"): ROWS,
}


def test_every_api_route_by_every_bearer(web: WebDeployment, tokens) -> None:
    routes = [
        (rule.endpoint, method, rule.rule)
        for rule in web.app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]
    assert {(e, m) for e, m, _ in routes} == set(API_MATRIX)
    values = {
        "project_id": "1",
        "form_id": "vt01_intake",
        "table_name": "Submissions('uuid:x')",
        "token": "not-a-token",
        "navigation": "minors",
    }
    failures = []
    client = web.app.test_client()
    for endpoint, method, rule in routes:
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: values[m.group(1)], rule)
        for principal, expected in API_MATRIX[(endpoint, method)].items():
            headers = {} if principal == "anonymous" else tokens[principal]
            response = client.open(url, method=method, headers=headers)
            if response.status_code != expected:
                failures.append(f"{principal} {method} {url}: {response.status_code} != {expected}")
    assert not failures, "\n".join(failures)
    # Another project does not exist.
    assert client.get("/v1/projects/2/forms", headers=tokens["admin"]).status_code == 404
