"""Admin pages: accounts, collectors and their QR code, forms, keys and the decryption queue."""

from __future__ import annotations

import base64
import hashlib
import io
import re

import pytest

from server.store import audit
from server.store import keys as key_store
from server.store.models import Submission
from tests.web.conftest import WebDeployment


def test_create_account_shows_the_password_once(web: WebDeployment) -> None:
    admin = web.client("admin")
    response = admin.post(
        "/admin/users", {"username": "newsup", "role": "supervisor", "units": "01 00004"}
    )
    assert response.status_code == 200
    password = re.search(r'<code class="secret">([^<]+)</code>', response.get_data(as_text=True))
    assert password
    assert web.new_client().login("newsup", password.group(1)).status_code == 302
    assert password.group(1) not in admin.get("/admin/users").get_data(as_text=True)
    with web.store.session() as session:
        entry = audit.recent(session, 1, "user.add")[0]
    assert entry.actor == "admin"
    assert entry.detail == {
        "role": "supervisor",
        "units": ["00004", "01"],
    }
    again = admin.post("/admin/users", {"username": "NewSup", "role": "viewer", "units": "01"})
    assert again.status_code == 409
    bad = admin.post("/admin/users", {"username": "other", "role": "viewer", "units": "1234"})
    assert bad.status_code == 400
    none = admin.post("/admin/users", {"username": "other", "role": "viewer", "units": ""})
    assert none.status_code == 400


def test_change_units_and_role(web: WebDeployment) -> None:
    admin = web.client("admin")
    user_id = web.seeded.user_ids["extra"]
    client = web.new_client("extra")

    def change(units: str, role: str = "supervisor") -> int:
        response = admin.post(f"/admin/users/{user_id}", {"role": role, "units": units})
        return response.status_code

    assert change("04") == 302
    assert "01-2025-aaaaaa" not in client.get("/cases").get_data(as_text=True)
    assert change("01") == 302
    assert "01-2025-aaaaaa" in client.get("/cases").get_data(as_text=True)
    # A province code from before the 2025 merger (02, Hà Giang) would scope the account to
    # nothing, silently: refused, and the units stay as they were.
    refused = admin.post(f"/admin/users/{user_id}", {"role": "supervisor", "units": "04 02"})
    assert refused.status_code == 400
    assert "không có trong danh mục đơn vị hành chính" in refused.get_data(as_text=True)
    assert "01-2025-aaaaaa" in client.get("/cases").get_data(as_text=True)
    assert change("01", "viewer") == 302


def test_admin_cannot_disable_self(web: WebDeployment) -> None:
    admin = web.client("admin")
    admin.post(f"/admin/users/{web.seeded.user_ids['admin']}/disable")
    assert admin.get("/admin/users").status_code == 200


def test_reset_password(web: WebDeployment) -> None:
    admin = web.client("admin")
    response = admin.post(f"/admin/users/{web.seeded.user_ids['extra']}/password")
    password = re.search(r'<code class="secret">([^<]+)</code>', response.get_data(as_text=True))
    assert password
    assert web.new_client().login("extra", password.group(1)).status_code == 302
    with web.store.session() as session:
        assert audit.recent(session, 1, "user.password_reset")[0].actor == "admin"


