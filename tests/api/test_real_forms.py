"""The real forms end to end: published with the server key, filled as Collect would,
encrypted, sent, decrypted and projected (a case for the intake, none for the contact log)."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from forms import case_code
from forms.compiler import SOURCE_DIR, compile_form
from server.services.forms import publish_compiled
from server.store import cases as case_store
from server.store.models import Submission
from tests.factories import (
    Deployment,
    add_collector,
    post_submission,
    server_public_key,
    services_of,
)

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="ODK Validate needs java")


def test_intake_form_submission_becomes_a_case(deployment: Deployment) -> None:
    services = services_of(deployment.app)
    public_key = server_public_key(deployment.app)
    compiled = compile_form(SOURCE_DIR / "vt01_intake.xlsx", public_key=public_key)
    with services.store.session() as session:
        publish_compiled(session, services.blobs, compiled, "test")
    token, _ = add_collector(deployment.app, "intake-phone")
    code = case_code.make("01", 2025, "00042")
    instance_id = "uuid:0b3c1d7e-1111-4a4a-9b9b-222233334444"
    xml = (
        f'<data xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" '
        f'id="vt01_intake" version="{compiled.version}">'
        "<reception><office_province>01</office_province><office_commune>00004</office_commune>"
        "<receiving_unit>border_guard</receiving_unit><reception_date>2025-03-02</reception_date>"
        f"<reception_channel>handover_foreign</reception_channel><case_code>{code}</case_code>"
        "</reception><consent><consent_intake>yes</consent_intake></consent>"
        "<core><person_type>awaiting_id</person_type><sex>female</sex><age_years>16</age_years>"
        "<age_band_vn>16_17</age_band_vn><nationality>vn</nationality>"
        "<res_province>08</res_province><ethnic_minority>yes</ethnic_minority>"
        "<disability>no</disability><purpose>other_inhumane sexual_exploitation</purpose>"
        "<purpose_detail>forced_marriage</purpose_detail>"
        "<destination_country>cn</destination_country></core>"
        "<pii><full_name>Lò Thị Mai</full_name><ethnicity>hmong</ethnicity></pii>"
        "<n_minors>1</n_minors>"
        "<minors><minor_index>1</minor_index><minor_sex>male</minor_sex>"
        "<minor_age_years>1</minor_age_years></minors>"
        f"<meta><instanceID>{instance_id}</instanceID>"
        f"<instanceName>VT01-{code}</instanceName></meta></data>"
    ).encode()
    sealed = encrypt_submission(
        load_public_key(public_key), "vt01_intake", compiled.version, instance_id, xml
    )
    response = post_submission(
        deployment.client, f"/c/{token}", sealed.manifest, dict(sealed.files)
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    with services.store.session() as session:
        submission = session.scalars(
            select(Submission).where(Submission.instance_id == instance_id)
        ).one()
        assert (submission.decrypt_state, submission.signature) == ("decrypted", "valid")
        assert submission.data["minors"][0]["minor_sex"] == "male"
        case = case_store.by_code(session, code)
        assert case is not None
        assert (case.province_code, case.commune_code) == ("01", "00004")
        assert "lo thi mai" in (case.search_text or "")
        persons = case_store.persons(session, case.id)
        assert [(p.person_index, p.sex, p.age_years) for p in persons] == [
            (0, "female", 16),
            (1, "male", 1),
        ]
        facts = persons[0].facts or {}
        assert {k: facts.get(k) for k in ("res_province", "ethnic_minority", "disability")} == {
            "res_province": "08",
            "ethnic_minority": "yes",
            "disability": "no",
        }
        assert facts["purpose_detail"] == "forced_marriage"


def _contact_xml(version: str, instance_id: str, province: str, commune: str) -> bytes:
    return (
        f'<data xmlns:jr="http://openrosa.org/javarosa" id="vt08_contact" version="{version}">'
        f"<contact_date>2026-03-02</contact_date><province>{province}</province>"
        f"<commune>{commune}</commune><province_hotline/>"
        "<contact_channel>hotline_111</contact_channel><caller_type>relative</caller_type>"
        "<topics>report_suspected missing_person</topics>"
        "<suspected_trafficking>yes</suspected_trafficking>"
        "<actions_taken>advice referral_police</actions_taken>"
        f"<meta><instanceID>{instance_id}</instanceID>"
        "<instanceName>VT08-2026-03-02</instanceName></meta></data>"
    ).encode()


def test_contact_log_is_received_anonymous_and_judged_by_the_unit_rule(
    deployment: Deployment,
) -> None:
    services = services_of(deployment.app)
    public_key = server_public_key(deployment.app)
    compiled = compile_form(SOURCE_DIR / "vt08_contact.xlsx", public_key=public_key)
    assert compiled.encrypted
    with services.store.session() as session:
        publish_compiled(session, services.blobs, compiled, "test")
    token, _ = add_collector(deployment.app, "hotline-desk", unit="22")
    sent = {
        "uuid:0b3c1d7e-2222-4a4a-9b9b-222233334444": ("22", "06712"),  # Móng Cái 1, own province
        "uuid:0b3c1d7e-3333-4a4a-9b9b-222233334444": ("01", "00004"),  # another province
    }
    for instance_id, (province, commune) in sent.items():
        xml = _contact_xml(compiled.version, instance_id, province, commune)
        sealed = encrypt_submission(
            load_public_key(public_key), "vt08_contact", compiled.version, instance_id, xml
        )
        response = post_submission(
            deployment.client, f"/c/{token}", sealed.manifest, dict(sealed.files)
        )
        assert response.status_code == 201, response.get_data(as_text=True)
    with services.store.session() as session:
        rows = {
            s.instance_id: s
            for s in session.scalars(select(Submission).where(Submission.instance_id.in_(sent)))
        }
        own, other = (rows[i] for i in sent)
        assert (own.decrypt_state, own.signature) == ("decrypted", "valid")
        assert own.case_code is None  # never a case: no identity in it
        assert (own.unit_check, own.province_code, own.commune_code) == ("accepted", "22", "06712")
        assert own.event_date.isoformat() == "2026-03-02"
        assert other.unit_check == "unit_mismatch"
        assert own.data["topics"] == "report_suspected missing_person"
