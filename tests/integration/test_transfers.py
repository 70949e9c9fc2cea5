"""Transfers between units: proposed by the holding unit, accepted or declined by the receiving
one; on accept the holding changes, the sending unit keeps read access to what it recorded and
its phones can no longer add to the case (unless it is handed back).

Submissions go through the OpenRosa route, encrypted, from phones of provinces 01 and 02
(tests/integration/test_unit_rule.py's `Phones`).
"""

from __future__ import annotations

import pytest

from server.errors import Problem
from server.services import case_view, holdings, transfers
from server.services.auth import CurrentUser
from server.store import audit
from server.store import cases as case_store
from server.store.db import Store
from server.store.models import CaseTransfer
from server.store.scope import UnitScope
from tests.integration import test_unit_rule
from tests.integration.test_unit_rule import CODE, Phones, _case, _check

phones = test_unit_rule.phones  # the fixture: one phone per unit, case forms encrypted


def _user(name: str, units: tuple[str, ...], role: str = "supervisor") -> CurrentUser:
    scope = UnitScope.all_units() if role == "admin" else UnitScope.of_units(units)
    return CurrentUser(1, name, role, units, scope, 1)


SUP_01 = _user("sup01", ("01",))
SUP_02 = _user("sup02", ("02",))
VIEWER_02 = _user("viewer02", ("02",), role="viewer")
REASON = "Người được tiếp nhận sống ở tỉnh 02, chuyển về nơi cư trú"


def _case_id(store: Store) -> int:
    case = _case(store)
    assert case is not None
    return case.id


def _propose(store: Store, to: str = "02", **kwargs: object) -> int:
    case_id = _case_id(store)
    with store.session() as session:
        transfer = transfers.propose(
            session,
            kwargs.pop("user", SUP_01),  # type: ignore[arg-type]
            case_id,
            to,
            str(kwargs.pop("reason", REASON)),
            bool(kwargs.pop("share_identity", False)),
        )
        return transfer.id


def _count(store: Store) -> int:
    with store.session() as session:
        return session.query(CaseTransfer).count()


def test_accepted_transfer_moves_the_case(phones: Phones, store: Store) -> None:
    phones.intake("p01")
    transfer_id = _propose(store)
    # nothing moves before the answer: still unit 01's, unit 01's phones still act on it
    assert _case(store).province_code == "01"  # type: ignore[union-attr]
    with store.session() as session:
        page_02 = transfers.transfers_page(session, SUP_02)
        page_01 = transfers.transfers_page(session, SUP_01)
    assert [(t.id, t.state, t.may_answer) for t in page_02.incoming] == [
        (transfer_id, "pending", True)
    ]
    assert page_02.outgoing == []
    assert page_01.incoming == []
    assert [t.id for t in page_01.outgoing] == [transfer_id]
    with store.session() as session:
        transfers.accept(session, SUP_02, transfer_id)
    assert _case(store).province_code == "02"  # type: ignore[union-attr]
    case_id = _case_id(store)
    with store.session() as session:
        assert holdings.current_holding(session, CODE).code == "02"  # type: ignore[union-attr]
        # the receiving supervisor sees the case, with the earlier unit's statistical core
        received = case_view.case_page(session, SUP_02, case_id, "vi", revealed=True)
        assert [e.kind for e in received.timeline] == ["intake"]
        assert received.hidden_events == 0
        assert received.persons
        assert received.persons[0].sex == "female"
        # identity did not travel (no consent): no identifying field reaches unit 02
        assert received.identifying == []
        assert received.may_transfer
        assert received.handed_over_to is None
        # the sending supervisor keeps what unit 01 recorded, but not the later status
        sent = case_view.case_page(session, SUP_01, case_id, "vi", revealed=True)
        assert sent.handed_over_to == "02"
        assert sent.status_hidden
        assert not sent.may_transfer
        assert sent.persons == []
        assert [e.kind for e in sent.timeline] == ["intake"]
        assert "Lò Thị Mai" in [item.value for item in sent.identifying]
        # a supervisor of a third unit still finds nothing
        with pytest.raises(Problem) as missing:
            case_view.case_page(session, _user("sup03", ("03",)), case_id, "vi", revealed=False)
        assert missing.value.status == 404
    # a phone of the sending unit can no longer add to it; the receiving unit's can
    late = phones.followup("p01", "closed_deceased")
    assert _check(store, late) == "foreign_case"
    assert _case(store).status == "awaiting_verification"  # type: ignore[union-attr]
    phones.followup("p02", "follow_up")
    assert _case(store).status == "follow_up"  # type: ignore[union-attr]
    with store.session() as session:
        sent = case_view.case_page(session, SUP_01, case_id, "vi", revealed=False)
        assert [e.kind for e in sent.timeline] == ["intake"]  # not unit 02's follow-up
        assert sent.hidden_events == 1
        proposed = audit.recent(session, 10, "transfer.propose")[0]
        accepted = audit.recent(session, 10, "transfer.accept")[0]
        moved = audit.recent(session, 10, "case.transfer")[0]
    assert (proposed.actor, proposed.detail["from"], proposed.detail["to"]) == ("sup01", "01", "02")
    assert proposed.detail["identity"] is False
    assert (accepted.actor, accepted.detail["from"], accepted.detail["to"]) == ("sup02", "01", "02")
    assert moved.detail == {"case_code": CODE, "from": "01", "to": "02"}
    for entry in (proposed, accepted, moved):
        assert "Lò Thị Mai" not in str(entry.detail)