def test_collector_created_with_qr_code_and_url(web: WebDeployment) -> None:
    admin = web.client("admin")
    response = admin.post("/admin/collectors", {"name": "phone-b", "unit": "04", "assign_all": "y"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<svg" in page
    assert "<script" not in page.split('id="collector-qr"')[1][:5000]
    url = re.search(r'<code class="secret" id="collector-url">([^<]+)</code>', page)
    assert url
    assert "/c/" in url.group(1)
    token = url.group(1).rsplit("/c/", 1)[1]
    anonymous = web.new_client().client
    form_list = anonymous.get(f"/c/{token}/formList", headers={"X-OpenRosa-Version": "1.0"})
    assert form_list.status_code == 200
    assert b"vt01_intake" in form_list.data
    # the token is never shown again
    assert token not in admin.get("/admin/collectors").get_data(as_text=True)
    # assign forms: none left
    with web.store.session() as session:
        from server.store import collectors as collector_store

        collector_id = collector_store.by_name(session, "phone-b").id  # type: ignore[union-attr]
    assert admin.post(f"/admin/collectors/{collector_id}", {}).status_code == 302
    form_list = anonymous.get(f"/c/{token}/formList", headers={"X-OpenRosa-Version": "1.0"})
    assert b"vt01_intake" not in form_list.data
    page = admin.get(f"/admin/collectors/{collector_id}").get_data(as_text=True)
    assert 'type="checkbox"' in page
    assert admin.post(f"/admin/collectors/{collector_id}/revoke").status_code == 302
    assert (
        anonymous.get(f"/c/{token}/formList", headers={"X-OpenRosa-Version": "1.0"}).status_code
        == 403
    )
    with web.store.session() as session:
        actions = [e.action for e in audit.recent(session, 10)]
    assert {"collector.add", "collector.assign", "collector.revoke"} <= set(actions)


def test_collector_for_basic_shows_its_password_once(web: WebDeployment) -> None:
    admin = web.client("admin")
    response = admin.post(
        "/admin/collectors", {"name": "phone-basic", "unit": "01", "assign_all": "y", "basic": "y"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="vi">' in page  # Vietnamese first
    assert "Tên đăng nhập" in page
    assert "Mật khẩu" in page
    username = re.search(r'<code id="collector-username">([^<]+)</code>', page)
    password = re.search(r'<code class="secret" id="collector-password">([^<]+)</code>', page)
    url = re.search(r'<code id="collector-url">([^<]+)</code>', page)
    assert username
    assert password
    assert url
    assert username.group(1) == "phone-basic"
    assert "/c/" not in url.group(1)  # the plain server URL
    # The QR code carries the credentials for Collect.
    from server.services import collectors as collector_service

    settings = collector_service.collect_settings(
        url.group(1), "fieldcase", "phone-basic", password.group(1)
    )
    assert settings["general"]["username"] == "phone-basic"
    basic = base64.b64encode(f"phone-basic:{password.group(1)}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", "X-OpenRosa-Version": "1.0"}
    anonymous = web.new_client().client
    anonymous.environ_base["REMOTE_ADDR"] = "192.0.2.31"
    form_list = anonymous.get("/formList", headers=headers)
    assert form_list.status_code == 200
    assert b"vt01_intake" in form_list.data
    # never shown again
    assert password.group(1) not in admin.get("/admin/collectors").get_data(as_text=True)
    with web.store.session() as session:
        from server.store import collectors as collector_store

        collector_id = collector_store.by_name(session, "phone-basic").id  # type: ignore[union-attr]
    assert admin.post(f"/admin/collectors/{collector_id}/revoke").status_code == 302
    assert anonymous.get("/formList", headers=headers).status_code == 401
    # A Basic collector's name is a user name: "Chị Lan" is refused, with the page's message.
    refused = admin.post("/admin/collectors", {"name": "Chị Lan", "basic": "y"})
    assert refused.status_code == 400
    assert "Tên đăng nhập gồm" in refused.get_data(as_text=True)


def test_collector_name_taken(web: WebDeployment) -> None:
    response = web.client("admin").post("/admin/collectors", {"name": "phone-a", "unit": "01"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("", "Thiết bị thu thập phải có đơn vị"),
        ("1", "Mã đơn vị gồm 2 chữ số"),
        ("0100A", "Mã đơn vị gồm 2 chữ số"),
        ("77777", "không có trong danh mục đơn vị hành chính"),
        ("02", "không có trong danh mục đơn vị hành chính"),  # Hà Giang, before July 2025
    ],
)
def test_a_collector_needs_a_known_unit(web: WebDeployment, unit: str, message: str) -> None:
    """A collector acts only inside its unit, which cannot change later: without one, or with
    a commune or province the admin units list does not hold, it could never act, so it is
    not made."""
    admin = web.client("admin")
    refused = admin.post("/admin/collectors", {"name": "phone-nowhere", "unit": unit})
    assert refused.status_code == 400
    assert message in refused.get_data(as_text=True)
    assert "phone-nowhere" not in admin.get("/admin/collectors").get_data(as_text=True)
    with web.services.store.session() as session:
        added = audit.recent(session, 200, "collector.add")
        assert added  # the deployment's own collectors were audited: the query sees them
        assert all((entry.detail or {}).get("name") != "phone-nowhere" for entry in added)


def test_forms_page_and_upload_errors(web: WebDeployment) -> None:
    admin = web.client("admin")
    page = admin.get("/admin/forms").get_data(as_text=True)
    assert "vt01_intake" in page
    assert "vt06_outreach" in page
    response = admin.post(
        "/admin/forms",
        {"xlsx": (io.BytesIO(b"not a workbook"), "f.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "xlsx" in response.get_data(as_text=True)


def test_upload_of_a_real_xlsform(web: WebDeployment, tmp_path) -> None:
    compiler = pytest.importorskip("forms.compiler", reason="the forms package is not there yet")
    pytest.importorskip("openpyxl")
    from openpyxl import Workbook

    book = Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::English (en)", "label::Tiếng Việt (vi)"])
    survey.append(["text", "note_nonid", "Notes", "Ghi chú"])
    settings = book.create_sheet("settings")
    settings.append(["form_id", "form_title", "version", "default_language"])
    settings.append(["vt99_upload", "Upload test", "2025010101", "Tiếng Việt (vi)"])
    path = tmp_path / "f.xlsx"
    book.save(path)
    assert compiler
    response = web.client("admin").post(
        "/admin/forms",
        {"xlsx": (io.BytesIO(path.read_bytes()), "f.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:2000]
    if response.status_code == 200:
        assert "vt99_upload" in web.client("admin").get("/admin/forms").get_data(as_text=True)


def test_key_page_rotation_and_queue(web: WebDeployment) -> None:
    admin = web.client("admin")
    with web.store.session() as session:
        old = key_store.active(session)
        assert old is not None
        old_fingerprint = old.fingerprint
        session.add(
            Submission(
                form_id=1,
                form_version_id=1,
                instance_id="uuid:waiting-one",
                manifest_sha256=hashlib.sha256(b"w").hexdigest(),
                encrypted=True,
                decrypt_state="pending",
                decrypt_reason="waiting for part photo.jpg.enc",
            )
        )
    page = admin.get("/admin/keys").get_data(as_text=True)
    assert old_fingerprint in page
    assert "waiting for part photo.jpg.enc" in page
    assert admin.post("/admin/keys/rotate", {}).status_code == 302  # not confirmed
    with web.store.session() as session:
        assert key_store.active(session).fingerprint == old_fingerprint  # type: ignore[union-attr]
    assert admin.post("/admin/keys/rotate", {"confirm": "y"}).status_code == 302
    with web.store.session() as session:
        new = key_store.active(session)
        assert new is not None
        assert new.fingerprint != old_fingerprint
        assert audit.recent(session, 1, "key.rotate")[0].actor == "admin"
    assert list(web.config.key_dir.glob(f"server-key-{new.fingerprint[:16]}.pem"))


def test_collectors_page_shows_last_sync_and_app_version(web: WebDeployment) -> None:
    admin = web.client("admin")
    response = admin.post("/admin/collectors", {"name": "phone-seen", "unit": "01"})
    page = response.get_data(as_text=True)
    url = re.search(r'<code class="secret" id="collector-url">([^<]+)</code>', page)
    assert url
    token = url.group(1).rsplit("/c/", 1)[1]
    listing = admin.get("/admin/collectors").get_data(as_text=True)
    row = listing.split(">phone-seen</a>")[1].split("</tr>")[0]
    assert "chưa lần nào" in row  # never synced
    phone = web.new_client().client
    agent = "Dalvik/2.1.0 (Linux; U; Android 14) org.odk.collect.android/v2024.2.4"
    phone.get(f"/c/{token}/formList", headers={"X-OpenRosa-Version": "1.0", "User-Agent": agent})
    listing = admin.get("/admin/collectors").get_data(as_text=True)
    row = listing.split(">phone-seen</a>")[1].split("</tr>")[0]
    assert "v2024.2.4" in row
    assert "chưa lần nào" not in row
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", row)
