"""`fieldcase subject ...` (data-subject requests) and `fieldcase retention run`."""

from __future__ import annotations

from pathlib import Path

import click

from server.cli.common import fail, load_config, open_store
from server.clock import utcnow
from server.services import subject


@click.group("subject")
def subject_group() -> None:
    """Requests of the person a case is about: see everything held, or erase it."""


@subject_group.command("export")
@click.argument("case_code")
@click.option("--reason", required=True, help="Why (the request, its date); audited.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder to write (default: the data directory's exports/subject-CODE-TIME).",
)
def subject_export(case_code: str, reason: str, out_dir: str | None) -> None:
    """Write everything held about CASE_CODE's persons: subject.html and subject.json."""
    config = load_config()
    store = open_store(config)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    folder = Path(out_dir) if out_dir else config.export_dir / f"subject-{case_code}-{stamp}"
    try:
        done = subject.export_subject(store, case_code, reason, folder)
    except subject.SubjectError as exc:
        fail(str(exc), code=2)
    click.echo(
        f"{done.submissions} submissions, {done.consent_events} consent events, "
        f"{done.audit_entries} audit entries written to {folder}"
    )


@subject_group.command("erase")
@click.argument("case_code")
@click.option("--reason", required=True, help="Why (the request, its date); audited.")
def subject_erase(case_code: str, reason: str) -> None:
    """Erase CASE_CODE's identifying answers and destroy its raw encrypted files; the
    statistical core stays for the report tables, and a tombstone says when, why, by whom."""
    config = load_config()
    store = open_store(config)
    try:
        done = subject.erase(config, store, case_code, reason)
    except subject.SubjectError as exc:
        fail(str(exc), code=2)
    if done.already:
        click.echo(f"{case_code} was already erased; {done.blobs_destroyed} blobs left destroyed")
        return
    click.echo(
        f"{case_code} erased: {done.fields_removed} answers removed from "
        f"{done.submissions} submissions, {done.parts_removed} files and "
        f"{done.blobs_destroyed} blobs destroyed"
    )


@click.group("retention")
def retention_group() -> None:
    """The retention rule (FIELDCASE_RETENTION_YEARS after a case is closed)."""


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="List what would be erased; change nothing.")
def retention_run(dry_run: bool) -> None:
    """Erase every case closed more than FIELDCASE_RETENTION_YEARS ago (scheduled like the
    exports: see docs/operations.md)."""
    config = load_config()
    store = open_store(config)
    done = subject.run_retention(config, store, dry_run=dry_run)
    for erasure in done:
        verb = "would erase" if dry_run else "erased"
        click.echo(
            f"{verb} {erasure.case_code}: {erasure.fields_removed} answers, "
            f"{erasure.parts_removed} files"
        )
    click.echo(
        f"{len(done)} cases {'due' if dry_run else 'erased'} "
        f"(retention {config.retention_years} years after closure)"
    )


COMMANDS = [subject_group, retention_group]
