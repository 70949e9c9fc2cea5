"""Per-form export: the whole CSV text, repeats joined by KEY / PARENT_KEY, no formulas."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

from sqlalchemy import update

from exports.submissions import ExportOptions, export_form
from server.store.models import Submission
from server.store.scope import UnitScope
from server.store.submissions import SubmissionFilter
from tests.factories import Deployment, plain_instance, post_submission, services_of

BOM = "\ufeff"


def _send(deployment: Deployment, instance_id: str, **fields: object) -> None:
    xml = plain_instance(instance_id=instance_id, **fields)  # type: ignore[arg-type]
    response = post_submission(deployment.client, deployment.url_prefix, xml)
    assert response.status_code == 201


def _export(deployment: Deployment, **kwargs: object) -> dict[str, str]:
    services = services_of(deployment.app)
    with services.store.session() as session:
        session.execute(
            update(Submission).values(received_at=datetime(2025, 3, 5, 10, 0, tzinfo=UTC))
        )
    out = io.BytesIO()
    export_form(
        services.store, "vt_test", out, scope=kwargs.pop("scope", UnitScope.all_units()), **kwargs
    )  # type: ignore[arg-type]
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def test_main_and_repeat_tables_in_full(deployment: Deployment) -> None:
    _send(deployment, "uuid:a", minors=2)
    _send(deployment, "uuid:b", case_code="01-2025-bbbbbb", full_name="Trần B")
    files = _export(deployment)
    assert sorted(files) == ["vt_test-minors.csv", "vt_test.csv"]
    assert files["vt_test.csv"] == BOM + (
        "SubmissionDate,case_code,reception_date,sex,meta-instanceID,KEY,SubmitterName,"
        "ReviewState,Signature,FormVersion\r\n"
        "2025-03-05T10:00:00Z,01-2025-aaaaaa,2025-03-02,female,uuid:a,uuid:a,phone-1,"
        "received,,1\r\n"
        "2025-03-05T10:00:00Z,01-2025-bbbbbb,2025-03-02,female,uuid:b,uuid:b,phone-1,"
        "received,,1\r\n"
    )
    assert files["vt_test-minors.csv"] == BOM + (
        "minors-minor_sex,minors-minor_age_years,PARENT_KEY,KEY\r\n"
        "female,5,uuid:a,uuid:a/minors[1]\r\n"
        "female,6,uuid:a,uuid:a/minors[2]\r\n"
    )


def test_identifiers_only_when_asked_and_never_as_formulas(deployment: Deployment) -> None:
    _send(deployment, "uuid:h", full_name="=HYPERLINK(&quot;http://x&quot;)", case_code="@SUM(A1)")
    hidden = _export(deployment)["vt_test.csv"]
    assert "HYPERLINK" not in hidden
    assert "full_name" not in hidden
    shown = _export(deployment, options=ExportOptions(include_identifiers=True))["vt_test.csv"]
    assert ',"\'=HYPERLINK(""http://x"")",' in shown
    assert ",'@SUM(A1)," in shown


def test_filters_and_scope(deployment: Deployment) -> None:
    _send(deployment, "uuid:in")
    services = services_of(deployment.app)
    with services.store.session() as session:
        session.execute(update(Submission).values(province_code="01"))
    assert "uuid:in" in _export(deployment, scope=UnitScope.of_units(["01"]))["vt_test.csv"]
    assert "uuid:in" not in _export(deployment, scope=UnitScope.of_units(["79"]))["vt_test.csv"]
    approved = _export(deployment, filters=SubmissionFilter(review_state="approved"))
    assert "uuid:in" not in approved["vt_test.csv"]
