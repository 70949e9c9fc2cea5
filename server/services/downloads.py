"""What a web user may download: a form's submissions as a CSV zip and the report tables of a
period as one workbook, within the user's units and written to the audit log.

The exports themselves are built by exports/; this module chooses what goes in (scope,
period, filters) and records who took it. Identifying (P3) columns are never part of a web
download.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import IO

from exports.periods import Period, ReportCalendar, report_calendar
from exports.report_files import heading_for, write_report
from exports.reports import build_tables
from exports.submissions import export_form
from server import metrics
from server.clock import utcnow
from server.config import Config
from server.store import audit
from server.store.db import Store
from server.store.scope import UnitScope
from server.store.submissions import SubmissionFilter

log = logging.getLogger("server.exports")


def _calendar(config: Config | None) -> ReportCalendar:
    if config is None:
        return ReportCalendar()
    return report_calendar(config.report_cutoff_day, config.report_due_dates)


def period_named(text: str, config: Config | None = None, calendar: bool = False) -> Period:
    """The reporting window written `2026`, `2026-H1`, `2026-H2` or `2026-Q3` (the calendar
    period with `calendar`); ValueError otherwise."""
    return _calendar(config).period(text, calendar=calendar)


def current_period(today: date, config: Config | None = None) -> Period:
    """The six-month window `today` falls in: what the download page offers first."""
    return _calendar(config).current(today, "half")


def form_zip(
    store: Store,
    actor: str,
    scope: UnitScope,
    form_id: str,
    out: IO[bytes],
    *,
    period: Period | None = None,
    review_state: str | None = None,
    persons: frozenset[tuple[str, int]] | None = None,
) -> int:
    """Write one form's submissions in `scope` (no identifying columns) as a zip to `out`,
    then audit it; how many submissions it holds. LookupError when there is no such form.

    `persons`, when given (the /v1 API: data-use consent), keeps only the submissions without
    a case or of a case whose person received is among them, and only the minors among them.
    """
    filters = SubmissionFilter(
        event_from=period.start if period else None,
        event_to=period.end if period else None,
        review_state=review_state,
        cases_or_none=(
            frozenset(code for code, index in persons if index == 0)
            if persons is not None
            else None
        ),
    )
    started = time.perf_counter()
    summary = export_form(store, form_id, out, scope=scope, filters=filters, persons=persons)
    seconds = time.perf_counter() - started
    metrics.observe_export("submissions", seconds)
    log.info(
        "export written kind=submissions form=%s submissions=%d seconds=%.2f",
        form_id,
        summary.submissions,
        seconds,
    )
    with store.session() as db:
        audit.append(
            db,
            actor,
            "export.submissions",
            f"form:{form_id}",
            {
                "submissions": summary.submissions,
                "identifiers": False,
                "period": period.name if period else None,
                "consent": "data_use" if persons is not None else None,
            },
        )
    return summary.submissions


def report_workbook(
    store: Store, actor: str, units: list[str], scope: UnitScope, period: Period
) -> bytes:
    """The report tables of `period` in `scope` as one XLSX workbook, audited."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fieldcase-report-") as folder:
        tables = build_tables(store, scope, period)
        name = period.name
        write_report(tables, Path(folder), period, heading_for(units, utcnow()))
        workbook = (Path(folder) / f"{name}-report.xlsx").read_bytes()
    seconds = time.perf_counter() - started
    metrics.observe_export("report", seconds)
    log.info("export written kind=report period=%s seconds=%.2f", name, seconds)
    with store.session() as db:
        audit.append(
            db,
            actor,
            "export.report",
            f"period:{name}",
            {"units": units, "start": period.start.isoformat(), "end": period.end.isoformat()},
        )
    return workbook
