"""The real pyodk (from PyPI) and a real OData v4 client (python-odata) against a real
`fieldcase serve`: sign-in with a config file, the form list, paged and expanded tables whose
rows are the CSV export's rows for the same user, and a $metadata an OData client reads.

Seeded as the web tests are (tests/web/builders.py): sup_a sees unit 01, sup_b unit 02.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests
from odata import ODataService
from pyodk.client import Client

from server.app import create_app
from server.app_context import SERVICES_KEY
from server.clock import utcnow
from server.config import Config
from server.store.db import Store
from tests.conftest import IDENTIFYING_TEST_VALUES, env_for
from tests.consenting import NOT_CONSENTING_CASE, give_data_use_consent
from tests.serving import ServerProcess
from tests.web.builders import PASSWORDS, seed

pytestmark = pytest.mark.slow

FORM = "vt01_intake"
META_HEADERS = {"SubmissionDate", "KEY", "SubmitterName", "ReviewState", "Signature"}


@pytest.fixture
def server(config: Config, store: Store, tmp_path: Path):
    app = create_app(config, store)
    seed(config, store, app.extensions[SERVICES_KEY], utcnow().date())
    give_data_use_consent(store)
    process = ServerProcess(
        {**env_for(config), "FIELDCASE_WORKERS": "1"}, log_path=tmp_path / "log"
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def client_for(server: ServerProcess, tmp_path: Path, username: str) -> Client:
    config_file = tmp_path / f"{username}.toml"
    config_file.write_text(
        "[central]\n"
        f'base_url = "{server.url}"\n'
        f'username = "{username}"\n'
        f'password = "{PASSWORDS[username]}"\n'
        "default_project_id = 1\n",
        encoding="utf-8",
    )
    return Client(config_path=config_file, cache_path=tmp_path / f"{username}-cache.toml")


def flat(row: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """An OData row as CSV cells: groups joined with "-", None as ""."""
    cells: dict[str, str] = {}
    for name, value in row.items():
        if name.startswith("__") or "@odata" in name:
            continue
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            cells.update(flat(value, f"{key}-"))
        elif not isinstance(value, list):
            cells[key] = "" if value is None else str(value)
    return cells


def csv_tables(client: Client) -> dict[str, list[dict[str, str]]]:
    response = client.session.get(f"projects/1/forms/{FORM}/submissions.csv.zip")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {
            name: list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
            for name in archive.namelist()
            if name.endswith(".csv")
        }


def paged(client: Client, table: str, top: int, **options: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = client.submissions.get_table(
            form_id=FORM, table_name=table, top=top, skip=len(rows), **options
        )
        rows += page["value"]
        if len(page["value"]) < top:
            return rows


def test_pyodk_reads_the_csv_exports_rows(server: ServerProcess, tmp_path: Path) -> None:
    client = client_for(server, tmp_path, "sup_a")
    with client:
        forms = {form.xmlFormId: form for form in client.forms.list()}
        assert FORM in forms
        assert forms[FORM].projectId == 1
        assert [p.id for p in client.projects.list()] == [1]

        rows = paged(client, "Submissions", top=1, count=True)
        tables = csv_tables(client)
        main = tables[f"{FORM}.csv"]
        assert rows
        assert len(rows) == len(main)
        # The person who did not consent to data use is in neither.
        assert all(row["case_code"] != NOT_CONSENTING_CASE for row in rows)
        assert all(line["case_code"] != NOT_CONSENTING_CASE for line in main)
        by_key = {row["__id"]: row for row in rows}
        for line in main:
            row = by_key[line["KEY"]]
            cells = flat(row)
            for header, value in line.items():
                if header in META_HEADERS or header == "FormVersion":
                    continue
                assert cells[header] == value, header
            assert row["__system"]["submissionDate"] == line["SubmissionDate"]
            assert row["__system"]["formVersion"] == line["FormVersion"]

        minors = paged(client, "Submissions.minors", top=1)
        minors_csv = tables[f"{FORM}-minors.csv"]
        assert minors
        assert len(minors) == len(minors_csv)
        for item, line in zip(minors, minors_csv, strict=True):
            assert item["__id"] == line["KEY"]
            assert item["__Submissions-id"] == line["PARENT_KEY"]
            cells = flat(item, "minors-")  # CSV headers are paths from the root
            assert all(cells[h] == v for h, v in line.items() if h not in ("KEY", "PARENT_KEY"))

        expanded = client.submissions.get_table(form_id=FORM, expand="*")["value"]
        inline = [m for row in expanded for m in row.get("minors", [])]
        assert [m["__id"] for m in inline] == [m["__id"] for m in minors]

        # A cached token is checked with users/current and used again by a second client.
        again = client_for(server, tmp_path, "sup_a")
        with again:
            assert len(again.submissions.get_table(form_id=FORM)["value"]) == len(rows)


def test_no_unit_02_row_reaches_a_unit_01_supervisor(server: ServerProcess, tmp_path: Path) -> None:
    with client_for(server, tmp_path, "sup_b") as other:
        theirs = {r["__id"] for r in other.submissions.get_table(form_id=FORM)["value"]}
        their_minors = {
            r["__id"]
            for r in other.submissions.get_table(form_id=FORM, table_name="Submissions.minors")[
                "value"
            ]
        }
    assert theirs
    with client_for(server, tmp_path, "sup_a") as client:
        for table in ("Submissions", "Submissions.minors"):
            for options in (
                {},
                {"expand": "*"},
                {"filter": "__system/submissionDate gt 2000-01-01"},
                {"filter": "__system/reviewState eq null or __system/reviewState ne null"},
                {"filter": "not (__system/submissionDate lt 2000-01-01)"},
                {"filter": "$root/Submissions/__system/submissionDate ge 1970-01-01T00:00:00Z"},
                {"skip": 0, "top": 100, "count": True},
            ):
                if table != "Submissions" and "expand" in options:
                    continue
                response = client.session.get(
                    f"projects/1/forms/{FORM}.svc/{table}",
                    params={
                        f"${k}": str(v).lower() if isinstance(v, bool) else v
                        for k, v in options.items()
                    },
                )
                assert response.status_code == 200, (table, options, response.text[:300])
                text = response.text
                ids = {row["__id"] for row in response.json()["value"]}
                assert not ids & (theirs | their_minors), (table, options)
                assert not any(t in text for t in theirs), (table, options)
                for value in IDENTIFYING_TEST_VALUES:
                    assert value not in text


def test_metadata_is_read_by_an_odata_client(server: ServerProcess, tmp_path: Path) -> None:
    with client_for(server, tmp_path, "sup_a") as client:
        token = client.session.headers["Authorization"]
    session = requests.Session()
    session.headers["Authorization"] = token
    service = ODataService(
        f"{server.url}/v1/projects/1/forms/{FORM}.svc/",
        session=session,
        reflect_entities=True,
        quiet_progress=True,
    )
    names = set(service.entities)
    assert {"Submissions", "Submissions_minors"} <= names
    submissions = service.entities["Submissions"]
    assert hasattr(submissions, "case_code")
    assert not hasattr(submissions, "full_name")
