"""`fieldcase export ...`: per-form CSV zips and the report tables, audited."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from exports.extract import write_extract
from exports.periods import Period, ReportCalendar, day_vi, report_calendar
from exports.register import write_register
from exports.report_files import heading_for, write_report
from exports.report_json import MergeError, dumps, merge
from exports.reports import build_tables
from exports.submissions import ExportOptions, MediaSource, SubmissionFilter, export_form_to_file
from exports.suppression import suppress
from server.cli.common import fail, load_config, open_store
from server.config import Config
from server.services import analyst_api, auditing
from server.store.db import Store
from server.store.scope import UnitScope


def _require_reason(include_identifiers: bool, reason: str | None) -> None:
    """Identifying fields leave only with a written reason (it goes to the audit log)."""
    if include_identifiers and not (reason and len(reason.strip()) >= 10):
        fail("--include-identifiers needs --reason (at least 10 characters)", code=2)


@click.group()
def export() -> None:
    """Exports and statutory report tables."""


@export.command("feed-bodies")
@click.option("--form", "form_id", default=None, help="Only this form (default: every form).")
def export_feed_bodies(form_id: str | None) -> None:
    """Render the OData feed's stored row bodies that are missing or stale (after an upgrade
    or a form publish), so analysts' first read is as fast as the next."""
    store = open_store(load_config())
    try:
        done = analyst_api.render_feed_bodies(store, form_id)
    except LookupError as exc:
        fail(str(exc), code=2)
    for name, rows in done.items():
        click.echo(f"{name}: {rows} rows have a stored body")


@export.command("submissions")
@click.option("--form", "form_id", required=True)
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False))
@click.option("--period", default=None, help="Only submissions dated in this period.")
@click.option("--unit", default=None, help="Only this province or commune code.")
@click.option("--review-state", default=None)
@click.option("--form-version", default=None)
@click.option("--labels", type=click.Choice(["codes", "vi", "en"]), default="codes")
@click.option("--split-select-multiple", is_flag=True)
@click.option(
    "--attachments",
    is_flag=True,
    help="Add each submission's media files (decrypted) under media/.",
)
@click.option(
    "--include-identifiers",
    is_flag=True,
    help="Add identifying (P3) columns; needs --reason and is audited.",
)
@click.option("--reason", default=None)
def export_submissions(
    form_id: str,
    out_file: str,
    period: str | None,
    unit: str | None,
    review_state: str | None,
    form_version: str | None,
    labels: str,
    split_select_multiple: bool,
    attachments: bool,
    include_identifiers: bool,
    reason: str | None,
) -> None:
    """Export one form's submissions as a zip of CSVs (one per repeat group)."""
    _require_reason(include_identifiers, reason)
    try:
        span = calendar_of(load_config()).period(period) if period else None
    except ValueError as exc:
        fail(str(exc), code=2)
    config = load_config()
    store = open_store(config)
    filters = SubmissionFilter(
        event_from=span.start if span else None,
        event_to=span.end if span else None,
        unit=unit,
        review_state=review_state,
    )
    options = ExportOptions(
        language=None if labels == "codes" else labels,
        split_select_multiple=split_select_multiple,
        include_identifiers=include_identifiers,
    )
    show = sys.stderr.isatty()
    try:
        summary = export_form_to_file(
            store,
            form_id,
            Path(out_file),
            scope=UnitScope.all_units(),
            filters=filters,
            form_version=form_version,
            options=options,
            progress=(lambda n: click.echo(f"\r{n} submissions", nl=False, err=True))
            if show
            else None,
            media=_media_source(config, store) if attachments else None,
        )
    except LookupError as exc:
        fail(str(exc.args[0]))
    if show:
        click.echo("", err=True)
    with store.session() as session:
        auditing.record(
            session,
            "cli",
            "export.submissions",
            f"form:{form_id}",
            {
                "submissions": summary.submissions,
                "identifiers": include_identifiers,
                "reason": reason,
                "period": period,
                "unit": unit,
            },
        )
    click.echo(
        f"{summary.submissions} submissions exported to {out_file} ({', '.join(summary.files)})"
    )


def _media_source(config: Config, store: Store) -> MediaSource:
    """Each submission's media, decrypted with the server key (FIELDCASE_KEY_PASSPHRASE)."""
    from server.app_context import Services, submission_media

    services = Services(config, store)
    return lambda submission_id: submission_media(services, submission_id)


@export.command("cases")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False))
@click.option("--unit", "units", multiple=True, help="Limit to these units (default: all).")
@click.option(
    "--include-identifiers",
    is_flag=True,
    help="Add names, dates of birth, phones and addresses; needs --reason; audited.",
)
@click.option("--reason", default=None)
def export_cases(
    out_file: str, units: tuple[str, ...], include_identifiers: bool, reason: str | None
) -> None:
    """The case register: one row per case with status and key dates."""
    _require_reason(include_identifiers, reason)
    config = load_config()
    store = open_store(config)
    scope = UnitScope.of_units(units) if units else UnitScope.all_units()
    count = write_register(
        store, Path(out_file), scope=scope, include_identifiers=include_identifiers
    )
    with store.session() as session:
        auditing.record(
            session,
            "cli",
            "export.cases",
            None,
            {
                "cases": count,
                "identifiers": include_identifiers,
                "reason": reason,
                "units": sorted(units),
            },
        )
    click.echo(f"{count} cases written to {out_file}")


