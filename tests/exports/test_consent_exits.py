"""Every exit checks consent, each with a person who refused and one who consented: the
de-identified extract (data-use consent), identifier exports (intake consent withdrawn), the
follow-up schedule (contact refused); the statutory report tables are not consent-gated and
stay the same whatever the consent."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

from exports.extract import write_extract
from exports.periods import parse_period
from exports.register import write_register
from exports.reports import build_tables
from exports.submissions import ExportOptions, export_form
from server.services import consent
from server.services.auth import CurrentUser
from server.store import cases as case_store
from server.store.db import Store
from server.store.scope import UnitScope
from tests.exports.test_reports import intake
from tests.factories import (
    Deployment,
    plain_instance,
    post_submission,
    services_of,
    store_decrypted,
)

AGREED = "01-2025-20001-00"
REFUSED = "01-2025-20002-00"
WITHDRAWN = "01-2025-20003-00"
ALL = UnitScope.all_units()
PERIOD = parse_period("2025")


def person(code: str, name: str, **consent_answers: str) -> dict[str, Any]:
    data = intake(code, "2025-03-01", "rescued", "female", 30, "forced_labour", "cn")
    data["pii"] = {"full_name": name}
    data["consent"] = {"consent_by": "self", **consent_answers}
    return data


def seed(store: Store) -> None:
    store_decrypted(
        store,
        "vt01_intake",
        person(
            AGREED,
            "Tên Đồng Ý",
            consent_intake="yes",
            consent_data_use="yes",
            consent_followup_contact="yes",
        ),
        "uuid:agreed",
    )
    refused = person(
        REFUSED,
        "",
        consent_intake="no",
        consent_data_use="no",
        consent_followup_contact="no",
    )
    refused.pop("pii")  # the form skips identity without consent
    store_decrypted(store, "vt01_intake", refused, "uuid:refused")
    store_decrypted(
        store,
        "vt01_intake",
        person(
            WITHDRAWN,
            "Tên Rút Lại",
            consent_intake="yes",
            consent_data_use="yes",
            consent_followup_contact="yes",
        ),
        "uuid:withdrawn-intake",
    )
    # Later, on a follow-up visit, the person withdraws consent to case management and to
    # being contacted (vt05's consent change section).
    store_decrypted(
        store,
        "vt05_followup",
        {
            "case_code": WITHDRAWN,
            "person_index": "0",
            "visit_date": "2025-06-01",
            "contact_made": "yes",
            "case_status": "follow_up",
            "consent_section": {
                "consent_change": "yes",
                "consent_change_by": "self",
                "consent_change_date": "2025-06-01",
                "consent_withdraw": "intake followup_contact",
            },
        },
        "uuid:withdrawn-visit",
    )


def test_the_extract_holds_only_persons_with_data_use_consent(store: Store, tmp_path: Path) -> None:
    seed(store)
    out = tmp_path / "extract.csv"
    report = write_extract(store, out, PERIOD, scope=ALL, k=1)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    # AGREED and WITHDRAWN (data use is not identifying: withdrawing intake leaves it) only.
    assert report.records_in == 2
    assert report.without_consent == 1
    assert len(rows) == 2
    with store.session() as session:
        consent.record_change(
            session,
            CurrentUser(1, "giam_sat", "admin", (), ALL, 1),
            AGREED,
            purpose=consent.DATA_USE,
            decision="no",
            given_by="self",
            reason="Rút lại đồng ý dùng số liệu, đơn giấy",
        )
    again = write_extract(store, out, PERIOD, scope=ALL, k=1)
    assert (again.records_in, again.without_consent) == (1, 2)


def test_the_register_with_identifiers_leaves_out_a_withdrawn_person(
    store: Store, tmp_path: Path
) -> None:
    seed(store)
    out = tmp_path / "register.csv"
    write_register(store, out, scope=ALL, include_identifiers=True)
    text = out.read_text(encoding="utf-8")
    assert "Tên Đồng Ý" in text
    assert AGREED in text
    assert WITHDRAWN not in text
    assert "Tên Rút Lại" not in text
    assert REFUSED not in text  # refused at intake: an identifier export has nothing of them
    plain = tmp_path / "plain.csv"
    assert write_register(store, plain, scope=ALL) == 3  # without identifiers: every case
    assert WITHDRAWN in plain.read_text(encoding="utf-8")


def test_follow_up_due_dates_leave_out_persons_who_refused_contact(store: Store) -> None:
    seed(store)
    with store.session() as session:
        due = {
            code: case_store.by_code(session, code).next_followup_due  # type: ignore[union-attr]
            for code in (AGREED, REFUSED, WITHDRAWN)
        }
    assert due[AGREED] is not None
    assert due[REFUSED] is None
    assert due[WITHDRAWN] is None
    # Contact given again on paper: the schedule comes back.
    with store.session() as session:
        admin = CurrentUser(1, "giam_sat", "admin", (), ALL, 1)
        for purpose in (consent.INTAKE, consent.FOLLOWUP_CONTACT):
            consent.record_change(
                session,
                admin,
                WITHDRAWN,
                purpose=purpose,
                decision="yes",
                given_by="self",
                reason="Đồng ý lại, đơn giấy ngày 2/12",
            )
    with store.session() as session:
        case = case_store.by_code(session, WITHDRAWN)
        assert case is not None
        assert case.next_followup_due is not None


def test_statutory_tables_are_not_consent_gated(store: Store) -> None:
    seed(store)

    def tables() -> list[Any]:
        return [(t.code, t.rows) for t in build_tables(store, ALL, PERIOD)]

    before = tables()
    t1 = {t.code: t for t in build_tables(store, ALL, PERIOD)}["T1"]
    total = [row for row in t1.rows if row[0] == "total"]
    assert total
    assert total[0][3][0] == 3  # every person received, whatever their consent
    with store.session() as session:
        consent.record_change(
            session,
            CurrentUser(1, "giam_sat", "admin", (), ALL, 1),
            AGREED,
            purpose=consent.INTAKE,
            decision="no",
            given_by="self",
            reason="Rút lại đồng ý, đơn giấy",
        )
    assert tables() == before


def _export_rows(deployment: Deployment, **options: Any) -> str:
    services = services_of(deployment.app)
    out = io.BytesIO()
    export_form(services.store, "vt_test", out, scope=ALL, options=ExportOptions(**options))
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        return archive.read("vt_test.csv").decode("utf-8")


def test_a_form_export_with_identifiers_leaves_out_a_withdrawn_person(
    deployment: Deployment,
) -> None:
    store = services_of(deployment.app).store
    seed(store)
    for code, name in ((AGREED, "Tên Đồng Ý"), (WITHDRAWN, "Tên Rút Lại")):
        xml = plain_instance(instance_id=f"uuid:t-{code}", case_code=code, full_name=name)
        assert post_submission(deployment.client, deployment.url_prefix, xml).status_code == 201
    shown = _export_rows(deployment, include_identifiers=True)
    assert "Tên Đồng Ý" in shown
    assert "Tên Rút Lại" not in shown
    assert WITHDRAWN not in shown
    hidden = _export_rows(deployment)
    assert WITHDRAWN in hidden  # without identifiers the submission is exported
    assert "Tên Rút Lại" not in hidden
