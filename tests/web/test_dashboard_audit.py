"""The dashboard's figures and charts, and the audit log page."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update

from server.clock import utcnow
from server.services import dashboard
from server.store import audit
from server.store.models import AuditEntry
from server.store.scope import UnitScope
from tests.web.conftest import WebDeployment


def _figures(web: WebDeployment, scope: UnitScope) -> dashboard.Figures:
    return dashboard.figures(web.store, scope, dashboard.current_period(utcnow().date()))


def test_figures_follow_the_units(web: WebDeployment) -> None:
    everything = _figures(web, UnitScope.all_units())
    assert everything.persons == 4  # three main persons and one accompanying minor
    assert everything.cases == 3
    assert dict(everything.by_channel) == {"handover_foreign": 2, "rescued": 1, "self_return": 1}
    assert dict(everything.by_sex) == {"female": 2, "male": 2}
    # purpose and destination: the three main persons (being identified), not the minor
    assert dict(everything.by_purpose) == {"forced_labour": 3, "sexual_exploitation": 2}
    assert dict(everything.by_destination) == {"CN": 2, "KH": 1}
    assert (everything.victims, everything.being_identified, everything.not_victims) == (0, 3, 0)
    assert everything.minors_accompanying == 1
    assert dict(everything.by_age_group) == {"u16": 1, "16_17": 1, "18_29": 1, "30_44": 1}
    assert everything.outreach_participants == 42
    assert everything.outreach_sessions == 1
    unit_b = _figures(web, UnitScope.of_units(["02"]))
    assert unit_b.persons == 1
    assert unit_b.outreach_participants == 0


def _verified(web: WebDeployment, case_code: str, summary: dict[str, str]) -> None:
    """A verification's projected event, as a vt02 submission makes it (dated today)."""
    from server.store.models import Case, CaseEvent, Submission

    with web.store.session() as session:
        case = session.query(Case).filter_by(case_code=case_code).one()
        intake = session.query(Submission).filter_by(case_code=case_code).first()
        assert intake is not None
        session.add(
            CaseEvent(
                case_id=case.id,
                submission_id=intake.id,
                kind="verification",
                event_date=utcnow().date(),
                summary=summary,
            )
        )


def test_figures_count_victims_apart_from_persons_received(web: WebDeployment) -> None:
    """As the statutory report does: everyone received stays received, but a person found
    not to be a victim leaves purpose and destination, and a confirmed victim counts by what
    the verification confirmed."""
    _verified(web, "01-2025-cccccc", {"verif_outcome": "not_victim"})
    _verified(
        web,
        "01-2025-aaaaaa",
        {
            "verif_outcome": "confirmed",
            "purpose_confirmed": "forced_labour",
            "destination_confirmed": "LA",
        },
    )
    everything = _figures(web, UnitScope.all_units())
    assert (everything.persons, everything.cases) == (4, 3)
    assert (everything.victims, everything.being_identified, everything.not_victims) == (1, 1, 1)
    assert dict(everything.by_purpose) == {"forced_labour": 2, "sexual_exploitation": 1}
    assert dict(everything.by_destination) == {"CN": 1, "LA": 1}
    page = web.client("viewer").get("/").get_data(as_text=True)  # unit 01: Lan and Bình
    assert 'id="victims">1<' in page
    assert 'id="not-victims">1<' in page
    assert 'id="being-identified">0<' in page
    assert "nạn nhân đã được xác định" in page


def test_dashboard_page_draws_svg_charts(web: WebDeployment) -> None:
    page = web.client("viewer").get("/").get_data(as_text=True)
    assert '<svg viewBox="0 0 400' in page
    assert 'id="persons-received">3<' in page  # the viewer's unit 01 only
    assert "Phía nước ngoài trao trả" in page
    assert "01-2025" not in page  # aggregate figures only, no case codes
    assert web.client("viewer").get("/?period=2025-Q9").status_code == 400
    page = web.client("admin").get("/?period=2000").get_data(as_text=True)
    assert 'id="persons-received">0<' in page


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        # The state reporting windows (ND 09/2019): data cut off on the 14th.
        ("2025", date(2024, 12, 15), date(2025, 12, 14)),
        ("2025-H1", date(2024, 12, 15), date(2025, 6, 14)),
        ("2025-H2", date(2025, 6, 15), date(2025, 12, 14)),
        ("2024-Q1", date(2023, 12, 15), date(2024, 3, 14)),
        ("2025-Q4", date(2025, 9, 15), date(2025, 12, 14)),
    ],
)
def test_periods(text: str, start: date, end: date) -> None:
    period = dashboard.parse_period(text)
    assert (period.start, period.end) == (start, end)


def test_audit_log_page(web: WebDeployment) -> None:
    admin = web.client("admin")
    web.client("sup_a").get(f"/cases/{web.seeded.case_ids['01-2025-aaaaaa']}")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert 'id="chain-state"' in page
    assert "flash-error" not in page.split('id="chain-state"')[0][-80:]
    assert "case.view" in page
    assert "login" in page
    page = admin.get("/admin/audit?action=case.view&actor=sup_a").get_data(as_text=True)
    assert "sup_a" in page
    assert "user.add" not in page.split("<tbody>")[1]
    today = utcnow().date().isoformat()
    page = admin.get(
        f"/admin/audit?from={today}&to={today}&target=case:{web.seeded.case_ids['01-2025-aaaaaa']}"
    ).get_data(as_text=True)
    assert "case.view" in page.split("<tbody>")[1]


def test_audit_log_shows_a_broken_chain(web: WebDeployment) -> None:
    with web.store.session() as session:
        entry = audit.recent(session, 1)[0]
        original = entry.actor
        session.execute(
            update(AuditEntry).where(AuditEntry.id == entry.id).values(actor="someone-else")
        )
    try:
        page = web.client("admin").get("/admin/audit").get_data(as_text=True)
        assert "flash-error" in page
        assert f"{entry.id}" in page
    finally:
        with web.store.session() as session:
            session.execute(
                update(AuditEntry).where(AuditEntry.id == entry.id).values(actor=original)
            )
