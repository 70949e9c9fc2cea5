"""Admin page: the audit log, filtered, with the state of its hash chain; every view of it
is itself an audit entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import render_template, request, url_for

from server.app_context import services
from server.services import auditing
from server.urls import parse_id, query_id
from server.web.access import ADMIN, requires, signed_in_user
from server.web.blueprint import bp

PAGE_SIZE = 100
_FILTERS = ("action", "actor", "target", "from", "to", "before")


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
    before = query_id(request.args.get("before"))
    target = request.args.get("target", "").strip() or None
    # A case as target: its entries, and the searches that returned it, counted per user.
    found_case = (
        parse_id(target.removeprefix("case:")) if target and target.startswith("case:") else None
    )
    with services().store.session() as db:
        entries = auditing.browse(
            db,
            action=request.args.get("action") or None,
            actor=request.args.get("actor", "").strip() or None,
            target=target,
            found_case=found_case,
            since=since,
            until=until + timedelta(days=1) if until else None,
            before_id=before,
            limit=PAGE_SIZE + 1,
        )
        state = auditing.check_audit(db)
        found_by = auditing.searches_that_found(db, found_case) if found_case else []
        actions = auditing.actions(db)
        # Who looked at the log, and for what, is itself in the log.
        filters = {k: v[:200] for k, v in request.args.items() if k in _FILTERS and v}
        auditing.record(db, signed_in_user().username, "audit.view", None, filters or None)
    has_more = len(entries) > PAGE_SIZE
    entries = list(entries[:PAGE_SIZE])
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    next_url = url_for("web.audit_log", before=entries[-1].id, **args) if has_more else None
    return render_template(
        "admin/audit.html",
        entries=entries,
        state=state,
        found_case=found_case,
        found_by=found_by,
        actions=actions,
        next_url=next_url,
        args=args,
    )
