"""Case list, diacritic-free search, case page, identifying fields and their audited reveal."""

from __future__ import annotations

from datetime import date, timedelta

from server.services.textsearch import fold
from server.store import audit
from server.store import cases as case_store
from server.store.models import Case
from server.store.scope import UnitScope
from tests.web.conftest import WebDeployment


def _search(client, words: str, **extra: str) -> str:
    response = client.post("/cases", {"q": words, **extra})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_search_ignores_diacritics_and_case_within_units(web: WebDeployment) -> None:
    sup_a = web.client("sup_a")
    page = _search(sup_a, "nguyen thi")
    assert "01-2025-aaaaaa" in page  # Nguyễn Thị Lan, unit A
    assert "02-2025-bbbbbb" not in page  # Nguyễn Thị Hoa, unit B
    assert "01-2025-cccccc" not in page
    admin_page = _search(web.client("admin"), "NGUYỄN THỊ")
    assert "01-2025-aaaaaa" in admin_page
    assert "02-2025-bbbbbb" in admin_page
    assert "01-2025-cccccc" in _search(sup_a, "tran van binh")
    assert "01-2025-aaaaaa" in _search(sup_a, "01-2025-AAAAAA")  # case codes too, whole


def test_search_words_never_reach_the_url_or_the_audit_log(web: WebDeployment) -> None:
    sup_a = web.client("sup_a")
    response = sup_a.post("/cases", {"q": "nguyen thi lan"})
    assert response.status_code == 200
    assert "nguyen thi lan" not in (response.request.url or "")
    with web.store.session() as session:
        entry = audit.recent(session, 1, "case.search")[0]
    assert entry.actor == "sup_a"
    assert "lan" not in str(entry.detail).lower()


def test_like_wildcards_are_literal(web: WebDeployment) -> None:
    for wildcards in ("%%", "__", "nguyen%", "ngu_en"):
        page = _search(web.client("admin"), wildcards)
        assert "No case found" in page or "Không tìm thấy" in page


def test_case_list_filters_and_units(web: WebDeployment) -> None:
    sup_b = web.client("sup_b")
    page = sup_b.get("/cases").get_data(as_text=True)
    assert "02-2025-bbbbbb" in page
    assert "01-2025-aaaaaa" not in page
    admin = web.client("admin")
    page = _search(admin, "", unit="02")
    assert "02-2025-bbbbbb" in page
    assert "01-2025-aaaaaa" not in page
    page = _search(admin, "", status="closed")
    assert "01-2025-aaaaaa" not in page
    # a unit filter never widens a supervisor's scope
    page = _search(web.client("sup_a"), "", unit="02")
    assert "02-2025-bbbbbb" not in page


def test_case_page_hides_identifying_fields_until_revealed(web: WebDeployment) -> None:
    sup_a = web.client("sup_a")
    case_id = web.seeded.case_ids["01-2025-aaaaaa"]
    page = sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Nguyễn Thị Lan" not in page
    assert "0912 345 678" not in page
    assert "Nguyễn Văn Tí" not in page
    assert "••••••" in page
    assert "01-2025-aaaaaa" in page
    # a reason is required
    short = sup_a.post(f"/cases/{case_id}/reveal", {"reason": "because"})
    assert short.status_code == 302
    assert "Nguyễn Thị Lan" not in sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    done = sup_a.post(f"/cases/{case_id}/reveal", {"reason": "Home visit planned tomorrow"})
    assert done.status_code == 302
    page = sup_a.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Nguyễn Thị Lan" in page
    assert "0912 345 678" in page
    assert "Nguyễn Văn Tí" in page
    with web.store.session() as session:
        reveal = audit.recent(session, 1, "identifying.reveal")[0]
        view = audit.recent(session, 1, "case.view")[0]
    assert reveal.actor == "sup_a"
    assert reveal.target == f"case:{case_id}"
    assert reveal.detail["reason"] == "Home visit planned tomorrow"
    assert "pii/full_name" in reveal.detail["fields"]
    assert "Nguyễn" not in str(reveal.detail)  # names of fields, never values
    assert view.detail == {"revealed": True}
    # the reveal is for this browser session only
    other = web.new_client("sup_a")
    assert "Nguyễn Thị Lan" not in other.get(f"/cases/{case_id}").get_data(as_text=True)


def test_other_unit_cannot_reveal(web: WebDeployment) -> None:
    case_id = web.seeded.case_ids["01-2025-aaaaaa"]
    response = web.client("sup_b").post(
        f"/cases/{case_id}/reveal", {"reason": "I am curious about it"}
    )
    assert response.status_code == 404
    assert (
        web.client("viewer")
        .post(f"/cases/{case_id}/reveal", {"reason": "I am curious about it"})
        .status_code
        == 403
    )


def test_case_page_timeline_and_persons(web: WebDeployment) -> None:
    case_id = web.seeded.case_ids["01-2025-aaaaaa"]
    page = web.client("admin").get(f"/cases/{case_id}").get_data(as_text=True)
    assert f"/submissions/{web.seeded.submission_ids['01-2025-aaaaaa']}" in page
    assert "Tiếp nhận ban đầu" in page  # the form's title on the timeline
    assert "Phía nước ngoài trao trả" in page  # channel by its label, not its code
    assert "Người dưới 18 tuổi đi cùng" in page  # the accompanying minor


def test_keyset_paging_of_cases(web: WebDeployment) -> None:
    today = date(2025, 5, 1)
    with web.store.session() as session:
        for n in range(130):
            session.add(
                Case(
                    case_code=f"01-2025-p{n:05d}",
                    province_code="01",
                    commune_code="00004",
                    status="follow_up",
                    next_followup_due=today + timedelta(days=n % 40),
                    search_text=fold(f"01-2025-p{n:05d} người số {n}"),
                )
            )
    scope = UnitScope.of_units(["01"])
    with web.store.session() as session:
        seen: list[int] = []
        after = None
        while True:
            page = case_store.page(session, scope, folded_search="nguoi so", after=after, limit=50)
            if not page:
                break
            seen += [c.id for c in page]
            after = (None, page[-1].id)
        assert len(seen) == len(set(seen)) == 130
        assert seen == sorted(seen, reverse=True)
        due_seen: list[tuple[date, int]] = []
        after = None
        while True:
            page = case_store.page(
                session, scope, folded_search="nguoi so", sort="due", after=after, limit=40
            )
            if not page:
                break
            due_seen += [(c.next_followup_due, c.id) for c in page]  # type: ignore[misc]
            after = due_seen[-1]
        assert len(due_seen) == 130
        assert due_seen == sorted(due_seen)
    # and through the page: the next-page form carries the position, not the words
    page = web.client("sup_a").post("/cases", {"q": "nguoi so"}).get_data(as_text=True)
    assert 'name="after"' in page
