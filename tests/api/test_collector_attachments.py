"""Per-collector attachments: a form carries a placeholder `collector.csv`; each collector's
manifest and download give that collector's own unit (and its province's hotline), with the
MD5 of that content, so a phone's defaults follow its collector and nobody else's."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from forms.compiler import MEDIA_DIR
from server.app import create_app
from server.services import collectors as collector_service
from server.services.collector_attachments import COLLECTOR_COLUMNS, COLLECTOR_FILE
from server.services.setup import initialise
from tests.factories import (
    Deployment,
    add_collector,
    add_unchecked_collector,
    publish,
    services_of,
    simple_xform,
)

OR = {"X-OpenRosa-Version": "1.0"}
PLACEHOLDER = (MEDIA_DIR / COLLECTOR_FILE).read_bytes()
UNITS = "name,label\n01,Thành phố Hà Nội\n".encode()


def _manifest(client: FlaskClient, prefix: str, form_id: str = "vt_test") -> dict[str, tuple]:
    response = client.get(f"{prefix}/forms/{form_id}/manifest", headers=OR)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    entries = re.findall(
        r"<filename>([^<]+)</filename><hash>md5:([0-9a-f]+)</hash>"
        r"<downloadUrl>http://127.0.0.1:8080([^<]+)</downloadUrl>",
        body,
    )
    return {name: (md5, url) for name, md5, url in entries}


def _collector_file(client: FlaskClient, prefix: str) -> tuple[dict[str, str], str, str]:
    """(the row, the manifest's md5, the md5 of what was downloaded)."""
    md5, url = _manifest(client, prefix)[COLLECTOR_FILE]
    response = client.get(url, headers=OR)
    assert response.status_code == 200
    assert "private" in response.headers["Cache-Control"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    return rows[0], md5, hashlib.md5(response.data).hexdigest()


@pytest.fixture
def with_collector_file(deployment: Deployment) -> Deployment:
    publish(
        deployment.app,
        simple_xform(version="2"),
        {"admin_units.csv": UNITS, COLLECTOR_FILE: PLACEHOLDER},
    )
    return deployment


def test_the_placeholder_has_the_columns_the_server_fills() -> None:
    header = next(csv.reader(io.StringIO(PLACEHOLDER.decode("utf-8"))))
    assert tuple(header) == COLLECTOR_COLUMNS


def test_each_collector_gets_its_own_unit(with_collector_file: Deployment) -> None:
    app, client = with_collector_file.app, with_collector_file.client
    province_token, _ = add_collector(app, "phone-01-b", unit="01")
    commune_token, _ = add_collector(app, "phone-00004", unit="00004")
    other_token, _ = add_collector(app, "phone-22", unit="22")
    none_token, _ = add_unchecked_collector(app, "phone-no-unit", unit=None)

    row, listed, served = _collector_file(client, f"/c/{province_token}")
    assert row == {
        "unit_code": "01",
        "province_code": "01",
        "commune_code": "",
        "province_hotline": "",
    }
    assert listed == served  # the manifest's hash is that of this collector's content
    assert listed != hashlib.md5(PLACEHOLDER).hexdigest()
    row, listed_commune, served = _collector_file(client, f"/c/{commune_token}")
    assert row == {
        "unit_code": "00004",
        "province_code": "01",  # from the admin units list
        "commune_code": "00004",
        "province_hotline": "",
    }
    assert listed_commune == served != listed
    row, _, _ = _collector_file(client, f"/c/{other_token}")
    assert (row["province_code"], row["commune_code"]) == ("22", "")
    row, _, _ = _collector_file(client, f"/c/{none_token}")
    assert set(row.values()) == {""}  # no unit: no default, nothing to check against
    # the other files are the form version's own, the same for everyone
    units_md5 = hashlib.md5(UNITS).hexdigest()
    assert _manifest(client, f"/c/{province_token}")["admin_units.csv"][0] == units_md5
    assert _manifest(client, f"/c/{commune_token}")["admin_units.csv"][0] == units_md5


def test_a_province_hotline_reaches_only_that_province(config, store, tmp_path: Path) -> None:
    configured = replace(config, province_hotlines={"22": "0203 3000 111"})
    app: Flask = create_app(configured, store)
    initialise(configured, store)
    publish(app, simple_xform(), {COLLECTOR_FILE: PLACEHOLDER})
    quang_ninh, _ = add_collector(app, "phone-06712", unit="06712")  # Móng Cái 1, province 22
    ha_noi, _ = add_collector(app, "phone-01", unit="01")
    client = app.test_client()
    row, _, _ = _collector_file(client, f"/c/{quang_ninh}")
    assert (row["province_code"], row["province_hotline"]) == ("22", "0203 3000 111")
    row, _, _ = _collector_file(client, f"/c/{ha_noi}")
    assert row["province_hotline"] == ""


def test_a_revoked_collector_gets_nothing(with_collector_file: Deployment) -> None:
    app, client, prefix = (
        with_collector_file.app,
        with_collector_file.client,
        with_collector_file.url_prefix,
    )
    _, url = _manifest(client, prefix)[COLLECTOR_FILE]
    services = services_of(app)
    with services.store.session() as session:
        collector_service.revoke(session, with_collector_file.collector_id, "test")
    assert client.get(f"{prefix}/forms/vt_test/manifest", headers=OR).status_code == 403
    response = client.get(url, headers=OR)
    assert response.status_code == 403
    assert "province_code" not in response.get_data(as_text=True)


def test_a_form_without_the_file_lists_none_and_unknown_names_are_404(
    deployment: Deployment,
) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    assert COLLECTOR_FILE not in _manifest(client, prefix)  # vt_test v1 carries no such file
    response = client.get(f"{prefix}/forms/vt_test/attachments/{COLLECTOR_FILE}", headers=OR)
    assert response.status_code == 404
