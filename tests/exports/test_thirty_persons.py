"""Thirty persons (24 main persons, 6 accompanying minors): both CSVs of the form export,
written out in full."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

from sqlalchemy import update

from exports.submissions import export_form
from server.store.models import Submission
from server.store.scope import UnitScope
from tests.factories import Deployment, plain_instance, post_submission, services_of

MAIN = "\ufeff" + (
    "SubmissionDate,case_code,reception_date,sex,meta-instanceID,KEY,SubmitterName,ReviewState,Signature,FormVersion\r\n"
    "2025-03-05T10:00:00Z,01-2025-00000-00,2025-03-02,male,uuid:p00,uuid:p00,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00001-00,2025-03-02,female,uuid:p01,uuid:p01,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00002-00,2025-03-02,female,uuid:p02,uuid:p02,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00003-00,2025-03-02,male,uuid:p03,uuid:p03,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00004-00,2025-03-02,female,uuid:p04,uuid:p04,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00005-00,2025-03-02,female,uuid:p05,uuid:p05,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00006-00,2025-03-02,male,uuid:p06,uuid:p06,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00007-00,2025-03-02,female,uuid:p07,uuid:p07,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00008-00,2025-03-02,female,uuid:p08,uuid:p08,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00009-00,2025-03-02,male,uuid:p09,uuid:p09,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00010-00,2025-03-02,female,uuid:p10,uuid:p10,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00011-00,2025-03-02,female,uuid:p11,uuid:p11,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00012-00,2025-03-02,male,uuid:p12,uuid:p12,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00013-00,2025-03-02,female,uuid:p13,uuid:p13,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00014-00,2025-03-02,female,uuid:p14,uuid:p14,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00015-00,2025-03-02,male,uuid:p15,uuid:p15,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00016-00,2025-03-02,female,uuid:p16,uuid:p16,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00017-00,2025-03-02,female,uuid:p17,uuid:p17,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00018-00,2025-03-02,male,uuid:p18,uuid:p18,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00019-00,2025-03-02,female,uuid:p19,uuid:p19,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00020-00,2025-03-02,female,uuid:p20,uuid:p20,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00021-00,2025-03-02,male,uuid:p21,uuid:p21,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00022-00,2025-03-02,female,uuid:p22,uuid:p22,phone-1,received,,1\r\n"
    "2025-03-05T10:00:00Z,01-2025-00023-00,2025-03-02,female,uuid:p23,uuid:p23,phone-1,received,,1\r\n"
)
MINORS = "\ufeff" + (
    "minors-minor_sex,minors-minor_age_years,PARENT_KEY,KEY\r\n"
    "female,5,uuid:p00,uuid:p00/minors[1]\r\n"
    "female,5,uuid:p04,uuid:p04/minors[1]\r\n"
    "female,5,uuid:p08,uuid:p08/minors[1]\r\n"
    "female,5,uuid:p12,uuid:p12/minors[1]\r\n"
    "female,5,uuid:p16,uuid:p16/minors[1]\r\n"
    "female,5,uuid:p20,uuid:p20/minors[1]\r\n"
)


def test_thirty_persons_in_full(deployment: Deployment) -> None:
    for n in range(24):
        xml = plain_instance(
            instance_id=f"uuid:p{n:02d}",
            case_code=f"01-2025-{n:05d}-00",
            minors=1 if n % 4 == 0 else 0,
        ).replace(b"<sex>female</sex>", b"<sex>female</sex>" if n % 3 else b"<sex>male</sex>")
        assert post_submission(deployment.client, deployment.url_prefix, xml).status_code == 201
    services = services_of(deployment.app)
    with services.store.session() as session:
        session.execute(
            update(Submission).values(received_at=datetime(2025, 3, 5, 10, 0, tzinfo=UTC))
        )
    out = io.BytesIO()
    export_form(services.store, "vt_test", out, scope=UnitScope.all_units())
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        assert archive.read("vt_test.csv").decode("utf-8") == MAIN
        assert archive.read("vt_test-minors.csv").decode("utf-8") == MINORS