def calendar_of(config: Config) -> ReportCalendar:
    """The deployment's reporting windows and due dates."""
    return report_calendar(config.report_cutoff_day, config.report_due_dates)


def window_line(span: Period) -> str:
    """`2026-H1: 15/12/2025 - 14/6/2026 (state reporting window)`."""
    kind = "calendar period" if span.calendar else "state reporting window"
    return f"{span.name}: {day_vi(span.start)} - {day_vi(span.end)} ({kind})"


@export.command("report")
@click.option("--period", required=True, help="2026, 2026-H1, 2026-H2 or 2026-Q1..Q4")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--unit", "units", multiple=True, help="Limit to these units (default: all).")
@click.option(
    "--calendar",
    is_flag=True,
    help="Calendar periods (1/1-30/6, ...) instead of the state reporting windows; analysis only.",
)
@click.option("--unit-name", default=None, help="The reporting unit's name for the heading.")
@click.option("--place", default="", help="Place written before the date (e.g. Móng Cái).")
@click.option(
    "--suppress",
    "threshold",
    type=click.IntRange(min=2),
    default=None,
    help="Hide cells below N (and those that would reveal them) for publication.",
)
def export_report(
    period: str,
    out_dir: str,
    units: tuple[str, ...],
    calendar: bool,
    unit_name: str | None,
    place: str,
    threshold: int | None,
) -> None:
    """Write the report tables for a period: CSV files, report.json and the XLSX report.

    The first line printed is the window the report covers."""
    config = load_config()
    try:
        span = calendar_of(config).period(period, calendar=calendar)
    except ValueError as exc:
        fail(str(exc), code=2)
    click.echo(window_line(span))
    store = open_store(config)
    scope = UnitScope.of_units(units) if units else UnitScope.all_units()
    tables = build_tables(store, scope, span)
    if threshold:
        tables = [suppress(table, threshold) for table in tables]
    from server.clock import utcnow

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = write_report(tables, out, span, heading_for(units, utcnow(), unit_name, place))
    with store.session() as session:
        auditing.record(
            session,
            "cli",
            "export.report",
            f"period:{span.name}",
            {
                "units": sorted(units),
                "tables": [t.code for t in tables],
                "suppress": threshold,
                "start": span.start.isoformat(),
                "end": span.end.isoformat(),
            },
        )
    for path in written:
        click.echo(str(path))


@export.command("merge-reports")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False))
def export_merge_reports(files: tuple[str, ...], out_file: str) -> None:
    """Add several units' report.json files of one period into one (a province combining its
    communes, a ministry its provinces); refuses files of another definitions version."""
    from server.clock import utcnow

    documents = []
    for name in files:
        try:
            documents.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            fail(f"{name}: not a report.json ({exc})", code=2)
    try:
        merged = merge(documents, utcnow())
    except (MergeError, KeyError, TypeError) as exc:
        fail(f"cannot merge: {exc}", code=2)
    Path(out_file).write_text(dumps(merged), encoding="utf-8")
    click.echo(f"{len(documents)} reports of {merged['period']['code']} merged into {out_file}")


@export.command("extract")
@click.option("--period", required=True, help="2025, 2025-H1, 2025-H2 or 2025-Q3")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--k",
    "k",
    type=click.IntRange(min=2),
    default=11,
    show_default=True,
    help="Every combination of quasi-identifiers occurs at least k times.",
)
def export_extract(period: str, out_file: str, k: int) -> None:
    """The de-identified CTDC/HTCDS extract (A1), k-anonymised."""
    try:
        span = calendar_of(load_config()).period(period)
    except ValueError as exc:
        fail(str(exc), code=2)
    config = load_config()
    store = open_store(config)
    report = write_extract(store, Path(out_file), span, scope=UnitScope.all_units(), k=k)
    with store.session() as session:
        auditing.record(
            session,
            "cli",
            "export.extract",
            f"period:{span.name}",
            {
                "k": k,
                "records": report.records_out,
                "dropped": report.dropped,
                "without_consent": report.without_consent,
            },
        )
    click.echo(
        f"left out: {report.without_consent} persons without consent to non-identifying data use"
    )
    for step in report.steps:
        click.echo(f"generalised: {step}")
    click.echo(
        f"{report.records_in} persons, {report.generalised} generalised, "
        f"{report.dropped} dropped, {report.records_out} written to {out_file} (k={k})"
    )


@export.command("scheduled")
def export_scheduled() -> None:
    """Write the report tables of every finished period not written yet (for cron)."""
    from exports.periods import completed_periods
    from server.clock import utcnow

    config = load_config()
    store = open_store(config)
    written = 0
    for span in completed_periods(utcnow().date(), config.report_cutoff_day):
        folder = config.export_dir / "reports" / span.name
        if (folder / f"{span.name}-report.xlsx").exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        write_report(
            build_tables(store, UnitScope.all_units(), span),
            folder,
            span,
            heading_for([], utcnow()),
        )
        with store.session() as session:
            auditing.record(session, "cron", "export.report", f"period:{span.name}", {})
        click.echo(f"{span.name}: written to {folder}")
        written += 1
    click.echo(f"{written} reports written")


COMMANDS = [export]
