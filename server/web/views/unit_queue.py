"""Admin page: the unit queue, submissions the unit rule held back (server/services/units.py)."""

from __future__ import annotations

from flask import render_template, request

from server.app_context import services
from server.services import unit_queue
from server.urls import query_id
from server.web.access import ADMIN, requires, signed_in_user
from server.web.blueprint import bp
from server.web.labels import REVIEW_STATE_LABELS, UNIT_CHECK_EXPLANATIONS, UNIT_CHECK_LABELS


@bp.get("/admin/unit-queue")
@requires(*ADMIN)
def admin_unit_queue() -> str:
    """Flagged submissions, newest first, 100 a page (keyset `before=<id>`)."""
    user = signed_in_user()
    before = query_id(request.args.get("before"))  # 400 when not an id, as every cursor
    with services().store.session() as db:
        page = unit_queue.queue(db, user, before)
    return render_template(
        "admin/unit_queue.html",
        page=page,
        flag_labels=UNIT_CHECK_LABELS,
        flag_explanations=UNIT_CHECK_EXPLANATIONS,
        review_labels=REVIEW_STATE_LABELS,
    )
