"""Case search is no oracle: whole words only, a limit per user, and every hit audited.

The review recovered a full name in 324 searches by growing a substring one letter at a time,
without ever revealing the case.
"""

from __future__ import annotations

from server.security.passwords import hash_password
from server.store import audit
from server.store import users as user_store
from tests.web.conftest import WebClient, WebDeployment

LAN = "01-2025-aaaaaa"  # Nguyễn Thị Lan, unit 01


def _new_supervisor(web: WebDeployment, name: str) -> WebClient:
    with web.store.session() as session:
        user = user_store.add(session, name, hash_password(f"password-of-{name}"), "supervisor")
        user_store.set_units(session, user.id, ["01"])
    client = WebClient(web.app.test_client())
    assert client.login(name, f"password-of-{name}").status_code == 302
    return client


def _search(client, words: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    response = client.post("/cases", {"q": words})
    return response.status_code, response.get_data(as_text=True)


def test_growing_a_part_of_the_name_narrows_nothing(web: WebDeployment) -> None:
    sup_a = web.client("sup_a")
    for part in ("ng", "ngu", "nguy", "nguye", "guyen", "uyen", "th", "an", "la", "nguyen th"):
        status, page = _search(sup_a, part)
        assert status == 200, part
        assert LAN not in page, part


def test_whole_words_still_find_the_person(web: WebDeployment) -> None:
    sup_a = web.client("sup_a")
    for words in ("lan", "nguyen thi lan", "LAN NGUYỄN", "Nguyễn Lan", LAN.upper()):
        status, page = _search(sup_a, words)
        assert status == 200, words
        assert LAN in page, words
    # every word must be in the case: a wrong given name finds someone else or nobody
    assert LAN not in _search(sup_a, "nguyen thi hoa")[1]


def test_words_of_one_letter_are_refused_in_vietnamese_and_english(web: WebDeployment) -> None:
    client = web.new_client("sup_a")  # a session of its own: its language is its own
    status, page = _search(client, "nguyen t")
    assert status == 400
    assert "Hãy tìm bằng từ trọn vẹn, mỗi từ ít nhất 2 chữ" in page
    assert LAN not in page
    client.post("/lang", {"lang": "en", "next": "/cases"})
    status, page = _search(client, "l")
    assert status == 400
    assert "whole words of at least 2 letters" in page


def test_searches_are_limited_per_user_with_a_bilingual_429(web: WebDeployment) -> None:
    sup_b = web.client("sup_b")
    limit = web.config.searches_per_hour
    for n in range(limit):
        assert _search(sup_b, f"word{n}")[0] == 200, n
    response = sup_b.post("/cases", {"q": "hoa"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    page = response.get_data(as_text=True)
    assert "Đã tìm kiếm quá nhiều lần trong một giờ qua" in page
    assert "02-2025-bbbbbb" not in page
    sup_b.post("/lang", {"lang": "en", "next": "/cases"})
    assert "Too many searches in the last hour" in sup_b.post("/cases", {"q": "hoa"}).get_data(
        as_text=True
    )
    sup_b.post("/lang", {"lang": "vi", "next": "/cases"})
    # the list itself still opens, and another user may still search
    assert sup_b.get("/cases").status_code == 200
    assert _search(web.client("sup_a"), "lan")[0] == 200
    with web.store.reader() as session:
        refused = audit.recent(session, 5, "case.search_refused")
    assert refused
    assert refused[0].actor == "sup_b"


def test_an_auditor_sees_who_keeps_finding_a_case(web: WebDeployment) -> None:
    probe = _new_supervisor(web, "probe")  # unit 01, never opens the case
    for words in ("lan", "nguyen lan", "thi lan", "nguyen"):
        assert _search(probe, words)[0] == 200
    case_id = web.seeded.case_ids[LAN]
    with web.store.reader() as session:
        entry = audit.recent(session, 1, "case.search")[0]
    assert entry.actor == "probe"
    assert case_id in entry.detail["cases"]
    assert "lan" not in str(entry.detail).lower()  # never the words searched
    page = web.client("admin").get(f"/admin/audit?target=case:{case_id}").get_data(as_text=True)
    hits = page.split('id="search-hits"')[1].split("</p>")[0]
    assert "<b>probe</b>: 4" in hits
    assert "case.search" in page.split("<tbody>")[1]  # the searches are listed with the views
