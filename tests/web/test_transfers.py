"""The transfer pages: unit A's supervisor proposes from the case page, unit B's accepts on
the transfers page, and neither page shows an identifying value of the person moved."""

from __future__ import annotations

import re

from tests.web.builders import IDENTIFYING_VALUES
from tests.web.conftest import WebDeployment

CODE = "01-2025-cccccc"


def _no_identity(html: str) -> None:
    leaked = [value for value in IDENTIFYING_VALUES if value in html]
    assert not leaked, leaked


def test_propose_accept_and_read_back(web: WebDeployment) -> None:
    case_id = web.seeded.case_ids[CODE]
    sup_a, sup_b = web.client("sup_a"), web.client("sup_b")
    page = sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="transfer-form"' in page  # unit A holds it: it may transfer it
    assert page.count('id="transfer-form"') == 1  # once, in the page's body
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<" not in title, title
    assert "form" not in title, title
    refused = sup_a.post(
        f"/cases/{case_id}/transfer", {"to_unit": "02", "reason": "ngắn"}, follow_redirects=True
    )
    assert "Lý do" in refused.get_data(as_text=True) or refused.status_code == 200
    assert "transfers-in" not in sup_b.get("/transfers").get_data(as_text=True)
    proposed = sup_a.post(
        f"/cases/{case_id}/transfer",
        {"to_unit": "02", "reason": "Người này cư trú tại tỉnh 02, chuyển về địa phương"},
    )
    assert proposed.status_code == 302
    incoming = sup_b.get("/transfers").get_data(as_text=True)
    assert CODE in incoming
    assert "Chờ trả lời" in incoming
    _no_identity(incoming)
    transfer_id = int(re.search(r'data-transfer="(\d+)"', incoming).group(1))  # type: ignore[union-attr]
    # unit B cannot open the case before it accepts
    assert sup_b.get(f"/cases/{case_id}").status_code == 404
    assert sup_b.post(f"/transfers/{transfer_id}/accept").status_code == 302
    received = sup_b.get(f"/cases/{case_id}")
    assert received.status_code == 200
    html = received.get_data(as_text=True)
    assert 'id="transfer-form"' in html
    assert 'id="handed-over"' not in html
    _no_identity(html)
    # unit A still reads what it recorded, without the later status, and cannot transfer it
    sent = sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="handed-over"' in sent
    assert 'id="status-hidden"' in sent
    assert 'id="transfer-form"' not in sent
    outgoing = sup_a.get("/transfers").get_data(as_text=True)
    assert "transfers-out" in outgoing
    assert "Đã tiếp nhận" in outgoing
    _no_identity(outgoing)
    # answered once: a second accept is refused and moves nothing
    again = sup_b.post(f"/transfers/{transfer_id}/accept", follow_redirects=True)
    assert "đã được trả lời" in again.get_data(as_text=True)


def test_referral_pages(web: WebDeployment) -> None:
    case_id = web.seeded.case_ids["01-2025-aaaaaa"]
    sup_a, sup_b = web.client("sup_a"), web.client("sup_b")
    assert 'id="referral-form"' in sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    made = sup_a.post(
        f"/cases/{case_id}/referrals",
        {
            "service_type": "women_union",
            "organisation": "Hội LHPN xã",
            "reason": "Hỗ trợ vay vốn sinh kế qua Hội Phụ nữ",
            "referred_on": "2025-01-02",
        },
        follow_redirects=True,
    )
    html = made.get_data(as_text=True)
    assert "Đã ghi nhận chuyển tuyến." in html
    assert "Hội Liên hiệp Phụ nữ" in html
    listed = sup_a.get("/referrals").get_data(as_text=True)
    assert 'id="referrals-overdue"' in listed  # long past the 14 days, no outcome
    _no_identity(listed)
    referral_id = int(re.search(r'data-referral="(\d+)"', listed).group(1))  # type: ignore[union-attr]
    assert "referrals-all" not in sup_b.get("/referrals").get_data(as_text=True)
    assert (
        sup_b.post(f"/referrals/{referral_id}/outcome", {"outcome": "accepted"}).status_code == 404
    )
    bad_date = sup_a.post(
        f"/referrals/{referral_id}/outcome",
        {"outcome": "accepted", "outcome_on": "02/01/2025"},
        follow_redirects=True,
    )
    assert "YYYY-MM-DD" in bad_date.get_data(as_text=True)
    sup_a.post(f"/referrals/{referral_id}/outcome", {"outcome": "service_received"})
    listed = sup_a.get("/referrals").get_data(as_text=True)
    assert 'id="referrals-overdue"' not in listed
    assert "Đã nhận dịch vụ" in listed


def test_match_keys_never_reach_a_page(web: WebDeployment) -> None:
    from server.store.models import PersonKey

    with web.store.session() as session:
        keys = [k.match_key for k in session.query(PersonKey).all()]
    assert keys  # the seeded intake with an ID number has one
    sup_a = web.client("sup_a")
    case_id = web.seeded.case_ids["01-2025-aaaaaa"]
    for url in (f"/cases/{case_id}", "/cases", "/transfers", "/referrals", "/audit"):
        html = web.client("admin").get(url).get_data(as_text=True) + sup_a.get(url).get_data(
            as_text=True
        )
        for key in keys:
            assert key[:16] not in html, url


def _ids(html: str, attribute: str, table_id: str) -> list[int]:
    if f'id="{table_id}"' not in html:
        return []
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [int(n) for n in re.findall(rf'{attribute}="(\d+)"', table)]


