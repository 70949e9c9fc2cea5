"""`fieldcase export ...`: CSV exports and report tables."""

from __future__ import annotations

import click

from server.cli.common import not_yet_implemented


@click.group()
def export() -> None:
    """Exports and statutory report tables."""


@export.command("submissions")
@click.option("--form", "form_id", required=True)
@click.option("--out", "out_file", required=True, type=click.Path())
def export_submissions(form_id: str, out_file: str) -> None:
    """Export one form's submissions as a CSV zip."""
    not_yet_implemented("export submissions")


@export.command("report")
@click.option("--period", required=True)
@click.option("--out", "out_dir", required=True, type=click.Path())
def export_report(period: str, out_dir: str) -> None:
    """Write the report tables T1-T8 for a period."""
    not_yet_implemented("export report")


COMMANDS = [export]
