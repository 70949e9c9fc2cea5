"""The consent ledger on SQLite and PostgreSQL: decisions projected from the forms with their
case, a supervisor's change from paper, and `allows` answering from both."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from server.errors import Problem
from server.services import cases as case_service
from server.services import consent
from server.services.auth import CurrentUser
from server.store.db import Store
from server.store.models import AuditEntry, Submission
from server.store.scope import UnitScope
from tests.exports.test_reports import intake
from tests.factories import store_decrypted

AGREED = "01-2025-10001-00"
REFUSED = "01-2025-10002-00"
CHILD = "01-2025-10003-00"


def consented(code: str, age: int = 30, by: str = "self", **answers: str) -> dict[str, Any]:
    data = intake(code, "2025-03-01", "rescued", "female", age, "forced_labour", "cn")
    data["consent"] = {"consent_by": by, **answers}
    return data


def supervisor(units: tuple[str, ...] = ("01",)) -> CurrentUser:
    return CurrentUser(1, "giam_sat", "supervisor", units, UnitScope.of_units(list(units)), 1)


@pytest.fixture
def ledger(store: Store) -> Store:
    store_decrypted(
        store,
        "vt01_intake",
        consented(
            AGREED,
            consent_intake="yes",
            consent_referral_to="swc legal_aid_centre",
            consent_followup_contact="yes",
            consent_data_use="yes",
            consent_police="no",
        ),
        "uuid:agreed",
    )
    store_decrypted(
        store,
        "vt01_intake",
        consented(
            REFUSED,
            consent_intake="no",
            consent_followup_contact="no",
            consent_data_use="no",
        ),
        "uuid:refused",
    )
    child = consented(CHILD, age=15, by="legal_rep", consent_intake="yes", consent_data_use="yes")
    child["minors"] = [
        {
            "minor_index": "1",
            "minor_age_years": "4",
            "minor_consent_by": "legal_rep",
            "minor_consent_intake": "yes",
        }
    ]
    store_decrypted(store, "vt01_intake", child, "uuid:child")
    return store


def test_allows_reads_the_intake_decisions(ledger: Store) -> None:
    with ledger.session() as session:
        assert consent.allows(session, AGREED, consent.INTAKE)
        assert consent.allows(session, AGREED, consent.DATA_USE)
        assert consent.allows(session, AGREED, consent.FOLLOWUP_CONTACT)
        assert consent.allows(session, AGREED, consent.REFERRAL, recipient_type="swc")
        assert not consent.allows(session, AGREED, consent.REFERRAL, recipient_type="police")
        assert not consent.allows(session, AGREED, consent.POLICE)
        for purpose in (consent.INTAKE, consent.DATA_USE, consent.FOLLOWUP_CONTACT):
            assert not consent.allows(session, REFUSED, purpose)
        assert not consent.allows(session, "01-2025-99999-00", consent.INTAKE)  # unknown
        with pytest.raises(ValueError, match="recipient type"):
            consent.allows(session, AGREED, consent.REFERRAL)
        with pytest.raises(ValueError, match="unknown consent purpose"):
            consent.allows(session, AGREED, "marketing")


def test_a_15_year_old_with_only_the_representative_is_flagged(ledger: Store) -> None:
    with ledger.session() as session:
        assert not consent.allows(session, CHILD, consent.INTAKE)
        people = consent.case_consent(session, CHILD)
        assert [p.person_index for p in people] == [0, 1]
        assert ("intake", "child_not_asked") in people[0].flags
        # The accompanying 4-year-old: the representative alone is right below 7.
        assert consent.allows(session, CHILD, consent.INTAKE, person_index=1)
        assert people[1].flags == []


def test_bulk_answers_match_allows(ledger: Store) -> None:
    with ledger.session() as session:
        assert consent.cases_allowing(session, consent.DATA_USE) == {AGREED}
        assert consent.persons_allowing(session, consent.INTAKE, [AGREED, REFUSED, CHILD]) == {
            (AGREED, 0),
            (CHILD, 1),
        }
        assert consent.cases_allowing(
            session, consent.REFERRAL, None, recipient_type="legal_aid_centre"
        ) == {AGREED}


def test_withdrawal_from_the_web_stops_the_next_use_and_is_audited(ledger: Store) -> None:
    with ledger.session() as session:
        assert consent.allows(session, AGREED, consent.REFERRAL, recipient_type="swc")
        found = consent.record_change(
            session,
            supervisor(),
            AGREED,
            purpose=consent.REFERRAL,
            decision="no",
            given_by="self",
            reason="Rút lại đồng ý bằng văn bản ngày 2/12",
        )
        assert found.flag is None
    with ledger.session() as session:
        for recipient in ("swc", "legal_aid_centre"):
            assert not consent.allows(session, AGREED, consent.REFERRAL, recipient_type=recipient)
        assert consent.allows(session, AGREED, consent.INTAKE)
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent.change")
        ).one()
        assert entry.actor == "giam_sat"
        assert entry.detail is not None
        assert entry.detail["decision"] == "no"
        assert entry.detail["reason"].startswith("Rút lại")


def test_withdrawing_intake_suspends_contact_but_not_data_use(ledger: Store) -> None:
    with ledger.session() as session:
        consent.record_change(
            session,
            supervisor(),
            AGREED,
            purpose=consent.INTAKE,
            decision="no",
            given_by="self",
            reason="Người được tiếp nhận rút lại đồng ý",
        )
    with ledger.session() as session:
        assert not consent.allows(session, AGREED, consent.INTAKE)
        assert not consent.allows(session, AGREED, consent.FOLLOWUP_CONTACT)
        assert consent.allows(session, AGREED, consent.DATA_USE)
        standings = consent.case_consent(session, AGREED)[0].standings
        assert standings["intake"].state == "withdrawn"
        assert standings["followup_contact"].state == "suspended"


def test_a_web_change_survives_a_rebuild_and_a_rejected_form_takes_its_decisions(
    ledger: Store,
) -> None:
    with ledger.session() as session:
        consent.record_change(
            session,
            supervisor(),
            REFUSED,
            purpose=consent.DATA_USE,
            decision="yes",
            given_by="self",
            reason="Đồng ý sau, trên giấy, ngày 1/12",
        )
    with ledger.session() as session:
        case_service.rebuild(session, REFUSED)
        assert consent.allows(session, REFUSED, consent.DATA_USE)
        session.execute(
            update(Submission)
            .where(Submission.instance_id == "uuid:agreed")
            .values(review_state="rejected")
        )
        case_service.rebuild(session, AGREED)
    with ledger.session() as session:
        assert not consent.allows(session, AGREED, consent.INTAKE)
        assert consent.history(session, AGREED) == []


def test_a_bad_change_is_refused_and_changes_nothing(ledger: Store) -> None:
    bad: list[dict[str, Any]] = [
        {"purpose": "marketing"},
        {"purpose": consent.REFERRAL, "decision": "yes"},  # no recipient type
        {"purpose": consent.REFERRAL, "recipient_type": "bank"},
        {"purpose": consent.INTAKE, "recipient_type": "swc"},
        {"decision": "maybe"},
        {"given_by": "neighbour"},
        {"reason": "short"},
    ]
    for change in bad:
        arguments: dict[str, Any] = {
            "purpose": consent.INTAKE,
            "decision": "no",
            "given_by": "self",
            "reason": "Lý do đủ dài để ghi",
            **change,
        }
        with ledger.session() as session, pytest.raises(Problem):
            consent.record_change(session, supervisor(), AGREED, **arguments)
    with ledger.session() as session, pytest.raises(Problem):  # another unit's case
        consent.record_change(
            session,
            supervisor(("02",)),
            AGREED,
            purpose=consent.INTAKE,
            decision="no",
            given_by="self",
            reason="Lý do đủ dài để ghi",
        )
    with ledger.session() as session:
        assert all(row.source == "form" for row in consent.history(session, AGREED))
        assert consent.allows(session, AGREED, consent.INTAKE)


def test_a_withdrawal_on_a_follow_up_form_blocks_the_next_share(ledger: Store) -> None:
    with ledger.session() as session:
        # Shared once with the Social Work Centre: allowed then.
        assert consent.allows(session, AGREED, consent.REFERRAL, recipient_type="swc")
    store_decrypted(
        ledger,
        "vt05_followup",
        {
            "case_code": AGREED,
            "person_index": "0",
            "visit_date": "2025-05-01",
            "contact_made": "yes",
            "case_status": "follow_up",
            "consent_section": {
                "consent_change": "yes",
                "consent_change_by": "self",
                "consent_change_date": "2025-05-01",
                "consent_withdraw_referral": "swc",
                "consent_give_referral": "women_union",
            },
        },
        "uuid:withdraw-swc",
    )
    with ledger.session() as session:
        assert not consent.allows(session, AGREED, consent.REFERRAL, recipient_type="swc")
        assert consent.allows(session, AGREED, consent.REFERRAL, recipient_type="legal_aid_centre")
        assert consent.allows(session, AGREED, consent.REFERRAL, recipient_type="women_union")
        standings = consent.case_consent(session, AGREED)[0].standings
        assert standings["referral:swc"].state == "withdrawn"


def test_a_paper_change_projects_the_standings_once(
    ledger: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change is appended and the case projected again in one transaction: the standings
    are written once (by the projection), not once for the append and again for the case,
    and they hold the change."""
    from server.store import consent as consent_store

    calls: list[set[str]] = []
    real = consent_store.refresh_standings

    def counted(connection: Any, case_codes: Any) -> Any:
        calls.append(set(case_codes or ()))
        return real(connection, case_codes)

    monkeypatch.setattr(consent_store, "refresh_standings", counted)
    with ledger.session() as session:
        consent.record_change(
            session,
            supervisor(),
            AGREED,
            purpose=consent.FOLLOWUP_CONTACT,
            decision="no",
            given_by="self",
            reason="Rút lại đồng ý liên lạc qua điện thoại",
        )
    assert calls == [{AGREED}]
    with ledger.session() as session:
        assert not consent.allows(session, AGREED, consent.FOLLOWUP_CONTACT)
        standings = consent.case_consent(session, AGREED)[0].standings
        assert standings["followup_contact"].state == "withdrawn"