def _walk(client, first: str, attribute: str, table_id: str, older_id: str) -> list[list[int]]:
    """Every page from `first` on, following the Older link: the ids each page shows."""
    pages, url = [], first
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append(_ids(html, attribute, table_id))
        found = re.search(rf'href="([^"]+)" id="{older_id}"', html)
        url = found.group(1).replace("&amp;", "&") if found else ""
        assert len(pages) < 10
    return pages


def test_long_histories_are_paged_not_cut(web: WebDeployment) -> None:
    """A province answers hundreds of transfers and makes hundreds of referrals over the
    years: every one stays reachable, a page at a time, and only the unit's own."""
    from datetime import date, timedelta

    from server.clock import utcnow
    from server.store.models import CaseTransfer, Referral

    now = utcnow()
    with web.store.session() as session:
        for n in range(230):
            session.add(
                CaseTransfer(
                    case_code=f"01-2025-p{n:05d}",
                    from_province="02",
                    from_commune=None,
                    to_province="01",
                    to_commune=None,
                    reason="Người này cư trú tại tỉnh 01, chuyển về địa phương",
                    shares_identity=False,
                    state="pending" if n % 50 == 0 else "accepted",
                    proposed_by="sup_b",
                    proposed_at=now - timedelta(days=300 - n),
                    origin="web",
                )
            )
        for n in range(205):
            session.add(
                Referral(
                    case_code=f"01-2025-r{n:05d}",
                    province_code="01" if n != 7 else "02",
                    commune_code=None,
                    service_type="women_union",
                    organisation="Hội LHPN xã",
                    reason="Hỗ trợ vay vốn sinh kế qua Hội Phụ nữ",
                    referred_on=date(2025, 1, 2),
                    shared="core",
                    created_by="sup_a",
                )
            )
    sup_a = web.client("sup_a")
    pages = _walk(sup_a, "/transfers", "data-transfer", "transfers-in", "transfers-in-older")
    assert [len(p) for p in pages] == [5 + 100, 100, 25]  # the 5 pending come first, once
    with web.store.session() as session:
        expected = sorted(t.id for t in session.query(CaseTransfer).filter_by(to_province="01"))
        pending = {t.id for t in session.query(CaseTransfer).filter_by(state="pending")}
    shown = [i for page in pages for i in page]
    assert sorted(shown) == expected  # each exactly once
    assert set(pages[0][:5]) == pending
    pages = _walk(sup_a, "/referrals", "data-referral", "referrals-all", "referrals-older")
    with web.store.session() as session:
        ours = sorted(r.id for r in session.query(Referral).filter_by(province_code="01"))
    assert len(ours) >= 204  # the seeded deployment's own and these; the unit-02 one apart
    assert [len(p) for p in pages] == [100, 100, len(ours) - 200]
    assert sorted(i for page in pages for i in page) == ours
    assert sup_a.get("/referrals?before=abc").status_code == 400
    assert sup_a.get("/transfers?in_before=-1").status_code == 400


def test_a_backlog_of_overdue_referrals_is_paged_not_cut(web: WebDeployment) -> None:
    """A province with a backlog sees every overdue referral, oldest first, a page at a time
    (it was cut at 500 without a word), with how many there are; a link naming another
    unit's referral, or a referral that is not overdue, shows nothing of it."""
    from datetime import date, timedelta

    from server.clock import utcnow
    from server.store.models import Referral

    days = web.config.referral_overdue_days
    cutoff = utcnow().date() - timedelta(days=days)
    with web.store.session() as session:
        for n in range(530):
            session.add(
                Referral(
                    case_code=f"01-2025-o{n:05d}",
                    province_code="02" if n % 97 == 0 else "01",
                    commune_code=None,
                    service_type="medical",
                    organisation="Trạm y tế xã",
                    reason="Khám sức khỏe sau khi trở về",
                    # three dates, ids interleaved across them: the order is (date, id)
                    referred_on=date(2025, 3, 1) + timedelta(days=(n * 7) % 3),
                    outcome="received" if n % 50 == 1 else None,
                    shared="core",
                    created_by="sup_a",
                )
            )
    with web.store.session() as session:
        expected = [
            r.id
            for r in sorted(
                session.query(Referral).filter(
                    Referral.province_code == "01",
                    Referral.outcome.is_(None),
                    Referral.referred_on <= cutoff,
                ),
                key=lambda r: (r.referred_on, r.id),
            )
        ]
        theirs = session.query(Referral).filter_by(province_code="02").first()
        answered = session.query(Referral).filter(Referral.outcome.isnot(None)).first()
    assert len(expected) > 500
    sup_a = web.client("sup_a")
    pages = _walk(
        sup_a, "/referrals", "data-referral", "referrals-overdue", "referrals-overdue-more"
    )
    assert [len(p) for p in pages[:-1]] == [100] * (len(pages) - 1)
    assert [i for page in pages for i in page] == expected  # each once, oldest first
    html = sup_a.get("/referrals").get_data(as_text=True)
    assert f"{len(expected)}</p>" in html.split('id="referrals-overdue-total"', 1)[1][:200]
    for forged in (theirs.id, answered.id):
        html = sup_a.get(f"/referrals?overdue_after={forged}").get_data(as_text=True)
        assert _ids(html, "data-referral", "referrals-overdue") == []
    assert sup_a.get("/referrals?overdue_after=x").status_code == 400
