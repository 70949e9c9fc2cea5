"""`fieldcase export ...`: per-form CSV zips and the report tables, audited."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exports.extract import write_extract
from exports.periods import parse_period
from exports.register import write_register
from exports.report_files import write_report
from exports.reports import build_tables
from exports.submissions import ExportOptions, MediaSource, SubmissionFilter, export_form_to_file
from exports.suppression import suppress
from server.cli.common import fail, load_config, open_store
from server.config import Config
from server.services import auditing
from server.store.db import Store
from server.store.scope import UnitScope


def _require_reason(include_identifiers: bool, reason: str | None) -> None:
    """Identifying fields leave only with a written reason (it goes to the audit log)."""
    if include_identifiers and not (reason and len(reason.strip()) >= 10):
        fail("--include-identifiers needs --reason (at least 10 characters)", code=2)


@click.group()
def export() -> None:
    """Exports and statutory report tables."""


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
        span = parse_period(period) if period else None
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


@export.command("report")
@click.option("--period", required=True, help="2025, 2025-H1, 2025-H2 or 2025-Q3")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--unit", "units", multiple=True, help="Limit to these units (default: all).")
@click.option(
    "--suppress",
    "threshold",
    type=click.IntRange(min=2),
    default=None,
    help="Hide cells below N (and those that would reveal them) for publication.",
)
def export_report(period: str, out_dir: str, units: tuple[str, ...], threshold: int | None) -> None:
    """Write the report tables for a period as CSV files and one XLSX workbook."""
    try:
        span = parse_period(period)
    except ValueError as exc:
        fail(str(exc), code=2)
    config = load_config()
    store = open_store(config)
    scope = UnitScope.of_units(units) if units else UnitScope.all_units()
    tables = build_tables(store, scope, span)
    if threshold:
        tables = [suppress(table, threshold) for table in tables]
    written = write_report(tables, Path(out_dir), span.name)
    with store.session() as session:
        auditing.record(
            session,
            "cli",
            "export.report",
            f"period:{span.name}",
            {"units": sorted(units), "tables": [t.code for t in tables], "suppress": threshold},
        )
    for path in written:
        click.echo(str(path))


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
        span = parse_period(period)
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
    for span in completed_periods(utcnow().date()):
        folder = config.export_dir / "reports" / span.name
        if (folder / f"{span.name}-report.xlsx").exists():
            continue
        write_report(build_tables(store, UnitScope.all_units(), span), folder, span.name)
        with store.session() as session:
            auditing.record(session, "cron", "export.report", f"period:{span.name}", {})
        click.echo(f"{span.name}: written to {folder}")
        written += 1
    click.echo(f"{written} reports written")


COMMANDS = [export]