def test_declined_transfer_changes_nothing(phones: Phones, store: Store) -> None:
    phones.intake("p01")
    transfer_id = _propose(store)
    with store.session() as session, pytest.raises(Problem) as short:
        transfers.decline(session, SUP_02, transfer_id, "no")
    assert short.value.status == 400
    with store.session() as session:
        transfers.decline(session, SUP_02, transfer_id, "Không có nơi tiếp nhận phù hợp")
    assert _case(store).province_code == "01"  # type: ignore[union-attr]
    phones.followup("p01", "follow_up")
    assert _case(store).status == "follow_up"  # type: ignore[union-attr]
    with store.session() as session:
        row = transfers.transfers_page(session, SUP_01).outgoing[0]
        assert (row.state, row.decided_by, row.may_answer) == ("declined", "sup02", False)
        assert audit.recent(session, 1, "transfer.decline")[0].detail["to"] == "02"
        with pytest.raises(Problem):  # answered once only
            transfers.accept(session, SUP_02, transfer_id)
    # and a new proposal is possible again
    _propose(store)


def test_bad_proposals_are_refused_and_store_nothing(phones: Phones, store: Store) -> None:
    phones.intake("p01")
    for kwargs, status in (
        ({"to": "1"}, 400),  # not a unit code
        ({"to": "01"}, 400),  # the unit holding it
        ({"reason": "ngắn"}, 400),
        ({"share_identity": True}, 400),  # no consent to share identity
        ({"user": SUP_02}, 404),  # not the holding unit's supervisor
        ({"user": VIEWER_02}, 403),
    ):
        with pytest.raises(Problem) as refused:
            _propose(store, **kwargs)  # type: ignore[arg-type]
        assert refused.value.status == status, kwargs
    assert _count(store) == 0
    transfer_id = _propose(store)
    with pytest.raises(Problem) as twice:
        _propose(store, to="03")
    assert twice.value.status == 400
    # only the receiving unit answers: the sender cannot accept its own proposal
    for user in (SUP_01, _user("sup03", ("03",))):
        with store.session() as session, pytest.raises(Problem) as foreign:
            transfers.accept(session, user, transfer_id)
        assert foreign.value.status == 404
    assert _count(store) == 1
    assert _case(store).province_code == "01"  # type: ignore[union-attr]


def test_handed_back_the_first_units_phones_act_again(phones: Phones, store: Store) -> None:
    phones.intake("p01")
    first = _propose(store)
    with store.session() as session:
        transfers.accept(session, SUP_02, first)
    back = _propose(store, to="01", user=SUP_02)
    with store.session() as session:
        transfers.accept(session, SUP_01, back)
    again = phones.followup("p01", "follow_up")
    assert _check(store, again) == "accepted"
    case_id = _case_id(store)
    with store.session() as session:
        assert [h.province_code for h in _histories(session)] == ["01", "02", "01"]
        page = case_view.case_page(session, SUP_01, case_id, "vi", revealed=False)
    assert page.handed_over_to is None
    assert not page.status_hidden


def _histories(session: object) -> list[object]:
    from server.store import holdings as holding_store

    return holding_store.histories(session.connection(), [CODE])[CODE]  # type: ignore[attr-defined]


def test_case_store_by_code_unchanged(phones: Phones, store: Store) -> None:
    """A transfer keeps one case row: the projection follows the holding."""
    phones.intake("p01")
    first = _propose(store)
    with store.session() as session:
        transfers.accept(session, SUP_02, first)
    with store.session() as session:
        assert case_store.count_in_scope(session, UnitScope.all_units()) == 1
        assert case_store.count_in_scope(session, UnitScope.of_units(["01"])) == 0


def _consent(store: Store, recipient: str | None, purpose: str = "referral") -> None:
    from server.services import consent

    with store.session() as session:
        consent.record_change(
            session,
            SUP_01,
            CODE,
            purpose=purpose,
            decision="yes",
            given_by="self",
            reason="Đồng ý trên giấy, lưu tại hồ sơ giấy",
            recipient_type=recipient,
        )


def test_with_consent_identity_travels_and_the_sender_follows(phones: Phones, store: Store) -> None:
    phones.intake("p01")
    _consent(store, None, purpose="intake")
    # consent to share with a commune does not cover a province
    _consent(store, "commune_pc")
    with pytest.raises(Problem):
        _propose(store, share_identity=True)
    _consent(store, "province_health")
    transfer_id = _propose(store, share_identity=True)
    with store.session() as session:
        transfers.accept(session, SUP_02, transfer_id)
    case_id = _case_id(store)
    with store.session() as session:
        received = case_view.case_page(session, SUP_02, case_id, "vi", revealed=True)
        sent = case_view.case_page(session, SUP_01, case_id, "vi", revealed=False)
    assert "Lò Thị Mai" in [item.value for item in received.identifying]
    assert sent.handed_over_to == "02"
    assert not sent.status_hidden  # unit 01 is a province: the consent covers it
    # withdrawn: the next view of unit 02 shows no identity any more
    from server.services import consent

    with store.session() as session:
        consent.record_change(
            session,
            SUP_02,
            CODE,
            purpose="referral",
            decision="no",
            given_by="self",
            reason="Rút lại đồng ý chia sẻ, có đơn",
            recipient_type="province_health",
        )
    with store.session() as session:
        received = case_view.case_page(session, SUP_02, case_id, "vi", revealed=True)
        sent = case_view.case_page(session, SUP_01, case_id, "vi", revealed=False)
    assert received.identifying == []
    assert sent.status_hidden
