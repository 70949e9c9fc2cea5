"""Referrals to services: recorded by the holding unit, outcomes from the phones' vt04/vt05
answers or the web view, and the overdue list."""

from __future__ import annotations

from datetime import date

import pytest

from server.errors import Problem
from server.services import referrals
from server.store import audit
from server.store.db import Store
from tests.integration import test_unit_rule
from tests.integration.test_transfers import SUP_01, SUP_02, _case_id, _user
from tests.integration.test_unit_rule import CODE, Phones

phones = test_unit_rule.phones
REASON = "Cần trợ giúp pháp lý cho thủ tục giấy tờ"


def _refer(store: Store, service: str = "legal_aid_centre", **kwargs: object) -> int:
    case_id = _case_id(store)
    with store.session() as session:
        return referrals.create(
            session,
            kwargs.pop("user", SUP_01),  # type: ignore[arg-type]
            case_id,
            service,
            str(kwargs.pop("organisation", "Trung tâm TGPL tỉnh")),
            str(kwargs.pop("reason", REASON)),
            kwargs.pop("on", date(2025, 3, 3)),  # type: ignore[arg-type]
            bool(kwargs.pop("share_identity", False)),
        ).id


def _followup_answering(phones: Phones, phone: str, target: str, outcome: str) -> str:
    body = (
        f"<case_code>{CODE}</case_code><visit_date>2025-04-01</visit_date>"
        f"<case_status>follow_up</case_status><support_item><referral_to>{target}"
        f"</referral_to><referral_outcome>{outcome}</referral_outcome></support_item>"
    )
    return phones.send(phone, "vt05_followup", body)


def _page(store: Store, today: date = date(2025, 3, 10), user: object = SUP_01):
    with store.session() as session:
        return referrals.referrals_page(session, user, 14, today)  # type: ignore[arg-type]


def test_outcome_from_the_phones_and_the_overdue_list(phones: Phones, store: Store) -> None:
    phones.intake("p01")
    legal = _refer(store)
    school = _refer(store, "vocational_school", organisation="Trường nghề tỉnh")
    page = _page(store)
    assert {r.id for r in page.referrals} == {legal, school}
    assert page.overdue == []  # 7 days: not yet
    assert {r.id for r in _page(store, date(2025, 3, 20)).overdue} == {legal, school}
    assert _page(store, user=SUP_02).referrals == []  # another unit sees none of them
    # the phone answers for the legal aid referral only; "pending" is no outcome
    _followup_answering(phones, "p01", "legal_aid_centre", "service_received")
    _followup_answering(phones, "p01", "vocational_school", "pending")
    page = _page(store, date(2025, 3, 20))
    by_id = {r.id: r for r in page.referrals}
    assert (by_id[legal].outcome, by_id[legal].outcome_source) == ("service_received", "submission")
    assert by_id[legal].outcome_on == date(2025, 4, 1)
    assert by_id[school].outcome is None
    assert [r.id for r in page.overdue] == [school]
    # an answer from a phone of another unit acts on nothing
    _followup_answering(phones, "p02", "vocational_school", "accepted")
    assert [r.id for r in _page(store, date(2025, 3, 20)).overdue] == [school]
    # the web view records the school's answer; a later phone answer does not override it
    with store.session() as session:
        referrals.set_outcome(session, SUP_01, school, "no_answer", date(2025, 4, 2))
    _followup_answering(phones, "p01", "vocational_school", "accepted")
    by_id = {r.id: r for r in _page(store, date(2025, 5, 1)).referrals}
    assert (by_id[school].outcome, by_id[school].outcome_by) == ("no_answer", "sup01")
    assert _page(store, date(2025, 5, 1)).overdue == []
    with store.session() as session:
        created = audit.recent(session, 5, "referral.create")
        assert {e.detail["service_type"] for e in created} == {
            "legal_aid_centre",
            "vocational_school",
        }
        assert audit.recent(session, 1, "referral.outcome")[0].detail["outcome"] == "no_answer"


def test_bad_referrals_are_refused(phones: Phones, store: Store) -> None:
    phones.intake("p01")
    for kwargs, status in (
        ({"service": "spa"}, 400),
        ({"organisation": " "}, 400),
        ({"reason": "ngắn"}, 400),
        ({"on": date(2999, 1, 1)}, 400),
        ({"share_identity": True}, 400),  # no consent to share identity with a service
        ({"user": SUP_02}, 404),
        ({"user": _user("viewer", ("01",), role="viewer")}, 403),
    ):
        with pytest.raises(Problem) as refused:
            _refer(store, **kwargs)  # type: ignore[arg-type]
        assert refused.value.status == status, kwargs
    assert _page(store).referrals == []
    legal = _refer(store)
    for user, outcome, on, status in (
        (SUP_01, "maybe", None, 400),
        (SUP_01, "accepted", date(2025, 1, 1), 400),  # before the referral
        (SUP_02, "accepted", None, 404),
    ):
        with store.session() as session, pytest.raises(Problem) as refused:
            referrals.set_outcome(session, user, legal, outcome, on)
        assert refused.value.status == status
    assert _page(store).referrals[0].outcome is None
