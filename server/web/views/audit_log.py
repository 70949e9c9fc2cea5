"""Admin page: the audit log, filtered, with the state of its hash chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import render_template, request, url_for

from server.app_context import services
from server.store import audit
from server.web.access import ADMIN, requires
from server.web.blueprint import bp

PAGE_SIZE = 100


def _day(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC) if raw else None
    except ValueError:
        return None


@bp.get("/admin/audit")
@requires(*ADMIN)
def audit_log() -> str:
    """Entries newest first; filter by action, actor, target and days; 100 a page."""
    since, until = _day("from"), _day("to")
    before = request.args.get("before", "")
    with services().store.session() as db:
        entries = audit.browse(
            db,
            action=request.args.get("action") or None,
            actor=request.args.get("actor", "").strip() or None,
            target=request.args.get("target", "").strip() or None,
            since=since,
            until=until + timedelta(days=1) if until else None,
            before_id=int(before) if before.isdigit() else None,
            limit=PAGE_SIZE + 1,
        )
        broken_at = audit.verify_chain(db)
        actions = audit.actions(db)
    has_more = len(entries) > PAGE_SIZE
    entries = list(entries[:PAGE_SIZE])
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    next_url = url_for("web.audit_log", before=entries[-1].id, **args) if has_more else None
    return render_template(
        "admin/audit.html",
        entries=entries,
        broken_at=broken_at,
        actions=actions,
        next_url=next_url,
        args=args,
    )
