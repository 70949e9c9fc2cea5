"""The phone's case list against a real `fieldcase serve`, as ODK Collect sees it: formList,
the form, its manifest and `cases.csv`; an encrypted intake sent by the phone is decrypted by
the server, a supervisor assigns the case, and the manifest's MD5 changes so the phone fetches
the new list. A phone of another unit never sees the row; a revoked phone gets 403."""

from __future__ import annotations

import csv
import io
import shutil
import time
from pathlib import Path

import pytest

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from forms import case_code
from forms.compiler import SOURCE_DIR, compile_form
from server.app_context import Services
from server.config import Config
from server.services import case_assignments
from server.services import collectors as collector_service
from server.services.auth import CurrentUser
from server.services.forms import publish_compiled
from server.services.setup import initialise
from server.store import cases as case_store
from server.store import keys as key_store
from server.store.db import Store
from server.store.scope import UnitScope
from tests.collect_client import CollectClient
from tests.conftest import env_for
from tests.serving import ServerProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="ODK Validate needs java"),
]
CODE = case_code.make("01", 2026, "00042")


def _intake_xml(version: str, instance_id: str) -> bytes:
    return (
        f'<data xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" '
        f'id="vt01_intake" version="{version}">'
        "<reception><office_province>01</office_province><office_commune>00004</office_commune>"
        "<receiving_unit>border_guard</receiving_unit><reception_date>2026-01-10</reception_date>"
        f"<reception_channel>handover_foreign</reception_channel><case_code>{CODE}</case_code>"
        "</reception><consent><age_years>30</age_years><consent_by>self</consent_by>"
        "<consent_intake>yes</consent_intake>"
        "<consent_followup_contact>yes</consent_followup_contact></consent>"
        "<core><person_type>awaiting_id</person_type><sex>female</sex>"
        "<nationality>vn</nationality><purpose>forced_labour</purpose>"
        "<destination_country>cn</destination_country></core>"
        "<pii><full_name>Nguyễn Thị Hoa</full_name></pii><n_minors>0</n_minors>"
        f"<meta><instanceID>{instance_id}</instanceID>"
        f"<instanceName>VT01-{CODE}</instanceName></meta></data>"
    ).encode()


def _rows(media: dict[str, bytes]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(media["cases.csv"].decode("utf-8"))))


def _wait_for_case(store: Store, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.session() as session:
            case = case_store.by_code(session, CODE)
            if case is not None:
                return case.id
        time.sleep(0.2)
    raise AssertionError("the intake was not decrypted and projected in time")


def test_a_phone_fetches_its_new_list_when_a_case_is_assigned(
    config: Config, store: Store, tmp_path: Path
) -> None:
    initialise(config, store)
    blobs = Services(config, store).blobs
    with store.session() as session:
        key = key_store.active(session)
        assert key is not None
        public_key = key.public_key_b64
        intake = compile_form(SOURCE_DIR / "vt01_intake.xlsx", public_key=public_key)
        followup = compile_form(SOURCE_DIR / "vt05_followup.xlsx", public_key=public_key)
        for form in (intake, followup):
            publish_compiled(session, blobs, form, "test")
        ba_dinh = collector_service.create(session, "http://x", "phone-ba-dinh", "00004", "t")
        hai_phong = collector_service.create(session, "http://x", "phone-hai-phong", "31", "t")
    server = ServerProcess(env_for(config), log_path=tmp_path / "server.log")
    server.start()
    try:
        phone = CollectClient(f"{server.url}/c/{ba_dinh.token}")
        other = CollectClient(f"{server.url}/c/{hai_phong.token}")
        listed = {entry["formID"]: entry for entry in phone.form_list()}
        assert "manifestUrl" in listed["vt05_followup"]
        first = phone.download_form("vt05_followup")
        assert b"jr://file-csv/cases.csv" in first.xml
        assert _rows(first.media) == []

        instance_id = "uuid:5d1e0c2a-0000-4a4a-9b9b-1900000000ff"
        sealed = encrypt_submission(
            load_public_key(public_key),
            "vt01_intake",
            intake.version,
            instance_id,
            _intake_xml(intake.version, instance_id),
        )
        assert phone.submit(sealed.manifest, list(sealed.files)).acknowledged
        case_id = _wait_for_case(store)
        unassigned = phone.download_form("vt05_followup")
        assert unassigned.media_md5["cases.csv"] == first.media_md5["cases.csv"]

        supervisor = CurrentUser(
            7, "giam_sat", "supervisor", ("01",), UnitScope.of_units(["01"]), 1
        )
        with store.session() as session:
            case_assignments.assign(session, supervisor, [case_id], [ba_dinh.collector.id])
        second = phone.download_form("vt05_followup")
        assert second.media_md5["cases.csv"] != first.media_md5["cases.csv"]
        assert second.version == first.version  # the same form version: only the list changed
        (row,) = _rows(second.media)
        assert row == {
            "name": CODE,
            "label": f"{CODE} · Phường Ba Đình · hạn/due 2026-02-09",
            "next_visit_due": "2026-02-09",
            "last_visit": "",
            "status": "awaiting_verification",
            "commune": "00004",
        }
        assert "Hoa" not in second.media["cases.csv"].decode("utf-8")
        assert _rows(other.download_form("vt05_followup").media) == []

        with store.session() as session:
            collector_service.revoke(session, ba_dinh.collector.id, "admin")
        manifest_url = listed["vt05_followup"]["manifestUrl"]
        assert phone.get(manifest_url).status_code == 403
        assert (
            phone.get(f"{manifest_url.rsplit('/', 1)[0]}/attachments/cases.csv").status_code == 403
        )
        assert phone.get(f"{server.url}/c/{ba_dinh.token}/formList").status_code == 403
    finally:
        server.stop()
