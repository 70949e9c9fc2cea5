"""The case page's consent: shown at the top, changed by a supervisor from paper (with a
reason, audited), and a withdrawn person's identifying information neither shown nor
revealed (Problem 451.1, bilingual)."""

from __future__ import annotations

from sqlalchemy import select

from server.services import consent
from server.store.models import AuditEntry
from tests.web.conftest import WebDeployment

LAN = "01-2025-aaaaaa"  # Nguyễn Thị Lan, unit 01, with a minor
BINH = "01-2025-cccccc"  # Trần Văn Bình, unit 01
WITHDRAWN_VI = "Người này đã rút lại"
WITHDRAWN_EN = "This person has withdrawn"


def _change(client, case_id: int, **fields: object):  # type: ignore[no-untyped-def]
    data = {
        "person_index": "0",
        "purpose": "intake",
        "recipient_type": "",
        "decision": "no",
        "given_by": "self",
        "decided_on": "",
        "reason": "Đơn rút lại đồng ý đã ký, lưu hồ sơ giấy",
        **fields,
    }
    return client.post(f"/cases/{case_id}/consent", data)


def test_consent_is_shown_at_the_top_of_the_case_page(web: WebDeployment) -> None:
    sup_a = web.client("sup_a")
    page = sup_a.get(f"/cases/{web.seeded.case_ids[BINH]}").get_data(as_text=True)
    assert 'id="consent"' in page
    assert page.index('id="consent"') < page.index('id="identifying"')
    assert page.index('id="consent"') < page.index('class="facts"')  # before the case facts
    assert "Tình trạng đồng ý hiện nay" in page
    assert 'data-purpose="data_use"' in page
    assert "Chưa hỏi" in page  # nothing recorded: silence is not consent


def test_a_supervisor_records_a_withdrawal_and_the_reveal_is_refused(web: WebDeployment) -> None:
    sup_a = web.client("sup_a")
    case_id = web.seeded.case_ids[LAN]
    # Revealed before the withdrawal: the names show.
    sup_a.post(f"/cases/{case_id}/reveal", {"reason": "Chuẩn bị thăm nhà ngày mai"})
    assert "Nguyễn Thị Lan" in sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    given = _change(sup_a, case_id, decision="yes", reason="Giấy đồng ý đã ký khi tiếp nhận")
    assert given.status_code == 302
    response = _change(sup_a, case_id)
    assert response.status_code == 302
    page = sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Đã ghi nhận quyết định đồng ý." in page
    assert "Đã rút lại" in page
    # The earlier reveal no longer shows anything, and a new one is refused, bilingually.
    assert "Nguyễn Thị Lan" not in page
    assert "Nguyễn Văn Tí" not in page
    assert 'id="reveal-form"' not in page
    assert 'id="consent-withheld"' in page
    refused = sup_a.post(f"/cases/{case_id}/reveal", {"reason": "Cần xem lại hồ sơ đầy đủ"})
    assert refused.status_code == 302
    after = sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    assert WITHDRAWN_VI in after
    assert WITHDRAWN_EN in after
    assert "Nguyễn Thị Lan" not in after
    # The intake submission's own page refuses as well, and JSON says 451.1.
    submission_id = web.seeded.submission_ids[LAN]
    answer = sup_a.post(
        f"/submissions/{submission_id}/reveal",
        {"reason": "Cần xem lại hồ sơ đầy đủ"},
    )
    assert answer.status_code == 302
    shown = sup_a.get(f"/submissions/{submission_id}").get_data(as_text=True)
    assert WITHDRAWN_VI in shown
    assert "Nguyễn Thị Lan" not in shown
    with web.store.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "consent.change", AuditEntry.target == f"case:{case_id}"
            )
        ).all()
        assert [e.detail["decision"] for e in entries if e.detail] == ["yes", "no"]
        assert {e.actor for e in entries} == {"sup_a"}
        assert all(e.detail and e.detail["purpose"] == "intake" for e in entries)
        assert "Nguyễn" not in str([e.detail for e in entries])
        assert not consent.allows(session, LAN, consent.INTAKE)
        reveals = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "identifying.reveal", AuditEntry.target == f"case:{case_id}"
            )
        ).all()
        assert len(reveals) == 1  # only the one before the withdrawal


def test_the_problem_is_stable_and_bilingual() -> None:
    from server import errors

    problem = errors.consent_withdrawn()
    assert problem.code == "451.1"
    assert problem.status == 451
    assert WITHDRAWN_VI in problem.message
    assert WITHDRAWN_EN in problem.message


def test_a_bad_change_is_refused_and_changes_nothing(web: WebDeployment) -> None:
    sup_a = web.client("sup_a")
    case_id = web.seeded.case_ids[BINH]
    for bad in (
        {"reason": "ngắn"},
        {"purpose": "marketing"},
        {"purpose": "referral", "decision": "yes"},  # no recipient type
        {"decided_on": "2999-01-01"},
        {"decided_on": "01/02/2025"},
        {"given_by": "neighbour"},
        {"person_index": "x"},
    ):
        response = _change(sup_a, case_id, **bad)
        assert response.status_code == 302
        page = sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
        assert "Đã ghi nhận quyết định đồng ý." not in page, bad
    with web.store.session() as session:
        assert consent.history(session, BINH) == []


def test_outsiders_cannot_record_a_change(web: WebDeployment) -> None:
    case_id = web.seeded.case_ids[BINH]
    assert _change(web.client("sup_b"), case_id).status_code == 404  # another unit
    assert _change(web.client("viewer"), case_id).status_code == 403
    with web.store.session() as session:
        assert consent.history(session, BINH) == []


def test_a_recipient_type_consent_given_on_paper(web: WebDeployment) -> None:
    sup_a = web.client("sup_a")
    case_id = web.seeded.case_ids[BINH]
    for purpose, recipient in (("intake", ""), ("referral", "legal_aid_centre")):
        _change(sup_a, case_id, purpose=purpose, recipient_type=recipient, decision="yes")
    with web.store.session() as session:
        assert consent.allows(session, BINH, consent.REFERRAL, recipient_type="legal_aid_centre")
        assert not consent.allows(session, BINH, consent.REFERRAL, recipient_type="swc")
    page = sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'data-purpose="referral:legal_aid_centre"' in page
    assert "Trung tâm trợ giúp pháp lý" in page or "legal_aid_centre" in page
