"""Data-subject requests and retention, end to end through the CLI: a person's export, and
an erasure after which their name is in no table, no blob and no backup made later, while the
report tables stay the same; the retention rule erases closed cases past the period."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import uuid
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from exports.periods import parse_period
from exports.reports import build_tables
from server.cli import main
from server.config import Config
from server.services import consent
from server.services.backup import backup
from server.store.db import Store
from server.store.models import Base, Submission, SubmissionPart
from server.store.scope import UnitScope
from tests.factories import (
    Deployment,
    add_collector,
    post_submission,
    publish,
    server_public_key,
    simple_xform,
)

ERASED, KEPT = "01-2025-30001-00", "01-2025-30002-00"
ERASED_NAME, KEPT_NAME = "Lò Thị Xóa", "Đinh Văn Giữ"
ERASED_PHONE = "0977 123 456"
ALL = UnitScope.all_units()


def _send(deployment: Deployment, token: str, public_key: str, form_id: str, body: str) -> str:
    instance_id = f"uuid:{uuid.uuid4()}"
    xml = (
        f'<data id="{form_id}" version="1">{body}'
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()
    sealed = encrypt_submission(load_public_key(public_key), form_id, "1", instance_id, xml)
    response = post_submission(
        deployment.app.test_client(), f"/c/{token}", sealed.manifest, dict(sealed.files)
    )
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    return instance_id


def _intake(code: str, name: str, phone: str, note: str = "") -> str:
    return (
        f"<case_code>{code}</case_code><reception><office_province>01</office_province>"
        "<office_commune>00004</office_commune><reception_date>2025-03-01</reception_date>"
        "<reception_channel>rescued</reception_channel></reception>"
        "<consent><consent_by>self</consent_by><consent_intake>yes</consent_intake>"
        "<consent_data_use>yes</consent_data_use>"
        "<consent_followup_contact>yes</consent_followup_contact><age_years>30</age_years>"
        "</consent><core><sex>female</sex><purpose>forced_labour</purpose>"
        "<destination_country>cn</destination_country><nationality>vn</nationality></core>"
        f"<pii><full_name>{name}</full_name><phone>{phone}</phone></pii>"
        f"<needs><note_nonid>{note}</note_nonid></needs>"
    )


def _seed(deployment: Deployment) -> tuple[str, dict[str, str]]:
    public_key = server_public_key(deployment.app)
    for form_id in ("vt01_intake", "vt05_followup"):
        publish(deployment.app, simple_xform(form_id=form_id, public_key=public_key))
    token, _ = add_collector(deployment.app, "phone-consent", "01")
    ids = {
        ERASED: _send(
            deployment,
            token,
            public_key,
            "vt01_intake",
            _intake(ERASED, ERASED_NAME, ERASED_PHONE, note=f"gọi cho {ERASED_NAME}"),
        ),
        KEPT: _send(deployment, token, public_key, "vt01_intake", _intake(KEPT, KEPT_NAME, "0900")),
    }
    return token, ids


def _every_row(store: Store) -> str:
    """Every row of every table, as text (JSON values decoded)."""
    with store.reader() as session:
        return "\n".join(
            repr(dict(row._mapping))
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        )


def _reports(store: Store) -> list[object]:
    return [(t.code, t.rows) for t in build_tables(store, ALL, parse_period("2025"))]


def _blob_bytes(config: Config) -> list[bytes]:
    return [path.read_bytes() for path in config.blob_dir.glob("??/*")]


def _forms_of(text: str) -> list[bytes]:
    return [text.encode(), json.dumps(text).strip('"').encode()]


def test_export_then_erase_leaves_the_name_nowhere(
    deployment: Deployment, store: Store, config: Config, runner: CliRunner, tmp_path: Path
) -> None:
    _token, ids = _seed(deployment)
    with store.session() as session:
        erased_parts = session.scalars(
            select(SubmissionPart.blob_sha256)
            .join(Submission, Submission.id == SubmissionPart.submission_id)
            .where(Submission.instance_id == ids[ERASED])
        ).all()
        assert consent.allows(session, ERASED, consent.DATA_USE)
    assert len(erased_parts) >= 2  # the manifest (the wrapped key) and the encrypted XML
    assert ERASED_NAME in _every_row(store)
    before = _reports(store)

    # The export: readable and bilingual, with the answers, the consent history, the audit.
    out = tmp_path / "subject"
    result = runner.invoke(
        main,
        [
            "subject",
            "export",
            ERASED,
            "--reason",
            "Yêu cầu của người đó ngày 1/12",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    page = (out / "subject.html").read_text(encoding="utf-8")
    assert ERASED_NAME in page
    assert "Lịch sử đồng ý / Consent history" in page
    assert "Ai đã xem hồ sơ / Who saw the file" in page
    held = json.loads((out / "subject.json").read_text(encoding="utf-8"))
    assert {e["purpose"] for e in held["consent_history"]} >= {"intake", "data_use"}
    assert any(a["value"] == ERASED_NAME for s in held["submissions"] for a in s["answers"])
    assert KEPT_NAME not in page

    # The erasure.
    result = runner.invoke(
        main, ["subject", "erase", ERASED, "--reason", "Yêu cầu xóa của người đó ngày 1/12"]
    )
    assert result.exit_code == 0, result.output
    assert "erased" in result.output
    everything = _every_row(store)
    for secret in (ERASED_NAME, ERASED_PHONE):
        assert secret not in everything
    assert KEPT_NAME in everything  # the search above would find a name that is there
    assert ERASED in everything  # the statistical core and the tombstone keep the code
    blobs = _blob_bytes(config)
    assert not any(form in blob for blob in blobs for form in _forms_of(ERASED_NAME))
    for digest in erased_parts:
        assert not (config.blob_dir / digest[:2] / digest[2:]).exists()  # crypto-shredded
    assert _reports(store) == before  # the report tables stay the same

    # A backup made afterwards holds nothing of the name, nor the destroyed files.
    archive = tmp_path / "backup.tar.gz"
    backup(config, store, archive)
    raw = gzip.decompress(archive.read_bytes())
    assert not any(form in raw for form in _forms_of(ERASED_NAME))
    assert KEPT_NAME.encode() in raw or json.dumps(KEPT_NAME).strip('"').encode() in raw
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = tar.getnames()
    assert not any(digest[2:] in name for digest in erased_parts for name in names)

    # The tombstone: when, why, by whom; the audit says the same; a second erase changes
    # nothing.
    with store.session() as session:
        from server.store import consent as consent_store

        tomb = consent_store.tombstone(session.connection(), ERASED)
        assert tomb is not None
        assert (tomb.actor, tomb.kind) == ("cli", "request")
        assert tomb.reason.startswith("Yêu cầu xóa")
    again = runner.invoke(main, ["subject", "erase", ERASED, "--reason", "Lần nữa cho chắc chắn"])
    assert again.exit_code == 0
    assert "already erased" in again.output
    assert _every_row(store).count("subject.erase") == 1
    exported = runner.invoke(
        main,
        [
            "subject",
            "export",
            ERASED,
            "--reason",
            "Yêu cầu xem lại sau khi xóa",
            "--out",
            str(tmp_path / "after"),
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert ERASED_NAME not in (tmp_path / "after" / "subject.html").read_text(encoding="utf-8")


def test_bad_requests_change_nothing(
    deployment: Deployment, store: Store, runner: CliRunner, tmp_path: Path
) -> None:
    _seed(deployment)
    before = _every_row(store)
    unknown = runner.invoke(
        main, ["subject", "erase", "01-2025-99999-00", "--reason", "Không có ai cả nhé"]
    )
    assert unknown.exit_code == 2
    assert "no case" in unknown.output
    short = runner.invoke(main, ["subject", "erase", ERASED, "--reason", "ngắn"])
    assert short.exit_code == 2
    out = tmp_path / "none"
    missing = runner.invoke(
        main,
        [
            "subject",
            "export",
            "01-2025-99999-00",
            "--reason",
            "Không có ai cả nhé",
            "--out",
            str(out),
        ],
    )
    assert missing.exit_code == 2
    assert not out.exists()
    assert _every_row(store) == before


def test_retention_erases_cases_closed_past_the_period(
    deployment: Deployment, store: Store, runner: CliRunner
) -> None:
    token, _ids = _seed(deployment)
    public_key = server_public_key(deployment.app)
    _send(
        deployment,
        token,
        public_key,
        "vt05_followup",
        f"<case_code>{ERASED}</case_code><person_index>0</person_index>"
        "<visit_date>2019-05-01</visit_date><contact_made>yes</contact_made>"
        "<case_status>closed_reintegrated</case_status>",
    )
    # Closed in 2019 with a reception in 2025 is odd but possible on paper; what counts is
    # the closing date.
    listed = runner.invoke(main, ["retention", "run", "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert f"would erase {ERASED}" in listed.output
    assert KEPT not in listed.output
    assert ERASED_NAME in _every_row(store)  # a dry run changes nothing
    done = runner.invoke(main, ["retention", "run"])
    assert done.exit_code == 0, done.output
    assert f"erased {ERASED}" in done.output
    assert "1 cases erased (retention 5 years after closure)" in done.output
    everything = _every_row(store)
    assert ERASED_NAME not in everything
    assert KEPT_NAME in everything
    assert "retention" in everything  # the tombstone's kind and actor
    assert "0 cases erased" in runner.invoke(main, ["retention", "run"]).output
