"""Each phone's case list (`cases.csv`): assigned by a supervisor to collectors of the unit
holding the case, served per collector with the MD5 of its current content, following visits,
closure, consent, revocation and transfer (issue 19)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from forms.compiler import MEDIA_DIR
from server.app import create_app
from server.config import Config
from server.errors import Problem
from server.services import case_assignments, holdings
from server.services import cases as case_service
from server.services import collectors as collector_service
from server.services.auth import CurrentUser
from server.services.case_assignments import CASES_COLUMNS, CASES_FILE
from server.services.setup import initialise
from server.store import cases as case_store
from server.store.db import Store
from server.store.models import AuditEntry, CaseAssignment
from server.store.scope import UnitScope
from tests.factories import add_collector, publish, services_of, simple_xform, store_decrypted

OR = {"X-OpenRosa-Version": "1.0"}
PLACEHOLDER = (MEDIA_DIR / CASES_FILE).read_bytes()
LAN = "01-2025-00001-32"  # held by commune 00004 (Ba Đình), province 01
BINH = "01-2025-00002-29"
HAI_PHONG = "31-2025-00001-48"  # another province's case


def intake_data(
    code: str,
    reception: str = "2026-01-10",
    commune: str = "00004",
    province: str = "01",
    followup_contact: str | None = "yes",
    full_name: str = "Nguyễn Thị Lan",
) -> dict[str, Any]:
    """A decrypted vt01 of an adult who gave consent (follow-up contact as told)."""
    consent: dict[str, Any] = {"consent_by": "self", "consent_intake": "yes"}
    if followup_contact is not None:
        consent["consent_followup_contact"] = followup_contact
    return {
        "case_code": code,
        "reception": {
            "office_province": province,
            "office_commune": commune,
            "reception_date": reception,
            "reception_channel": "handover_foreign",
        },
        "consent": {**consent, "age_years": "30"},
        "core": {"sex": "female", "age_years": "30", "purpose": "forced_labour"},
        "pii": {"full_name": full_name},
    }


def visit_data(code: str, day: str, status: str = "follow_up", planned: str = "") -> dict:
    """A decrypted vt05 follow-up visit."""
    return {
        "case_code": code,
        "visit_date": day,
        "visit_mode": "home",
        "contact_made": "yes",
        "case_status": status,
        "next_visit_date": planned,
    }


def supervisor(units: tuple[str, ...] = ("01",), name: str = "giam_sat") -> CurrentUser:
    return CurrentUser(1, name, "supervisor", units, UnitScope.of_units(list(units)), 1)


class Phones:
    """An app with a form carrying `cases.csv`, and phones of several units."""

    def __init__(self, app: Flask, store: Store) -> None:
        self.app = app
        self.store = store
        self.client: FlaskClient = app.test_client()
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        for name, unit in (
            ("phone-ba-dinh", "00004"),
            ("phone-ha-noi", "01"),
            ("phone-hai-phong", "31"),
            ("phone-ba-dinh-2", "00004"),
        ):
            self.tokens[name], self.ids[name] = add_collector(app, name, unit=unit)

    def case_id(self, code: str) -> int:
        with self.store.session() as session:
            case = case_store.by_code(session, code)
            assert case is not None
            return case.id

    def assign(self, code: str, *phones: str, user: CurrentUser | None = None) -> int:
        with self.store.session() as session:
            return case_assignments.assign(
                session, user or supervisor(), [self.case_id(code)], [self.ids[p] for p in phones]
            )

    def manifest_md5(self, phone: str) -> str:
        response = self.client.get(f"/c/{self.tokens[phone]}/forms/vt_test/manifest", headers=OR)
        assert response.status_code == 200, response.get_data(as_text=True)
        found = re.search(
            r"<filename>cases.csv</filename><hash>md5:([0-9a-f]{32})</hash>",
            response.get_data(as_text=True),
        )
        assert found is not None
        return found.group(1)

    def case_list(self, phone: str) -> tuple[str, str]:
        """(the file's text, the manifest's MD5), checked to agree."""
        listed = self.manifest_md5(phone)
        response = self.client.get(
            f"/c/{self.tokens[phone]}/forms/vt_test/attachments/cases.csv", headers=OR
        )
        assert response.status_code == 200
        assert "private" in response.headers["Cache-Control"]
        assert hashlib.md5(response.data).hexdigest() == listed
        return response.get_data(as_text=True), listed

    def rows(self, phone: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.case_list(phone)[0])))


def _phones(config: Config, store: Store) -> Phones:
    app = create_app(config, store)
    initialise(config, store)
    publish(app, simple_xform(version="2"), {CASES_FILE: PLACEHOLDER})
    return Phones(app, store)


@pytest.fixture
def phones(config: Config, store: Store) -> Phones:
    return _phones(config, store)


def test_the_placeholder_has_the_columns_the_server_fills() -> None:
    assert PLACEHOLDER.decode("utf-8") == ",".join(CASES_COLUMNS) + "\n"


def test_a_phone_lists_exactly_its_assigned_cases(phones: Phones) -> None:
    header = "name,label,next_visit_due,last_visit,status,commune\n"
    assert phones.case_list("phone-ba-dinh")[0] == header  # nothing assigned yet
    store_decrypted(phones.store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
    store_decrypted(phones.store, "vt01_intake", intake_data(BINH), "uuid:binh", unit="00004")
    assert phones.assign(LAN, "phone-ba-dinh", "phone-ha-noi") == 2
    assert phones.assign(LAN, "phone-ba-dinh") == 0  # already: nothing new
    text, _md5 = phones.case_list("phone-ba-dinh")
    # 30 days after reception (FIELDCASE_FIRST_VISIT_DAYS); no name, no initials
    assert text == (
        header + f"{LAN},{LAN} · Phường Ba Đình · hạn/due 2026-02-09,2026-02-09,,"
        "awaiting_verification,00004\n"
    )
    assert phones.rows("phone-ha-noi")[0]["name"] == LAN  # the province's phone too
    assert [r["name"] for r in phones.rows("phone-ba-dinh-2")] == []  # not assigned to it
    assert phones.rows("phone-hai-phong") == []
    assert "Nguy" not in text
    assert "NTL" not in text
    with phones.store.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.assign")).one()
        assert entry.actor == "giam_sat"
        assert entry.detail == {
            "case_code": LAN,
            "collectors": sorted([phones.ids["phone-ba-dinh"], phones.ids["phone-ha-noi"]]),
        }


def test_the_md5_follows_a_visit_a_new_assignment_and_the_closure(
    config: Config, store: Store
) -> None:
    phones = _phones(replace(config, caselist_closed_grace_days=10), store)
    store_decrypted(store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
    phones.assign(LAN, "phone-ba-dinh")
    before = phones.manifest_md5("phone-ba-dinh")
    assert phones.manifest_md5("phone-ba-dinh") == before  # stable while nothing changes

    store_decrypted(store, "vt05_followup", visit_data(LAN, "2026-02-01"), "uuid:v1", unit="00004")
    (row,) = phones.rows("phone-ba-dinh")
    assert (row["last_visit"], row["next_visit_due"]) == ("2026-02-01", "2026-05-02")  # +90
    after_visit = phones.manifest_md5("phone-ba-dinh")
    assert after_visit != before

    store_decrypted(store, "vt01_intake", intake_data(BINH), "uuid:binh", unit="00004")
    assert phones.manifest_md5("phone-ba-dinh") == after_visit  # a new case, not assigned
    phones.assign(BINH, "phone-ba-dinh")
    after_assign = phones.manifest_md5("phone-ba-dinh")
    assert after_assign != after_visit
    assert [r["name"] for r in phones.rows("phone-ba-dinh")] == [LAN, BINH]

    closing_day = date.today() - timedelta(days=3)
    store_decrypted(
        store,
        "vt05_followup",
        visit_data(LAN, closing_day.isoformat(), "closed_reintegrated"),
        "uuid:v2",
        unit="00004",
    )
    rows = {r["name"]: r for r in phones.rows("phone-ba-dinh")}
    assert rows[LAN]["status"] == "closed"  # shown closed during the grace period
    assert rows[LAN]["next_visit_due"] == ""
    assert phones.manifest_md5("phone-ba-dinh") != after_assign
    with store.session() as session:
        later = date.today() + timedelta(days=8)  # 11 days after the closing visit
        rows_later = case_assignments.case_list_rows(
            session.connection(), phones.ids["phone-ba-dinh"], "00004", 10, today=later
        )
        assert [r.case_code for r in rows_later] == [BINH]
        assert case_assignments.drop_closed(session, 10, "cron", today=date.today()) == 0
        assert case_assignments.drop_closed(session, 10, "cron", today=later) == 1
        left = session.scalars(select(CaseAssignment.case_code)).all()
        assert left == [BINH]
        assert session.scalars(
            select(AuditEntry.detail).where(AuditEntry.actor == "cron")
        ).one() == {"case_codes": [LAN], "why": "case closed"}


def test_a_case_is_assigned_only_inside_its_holding_unit(phones: Phones) -> None:
    store_decrypted(phones.store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
    for phone in ("phone-hai-phong",):
        with pytest.raises(Problem) as refused:
            phones.assign(LAN, "phone-ba-dinh", phone)
        assert refused.value.status == 400
    # all or nothing: the good collector of the same request was not assigned either
    assert phones.rows("phone-ba-dinh") == []
    with pytest.raises(Problem) as hidden:  # a supervisor of another unit does not find it
        phones.assign(LAN, "phone-ba-dinh", user=supervisor(("31",), "hp"))
    assert hidden.value.status == 404
    with phones.store.session() as session:
        assert session.scalars(select(CaseAssignment)).all() == []
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "case.assign")).all()
            == []
        )


def test_refused_contact_leaves_the_list_and_initials_need_consent_and_the_setting(
    config: Config, store: Store
) -> None:
    phones = _phones(replace(config, caselist_initials=True), store)
    refused = "01-2025-00003-26"
    silent = "01-2025-00004-23"
    store_decrypted(store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
    store_decrypted(
        store,
        "vt01_intake",
        intake_data(refused, followup_contact="no", full_name="Trần Văn Bình"),
        "uuid:refused",
        unit="00004",
    )
    store_decrypted(
        store,
        "vt01_intake",
        intake_data(silent, followup_contact=None, full_name="Lò Thị Mai"),
        "uuid:silent",
        unit="00004",
    )
    for code in (LAN, refused, silent):
        phones.assign(code, "phone-ba-dinh")
    text, _ = phones.case_list("phone-ba-dinh")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == [LAN]  # no one is sent to a person who said no
    assert rows[0]["label"] == f"{LAN} NTL · Phường Ba Đình · hạn/due 2026-02-09"
    assert "TVB" not in text
    assert "LTM" not in text
    # without the setting, the same consenting person has no initials
    off = Phones.__new__(Phones)
    off.__dict__.update(phones.__dict__)
    off.client = create_app(config, store).test_client()  # the same phones, setting off
    assert off.rows("phone-ba-dinh")[0]["label"] == f"{LAN} · Phường Ba Đình · hạn/due 2026-02-09"


def test_revoking_a_collector_stops_its_list_and_takes_its_cases(phones: Phones) -> None:
    store_decrypted(phones.store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
    phones.assign(LAN, "phone-ba-dinh", "phone-ba-dinh-2")
    token = phones.tokens["phone-ba-dinh"]
    with phones.store.session() as session:
        collector_service.revoke(session, phones.ids["phone-ba-dinh"], "admin")
    for path in ("manifest", "attachments/cases.csv"):
        response = phones.client.get(f"/c/{token}/forms/vt_test/{path}", headers=OR)
        assert response.status_code == 403
        assert LAN not in response.get_data(as_text=True)
    with phones.store.session() as session:
        left = session.scalars(select(CaseAssignment.collector_id)).all()
        assert left == [phones.ids["phone-ba-dinh-2"]]
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.unassign")
        ).one()
        assert entry.detail == {"case_codes": [LAN], "why": "collector revoked"}


def test_a_transferred_case_leaves_the_old_units_phones(phones: Phones) -> None:
    store_decrypted(phones.store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
    phones.assign(LAN, "phone-ba-dinh", "phone-ha-noi")
    with phones.store.session() as session:
        holdings.transfer(session, LAN, "31", "truong_phong")
    assert phones.rows("phone-ba-dinh") == []
    assert phones.rows("phone-ha-noi") == []
    assert phones.rows("phone-hai-phong") == []  # the new unit assigns its own
    with phones.store.session() as session:
        assert session.scalars(select(CaseAssignment)).all() == []
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.unassign")
        ).one()
        assert entry.detail["why"] == "case transferred"
    phones.assign(LAN, "phone-hai-phong", user=supervisor(("31",), "hp"))
    assert [r["name"] for r in phones.rows("phone-hai-phong")] == [LAN]


def test_the_next_visit_rule_follows_the_settings(config: Config, store: Store) -> None:
    app = create_app(replace(config, first_visit_days=7, next_visit_days=45), store)
    try:
        services_of(app)
        store_decrypted(store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
        store_decrypted(store, "vt01_intake", intake_data(BINH), "uuid:binh", unit="00004")
        store_decrypted(
            store, "vt05_followup", visit_data(BINH, "2026-02-01"), "uuid:v", unit="00004"
        )
        store_decrypted(
            store,
            "vt05_followup",
            visit_data(HAI_PHONG, "2026-02-01", planned="2026-02-20"),
            "uuid:hp",
            unit="31",
        )
        with store.session() as session:
            due = {
                code: case.next_followup_due
                for code in (LAN, BINH)
                if (case := case_store.by_code(session, code))
            }
        assert due == {LAN: date(2026, 1, 17), BINH: date(2026, 3, 18)}
    finally:
        case_service.use_visit_rule(case_service.VisitRule())
    rule = case_service.VisitRule(30, 90)
    planned, visit, reception = date(2026, 3, 1), date(2026, 2, 1), date(2026, 1, 1)
    assert rule.next_due("follow_up", planned, visit, reception) == planned
    assert rule.next_due("follow_up", None, visit, reception) == date(2026, 5, 2)
    assert rule.next_due("follow_up", None, None, reception) == date(2026, 1, 31)
    assert rule.next_due("closed", planned, visit, reception) is None
    assert rule.next_due("not_victim", None, None, reception) is None


def test_initials_are_plain_letters() -> None:
    assert case_assignments.initials_of("Nguyễn Thị Lan") == "NTL"
    assert case_assignments.initials_of("  Đỗ   văn  ") == "DV"
    assert case_assignments.initials_of(None) == ""


def test_the_drop_closed_command_removes_old_closures(phones: Phones, runner) -> None:
    from server.cli import main

    store_decrypted(phones.store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
    store_decrypted(phones.store, "vt01_intake", intake_data(BINH), "uuid:binh", unit="00004")
    phones.assign(LAN, "phone-ba-dinh")
    phones.assign(BINH, "phone-ba-dinh")
    store_decrypted(
        phones.store,
        "vt05_followup",
        visit_data(LAN, "2026-01-20", "closed_reintegrated"),
        "uuid:closed",
        unit="00004",
    )
    assert [r["name"] for r in phones.rows("phone-ba-dinh")] == [BINH]  # past the 14 days
    result = runner.invoke(main, ["cases", "drop-closed"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "1 assignments of closed cases removed"
    with phones.store.session() as session:
        assert session.scalars(select(CaseAssignment.case_code)).all() == [BINH]


def test_a_withdrawal_recorded_on_the_web_takes_the_row_off_at_the_next_check(
    phones: Phones,
) -> None:
    from server.services import consent

    store_decrypted(phones.store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
    phones.assign(LAN, "phone-ba-dinh")
    before = phones.case_list("phone-ba-dinh")  # made once, then kept while nothing changes
    assert phones.case_list("phone-ba-dinh") == before
    with phones.store.session() as session:
        consent.record_change(
            session,
            supervisor(),
            LAN,
            purpose=consent.FOLLOWUP_CONTACT,
            decision="no",
            given_by="self",
            reason="Chị ấy gọi điện: không muốn được liên lạc nữa.",
        )
    text, md5 = phones.case_list("phone-ba-dinh")
    assert md5 != before[1]
    assert LAN not in text


def test_an_erased_persons_case_leaves_every_phone(config: Config, phones: Phones) -> None:
    from server.services import subject

    store_decrypted(phones.store, "vt01_intake", intake_data(LAN), "uuid:lan", unit="00004")
    store_decrypted(phones.store, "vt01_intake", intake_data(BINH), "uuid:binh", unit="00004")
    phones.assign(LAN, "phone-ba-dinh")
    phones.assign(BINH, "phone-ba-dinh")
    before = phones.case_list("phone-ba-dinh")
    subject.erase(config, phones.store, LAN, "Yêu cầu xóa dữ liệu của chính người đó.")
    text, md5 = phones.case_list("phone-ba-dinh")
    assert md5 != before[1]
    assert [r["name"] for r in csv.DictReader(io.StringIO(text))] == [BINH]
    with phones.store.session() as session:
        assert session.scalars(select(CaseAssignment.case_code)).all() == [BINH]
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.unassign")
        ).one()
        assert entry.detail["why"] == "case erased"
    phones.assign(LAN, "phone-ba-dinh")  # given again later: still never listed
    assert [r["name"] for r in phones.rows("phone-ba-dinh")] == [BINH]
