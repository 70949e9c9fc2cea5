"""The supervisors' web view."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("web", __name__)


@bp.get("/")
def home() -> str:
    """The landing page."""
    return render_template("home.html")


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: answers when the process serves requests and the store answers."""
    from flask import current_app
    from sqlalchemy import text

    from server.app import store_of

    with store_of(current_app).engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok"}
