"""The case store is a projection: rebuilt from current submissions, never drifting from them."""

from __future__ import annotations

from datetime import date
from typing import Any

from server.services import cases as case_service
from server.store import cases as case_store
from server.store.db import Store
from server.store.models import Submission
from tests.factories import store_decrypted

CODE = "01-2025-abc123"


def _submit(
    store: Store, form_id: str, data: dict[str, Any], instance: str, review_state: str = "received"
) -> int:
    return store_decrypted(store, form_id, data, instance, review_state)


INTAKE = {
    "office_province": "01",
    "office_commune": "00004",
    "reception_date": "2025-02-10",
    "reception_channel": "handover_foreign",
    "case_code": CODE,
    "person_type": "awaiting_id",
    "sex": "female",
    "age_years": "17",
    "purpose": "forced_marriage",
    "pii": {"full_name": "Nguyễn Thị Hoa", "other_names": "Hoa Lý"},
    "minors": [
        {
            "minor_index": "1",
            "minor_sex": "male",
            "minor_age_years": "2",
            "minor_relation": "own_child",
        }
    ],
}


def test_intake_creates_the_case_with_persons_and_search_text(store: Store) -> None:
    _submit(store, "vt01_intake", INTAKE, "uuid:i1")
    with store.session() as session:
        case = case_store.by_code(session, CODE)
        assert case is not None
        assert case.status == "awaiting_verification"
        assert (case.province_code, case.commune_code) == ("01", "00004")
        assert case.reception_date == date(2025, 2, 10)
        assert case.next_followup_due == date(2025, 3, 12)
        assert "nguyen thi hoa" in (case.search_text or "")
        persons = case_store.persons(session, case.id)
        assert [(p.person_index, p.sex, p.age_years) for p in persons] == [
            (0, "female", 17),
            (1, "male", 2),
        ]
        assert persons[1].person_type == "minor_accompanying"


def test_later_forms_build_the_timeline_and_status(store: Store) -> None:
    _submit(store, "vt01_intake", INTAKE, "uuid:i1")
    _submit(
        store,
        "vt02_verification",
        {"case_code": CODE, "verif_outcome": "confirmed", "decision_date": "2025-02-12"},
        "uuid:v1",
    )
    _submit(
        store,
        "vt04_support",
        {
            "case_code": CODE,
            "support_item": [
                {"support_date": "2025-02-20", "support_type": "medical"},
                {"support_date": "2025-02-15", "support_type": "ess_food"},
            ],
        },
        "uuid:s1",
    )
    _submit(
        store,
        "vt05_followup",
        {"case_code": CODE, "visit_date": "2025-04-01", "case_status": "follow_up"},
        "uuid:f1",
    )
    with store.session() as session:
        case = case_store.by_code(session, CODE)
        assert case.status == "follow_up"
        assert case.next_followup_due == date(2025, 6, 30)
        events = case_store.timeline(session, case.id)
        assert [(e.kind, e.event_date) for e in events] == [
            ("intake", date(2025, 2, 10)),
            ("verification", date(2025, 2, 12)),
            ("support", date(2025, 2, 15)),
            ("followup", date(2025, 4, 1)),
        ]
        assert events[2].summary["supports"] == ["medical", "ess_food"]
        assert "full_name" not in str(events[0].summary)


def test_closing_visit_closes_and_a_rejected_one_takes_its_effect_away(store: Store) -> None:
    _submit(store, "vt01_intake", INTAKE, "uuid:i1")
    closing = _submit(
        store,
        "vt05_followup",
        {"case_code": CODE, "visit_date": "2025-05-01", "case_status": "closed_reintegrated"},
        "uuid:f2",
    )
    with store.session() as session:
        case = case_store.by_code(session, CODE)
        assert (case.status, case.close_reason, case.next_followup_due) == (
            "closed",
            "reintegrated",
            None,
        )
        session.get(Submission, closing).review_state = "rejected"
        session.flush()
        case_service.rebuild(session, CODE)
    with store.session() as session:
        case = case_store.by_code(session, CODE)
        assert case.status == "awaiting_verification"
        assert case.closed_on is None


def test_the_latest_visit_plans_the_next(store: Store) -> None:
    _submit(store, "vt01_intake", INTAKE, "uuid:i1")
    _submit(
        store,
        "vt05_followup",
        {
            "case_code": CODE,
            "visit_date": "2025-04-01",
            "case_status": "follow_up",
            "next_visit_date": "2025-04-20",
        },
        "uuid:f1",
    )
    with store.session() as session:
        assert case_store.by_code(session, CODE).next_followup_due == date(2025, 4, 20)
    _submit(
        store,
        "vt05_followup",
        {"case_code": CODE, "visit_date": "2025-04-21", "case_status": "follow_up"},
        "uuid:f2",
    )
    with store.session() as session:  # no plan given at the latest visit: 90 days after it
        assert case_store.by_code(session, CODE).next_followup_due == date(2025, 7, 20)
