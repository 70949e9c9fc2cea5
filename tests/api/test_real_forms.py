"""The real intake form end to end: published with the server key, filled as Collect would,
encrypted, sent, decrypted and projected into a case."""

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
        "<age_band_vn>16_17</age_band_vn><purpose>forced_marriage sexual_exploitation</purpose>"
        "<destination_country>cn</destination_country></core>"
        "<pii><full_name>Lò Thị Mai</full_name></pii>"
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
