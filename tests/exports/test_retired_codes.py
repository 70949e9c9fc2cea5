"""An old submission whose codes were retired since still exports with their labels: the
retired codes stay in the current form version, hidden from new answers only."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from exports.submissions import ExportOptions, export_form
from forms import case_code
from forms.compiler import SOURCE_DIR, compile_form
from server.services.forms import publish_compiled
from server.store.scope import UnitScope
from tests.factories import (
    Deployment,
    add_collector,
    post_submission,
    server_public_key,
    services_of,
)

OLD_ANSWERS = {
    "reception-receiving_unit": ("labour_social_body", "Cơ quan chuyên môn về lao động – xã hội"),
    "core-person_type": ("foreign_victim", "Nạn nhân là người nước ngoài tại Việt Nam"),
    "core-purpose": (
        "forced_marriage surrogacy",
        "Cưỡng ép kết hôn, Mang thai hộ vì mục đích thương mại",
    ),
    "needs-immediate_needs": (
        "medical ess_clothing",
        "Hỗ trợ y tế, Nhu cầu thiết yếu: quần áo, vật dụng cá nhân",
    ),
}


def _before_retirement(tmp_path: Path) -> Path:
    """The intake workbook as it was before its codes were retired (same codes, none retired)."""
    book = load_workbook(SOURCE_DIR / "vt01_intake.xlsx")
    sheet = book["choices"]
    header = [cell.value for cell in sheet[1]]
    column = header.index("retired") + 1
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row, column).value = None
    path = tmp_path / "vt01_intake.xlsx"
    book.save(path)
    return path


def _instance(version: str, code: str) -> bytes:
    return (
        f'<data xmlns:jr="http://openrosa.org/javarosa" id="vt01_intake" version="{version}">'
        "<reception><office_province>01</office_province><office_commune>00004</office_commune>"
        "<receiving_unit>labour_social_body</receiving_unit>"
        "<reception_date>2025-03-02</reception_date>"
        f"<reception_channel>self_return</reception_channel><case_code>{code}</case_code>"
        "</reception><consent><consent_intake>no</consent_intake></consent>"
        "<core><person_type>foreign_victim</person_type><sex>female</sex><age_years>24</age_years>"
        "<nationality>la</nationality><purpose>forced_marriage surrogacy</purpose>"
        "<destination_country>cn</destination_country></core><n_minors>0</n_minors>"
        "<needs><immediate_needs>medical ess_clothing</immediate_needs>"
        "<safety_risk>low</safety_risk></needs>"
        "<meta><instanceID>uuid:old-answers</instanceID></meta></data>"
    ).encode()


def _export(deployment: Deployment, language: str | None) -> dict[str, str]:
    out = io.BytesIO()
    export_form(
        services_of(deployment.app).store,
        "vt01_intake",
        out,
        scope=UnitScope.all_units(),
        options=ExportOptions(language=language),
    )
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        rows = list(
            csv.DictReader(io.StringIO(archive.read("vt01_intake.csv").decode("utf-8-sig")))
        )
    assert len(rows) == 1
    return rows[0]


def test_an_old_submission_with_retired_codes_exports_with_their_labels(
    deployment: Deployment, tmp_path: Path
) -> None:
    services = services_of(deployment.app)
    public_key = server_public_key(deployment.app)
    old = compile_form(_before_retirement(tmp_path), public_key=public_key, validate=False)
    with services.store.session() as session:
        publish_compiled(session, services.blobs, old, "test")
    token, _ = add_collector(deployment.app, "intake-phone", unit="00004")
    code = case_code.make("01", 2025, "00077")
    sealed = encrypt_submission(
        load_public_key(public_key),
        "vt01_intake",
        old.version,
        "uuid:old-answers",
        _instance(old.version, code),
    )
    response = post_submission(
        deployment.client, f"/c/{token}", sealed.manifest, dict(sealed.files)
    )
    assert response.status_code == 201, response.get_data(as_text=True)

    current = compile_form(SOURCE_DIR / "vt01_intake.xlsx", public_key=public_key, validate=False)
    assert current.version != old.version  # retiring codes made a new version
    with services.store.session() as session:
        publish_compiled(session, services.blobs, current, "test")

    codes = _export(deployment, None)
    labels = _export(deployment, "vi")
    assert labels["FormVersion"] == old.version
    for column, (code_value, label) in OLD_ANSWERS.items():
        assert codes[column] == code_value, column
        assert labels[column] == label, column
    english = _export(deployment, "en")
    assert english["core-purpose"] == "Forced marriage, Commercial surrogacy"
