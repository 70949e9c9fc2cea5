"""Form discovery as ODK Collect does it: formList, form download, manifest, media."""

from __future__ import annotations

import hashlib
import re

from tests.factories import Deployment, publish, simple_xform

OR = {"X-OpenRosa-Version": "1.0"}


def test_form_list_shows_assigned_forms(deployment: Deployment) -> None:
    response = deployment.client.get(f"{deployment.url_prefix}/formList", headers=OR)
    assert response.status_code == 200
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert response.content_type == "text/xml; charset=utf-8"
    body = response.get_data(as_text=True)
    md5 = hashlib.md5(simple_xform().encode()).hexdigest()
    assert '<xforms xmlns="http://openrosa.org/xforms/xformsList">' in body
    assert "<formID>vt_test</formID>" in body
    assert "<name>Biểu mẫu thử</name>" in body
    assert "<version>1</version>" in body
    assert f"<hash>md5:{md5}</hash>" in body
    assert (
        f"<downloadUrl>http://127.0.0.1:8080{deployment.url_prefix}/forms/vt_test/form.xml"
        "</downloadUrl>"
    ) in body
    assert f"{deployment.url_prefix}/forms/vt_test/manifest</manifestUrl>" in body


def test_form_list_filter_by_form_id(deployment: Deployment) -> None:
    response = deployment.client.get(f"{deployment.url_prefix}/formList?formID=other")
    assert "<xform>" not in response.get_data(as_text=True)


def test_form_download_and_manifest(deployment: Deployment) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    form = client.get(f"{prefix}/forms/vt_test/form.xml", headers=OR)
    assert form.status_code == 200
    assert form.get_data(as_text=True) == simple_xform()
    manifest = client.get(f"{prefix}/forms/vt_test/manifest", headers=OR).get_data(as_text=True)
    csv = "code,name\n01,Hà Nội\n".encode()
    assert "<filename>admin_units.csv</filename>" in manifest
    assert f"<hash>md5:{hashlib.md5(csv).hexdigest()}</hash>" in manifest
    url = re.search(r"<downloadUrl>http://127.0.0.1:8080([^<]+)</downloadUrl>", manifest)
    assert url is not None
    media = client.get(url.group(1), headers=OR)
    assert media.status_code == 200
    assert media.data == csv


def test_unassigned_form_is_neither_listed_nor_served(deployment: Deployment) -> None:
    publish(deployment.app, simple_xform(form_id="vt_secret"))
    client, prefix = deployment.client, deployment.url_prefix
    assert "vt_secret" not in client.get(f"{prefix}/formList").get_data(as_text=True)
    response = client.get(f"{prefix}/forms/vt_secret/form.xml", headers=OR)
    assert response.status_code == 403
    assert "not assigned" in response.get_data(as_text=True)


def test_unknown_form_is_404(deployment: Deployment) -> None:
    response = deployment.client.get(f"{deployment.url_prefix}/forms/nope/form.xml", headers=OR)
    assert response.status_code == 404
    assert response.get_data(as_text=True).startswith("<OpenRosaResponse")


def test_new_version_replaces_the_listed_one(deployment: Deployment) -> None:
    publish(deployment.app, simple_xform(version="2"))
    body = deployment.client.get(f"{deployment.url_prefix}/formList").get_data(as_text=True)
    assert "<version>2</version>" in body
    assert "<version>1</version>" not in body


def test_wrong_openrosa_version_is_refused(deployment: Deployment) -> None:
    response = deployment.client.get(
        f"{deployment.url_prefix}/formList", headers={"X-OpenRosa-Version": "2.0"}
    )
    assert response.status_code == 400
