"""Assigning cases to collectors from the case page and the case list, and the overdue visits
page, as supervisors of two units use them (issue 19)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from server.store.models import AuditEntry, CaseAssignment, Collector
from tests.factories import store_decrypted
from tests.web.conftest import WebDeployment, build_deployment

CASE_A = "01-2025-aaaaaa"  # unit 01, commune 00004
CASE_B = "02-2025-bbbbbb"


@pytest.fixture
def web(database_url: str, tmp_path: Path) -> Iterator[WebDeployment]:
    """A seeded deployment of its own (the tests assign cases)."""
    deployment = build_deployment(tmp_path / "data", database_url)
    yield deployment
    deployment.store.dispose()


def _assignments(web: WebDeployment) -> list[tuple[str, int]]:
    with web.store.session() as session:
        rows = session.scalars(select(CaseAssignment).order_by(CaseAssignment.id)).all()
        return [(row.case_code, row.collector_id) for row in rows]


def _name(web: WebDeployment, collector_id: int) -> str:
    with web.store.session() as session:
        collector = session.get(Collector, collector_id)
        assert collector is not None
        return collector.name


def test_a_supervisor_assigns_and_takes_back_a_case_from_its_page(web: WebDeployment) -> None:
    client = web.client("sup_a")
    case_a = web.seeded.case_ids[CASE_A]
    phone_a, phone_b = web.seeded.phone_ids["01"], web.seeded.phone_ids["02"]
    page = client.get(f"/cases/{case_a}").get_data(as_text=True)
    assert 'id="assign-form"' in page
    assert f'value="{phone_a}"' in page
    assert f'value="{phone_b}"' not in page  # not of the unit holding the case

    refused = client.post(f"/cases/{case_a}/assign", data={"collector": [str(phone_b)]})
    assert refused.status_code == 302
    assert _assignments(web) == []
    page = client.get(f"/cases/{case_a}").get_data(as_text=True)
    assert "Chỉ giao được hồ sơ cho máy thu thập" in page  # Vietnamese first

    done = client.post(f"/cases/{case_a}/assign", data={"collector": [str(phone_a)]})
    assert done.status_code == 302
    assert _assignments(web) == [(CASE_A, phone_a)]
    page = client.get(f"/cases/{case_a}").get_data(as_text=True)
    assert 'id="unassign-form"' in page
    assert _name(web, phone_a) in page

    # another unit's supervisor cannot reach the case at all
    outsider = web.client("sup_b")
    assert (
        outsider.post(f"/cases/{case_a}/unassign", data={"collector": [str(phone_a)]}).status_code
        == 404
    )
    assert (
        outsider.post(f"/cases/{case_a}/assign", data={"collector": [str(phone_b)]}).status_code
        == 404
    )
    assert _assignments(web) == [(CASE_A, phone_a)]

    assert (
        client.post(f"/cases/{case_a}/unassign", data={"collector": [str(phone_a)]}).status_code
        == 302
    )
    assert _assignments(web) == []
    with web.store.session() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("case.%assign"))
        ).all()
    assert actions == ["case.assign", "case.unassign"]


def test_bulk_assignment_from_the_case_list_is_all_or_nothing(web: WebDeployment) -> None:
    client = web.client("sup_a")
    phone_a = web.seeded.phone_ids["01"]
    listing = client.get("/cases").get_data(as_text=True)
    assert 'id="bulk-assign"' in listing
    assert f'<option value="{phone_a}">' in listing
    assert f'<option value="{web.seeded.phone_ids["02"]}">' not in listing
    ids = [web.seeded.case_ids[CASE_A], web.seeded.case_ids[CASE_B]]
    # a case of another unit among the ticked ones: nothing is assigned
    response = client.post(
        "/cases/assign", data={"case": [str(i) for i in ids], "collector": str(phone_a)}
    )
    assert response.status_code == 302
    assert _assignments(web) == []
    response = client.post("/cases/assign", data={"case": [str(ids[0])], "collector": str(phone_a)})
    assert response.status_code == 302
    assert _assignments(web) == [(CASE_A, phone_a)]
    assert client.post("/cases/assign", data={"case": ["x"], "collector": "1"}).status_code == 400


def test_overdue_visits_by_collector_within_the_units(web: WebDeployment) -> None:
    # a visit that planned the next one for a day now past
    store_decrypted(
        web.store,
        "vt05_followup",
        {
            "case_code": CASE_A,
            "visit_date": "2025-06-01",
            "contact_made": "yes",
            "case_status": "follow_up",
            "next_visit_date": "2025-07-01",
        },
        "uuid:visit-a",
        unit="00004",
    )
    client = web.client("sup_a")
    phone_a = web.seeded.phone_ids["01"]
    client.post(f"/cases/{web.seeded.case_ids[CASE_A]}/assign", data={"collector": [str(phone_a)]})
    page = client.get("/visits/overdue").get_data(as_text=True)
    assert "Lần thăm quá hạn" in page
    assert CASE_A in page
    assert "2025-07-01" in page
    assert _name(web, phone_a) in page
    assert CASE_B not in page
    other = web.client("sup_b").get("/visits/overdue").get_data(as_text=True)
    assert CASE_A not in other
    narrowed = client.get("/visits/overdue?unit=31").get_data(as_text=True)
    assert CASE_A not in narrowed


def test_a_long_overdue_list_says_it_is_cut(
    web: WebDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the row limit the cases due soonest are shown whole, and the page says more are
    overdue (it used to stop at 2,000 rows without a word, a case's last collectors with
    it)."""
    from datetime import date, timedelta

    from server.services import case_assignments
    from server.services.auth import CurrentUser
    from server.store.models import Case
    from server.store.scope import UnitScope
    from tests.factories import add_collector

    first = web.seeded.phone_ids["01"]
    _token, second = add_collector(web.app, "phone-01-second", unit="01")
    codes = [f"01-2020-due{n:03d}" for n in range(4)]
    with web.store.session() as session:
        for n, code in enumerate(codes):  # due before any seeded case: read first
            due = date(2020, 1, 1) + timedelta(days=n)
            session.add(
                Case(case_code=code, province_code="01", status="follow_up", next_followup_due=due)
            )
            session.add(CaseAssignment(case_code=code, collector_id=first, assigned_by="t"))
        # the second case due is followed by two phones: its rows are the 2nd and 3rd read
        session.add(CaseAssignment(case_code=codes[1], collector_id=second, assigned_by="t"))
    user = CurrentUser(1, "sup_a", "supervisor", ("01",), UnitScope.of_units(["01"]), 1)
    with web.store.session() as session:
        whole = case_assignments.overdue_by_collector(session, user, None)
        cut = case_assignments.overdue_by_collector(session, user, None, limit=2)
    listed = [c for g in whole.groups for c in g.cases]
    assert not whole.cut
    assert set(codes) <= {c.case_code for c in listed}
    by_code = {c.case_code: c for c in listed}  # a case is in each of its phones' groups
    assert sorted(by_code[codes[1]].collectors) == sorted([_name(web, first), _name(web, second)])
    # two rows read: case 0 whole, case 1 with one of its two phones: left out whole
    assert cut.cut
    shown = {c.case_code for g in cut.groups for c in g.cases}
    assert shown == {codes[0]}
    assert cut.cases == 1
    client = web.client("sup_a")
    assert 'id="overdue-cut"' not in client.get("/visits/overdue").get_data(as_text=True)
    monkeypatch.setattr(case_assignments, "OVERDUE_LIMIT", 2)
    page = client.get("/visits/overdue").get_data(as_text=True)
    assert 'id="overdue-cut"' in page
    assert codes[0] in page
    assert codes[1] not in page
