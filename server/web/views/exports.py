"""Downloads: a form's submissions as a CSV zip, and the report tables as a workbook.

Both are limited to the user's units, written to the audit log, and sent from a temporary
file in chunks, so a large export never sits in memory. Identifying (P3) columns are never
part of a web download; an admin who needs them uses the CLI with a reason.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

from flask import Response, render_template, request
from flask_babel import gettext as _

from server import errors
from server.app_context import services
from server.clock import utcnow
from server.services import downloads, report_schedule
from server.services import forms as form_service
from server.services.downloads import Period
from server.web.access import ANYONE_SIGNED_IN, RECORD_ROLES, requires, signed_in_user
from server.web.blueprint import bp

CHUNK = 256 * 1024


def _stream(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        handle.seek(0)
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()


def _download(handle: IO[bytes], name: str, mimetype: str) -> Response:
    response = Response(_stream(handle), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _period_arg() -> Period | None:
    raw = request.args.get("period", "").strip()
    if not raw:
        return None
    try:
        return downloads.period_named(raw, services().config)
    except ValueError:
        raise errors.validation_failed(_("A period is written 2025, 2025-H1 or 2025-Q3.")) from None


@bp.get("/exports")
@requires(*ANYONE_SIGNED_IN)
def exports_page() -> str:
    """What the user may download."""
    user = signed_in_user()
    today = utcnow().date()
    with services().store.reader() as db:
        forms = form_service.all_forms(db) if user.sees_records else []
        calendar = report_schedule.schedule(db, services().config, today)
    return render_template(
        "exports.html",
        forms=forms,
        default_period=downloads.current_period(today, services().config).name,
        schedule=calendar,
    )


@bp.get("/exports/forms/<form_id>.zip")
@requires(*RECORD_ROLES)
def export_form_zip(form_id: str) -> Response:
    """One form's submissions in the user's units (no identifying columns)."""
    user = signed_in_user()
    period = _period_arg()
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response stream
    try:
        downloads.form_zip(
            services().store,
            user.username,
            user.scope,
            form_id,
            handle,
            period=period,
            review_state=request.args.get("review_state") or None,
        )
    except LookupError:
        handle.close()
        raise errors.not_found("The form") from None
    return _download(handle, f"{form_id}.zip", "application/zip")


@bp.get("/exports/report.xlsx")
@requires(*ANYONE_SIGNED_IN)
def export_report_xlsx() -> Response:
    """The report tables of a period for the user's units, as one workbook."""
    user = signed_in_user()
    period = _period_arg() or downloads.current_period(utcnow().date(), services().config)
    workbook = downloads.report_workbook(
        services().store, user.username, list(user.units), user.scope, period
    )
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response stream
    handle.write(workbook)
    name = period.name
    return _download(
        handle,
        f"{name}-report.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
