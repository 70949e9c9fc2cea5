"""The landing page: the dashboard for signed-in users, the sign-in form for others."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from server.app_context import services
from server.clock import utcnow
from server.errors import Problem
from server.services import dashboard, report_schedule, unit_queue
from server.web.access import current_user, public
from server.web.blueprint import bp
from server.web.charts import bar_chart
from server.web.i18n import current_language, problem_message
from server.web.labels import CategoryNamer
from server.web.views.account import login_page

BREAKDOWNS = (
    ("channel", "by_channel"),
    ("sex", "by_sex"),
    ("age_group", "by_age_group"),
    ("purpose", "by_purpose"),
    ("destination", "by_destination"),
    ("support", "supports"),
)


def _titles() -> dict[str, str]:
    return {
        "channel": _("Persons received by reception channel"),
        "sex": _("Persons received by sex"),
        "age_group": _("Persons received by age group"),
        "purpose": _("Persons received by purpose of trafficking"),
        "destination": _("Persons received by country of exploitation"),
        "support": _("Supports delivered"),
    }


@bp.get("/")
@public
def home() -> tuple[str, int]:
    """The current period's key figures within the user's units."""
    user = current_user()
    if user is None:
        return login_page()
    error = None
    today = utcnow().date()
    config = services().config
    period = dashboard.current_period(today, config)
    wanted = request.args.get("period", "").strip()
    if wanted:
        try:
            period = dashboard.parse_period(wanted, config)
        except Problem as problem:
            error = problem_message(problem)
    figures = dashboard.figures(services().store, user.scope, period)
    with services().store.session() as db:
        flagged = unit_queue.flagged_count(db, user)
        calendar = report_schedule.schedule(db, config, today)
        namer = CategoryNamer(db, current_language())
        titles = _titles()
        charts = [
            (
                category,
                titles[category],
                bar_chart(
                    [(namer.name(category, code), count) for code, count in getattr(figures, attr)]
                ),
            )
            for category, attr in BREAKDOWNS
        ]
    periods = [f"{today.year}", f"{today.year}-H1", f"{today.year}-H2"] + [
        f"{today.year}-Q{q}" for q in range(1, 5)
    ]
    status = 400 if error else 200
    return (
        render_template(
            "dashboard.html",
            figures=figures,
            charts=charts,
            periods=periods,
            error=error,
            flagged=flagged,
            schedule=calendar,
        ),
        status,
    )
