"""The audit page: looking at it is audited; a log cut short or hashed again shows."""

from __future__ import annotations

from sqlalchemy import delete, select

from server.store import audit
from server.store.models import AuditEntry
from tests.web.conftest import WebDeployment


def test_viewing_the_audit_page_is_audited(web: WebDeployment) -> None:
    admin = web.client("admin")
    assert admin.get("/admin/audit?actor=sup_a&action=case.view").status_code == 200
    with web.store.reader() as session:
        entry = audit.recent(session, 1)[0]
    assert (entry.actor, entry.action) == ("admin", "audit.view")
    assert entry.detail == {"actor": "sup_a", "action": "case.view"}


def test_a_log_cut_short_shows_on_the_page(web: WebDeployment) -> None:
    admin = web.client("admin")
    for _ in range(3):
        admin.get("/admin/audit")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "flash-error" not in page.split('id="chain-state"')[0][-80:]
    with web.store.session() as session:
        newest = session.scalars(select(AuditEntry.id).order_by(AuditEntry.id.desc())).all()[:3]
        session.execute(delete(AuditEntry).where(AuditEntry.id.in_(newest)))
    page = admin.get("/admin/audit").get_data(as_text=True)
    state = page.split('id="chain-state">')[1].split("</p>")[0]
    assert "flash-error" in page.split('id="chain-state"')[0][-80:]
    assert f"từ {min(newest)}" in state  # "cut short: entries from N on were removed"
    assert "cắt ngắn" in state
