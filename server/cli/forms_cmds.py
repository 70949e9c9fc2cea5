"""`fieldcase forms ...`: build and publish the XLSForm suite."""

from __future__ import annotations

import click

from server.cli.common import not_yet_implemented


@click.group()
def forms() -> None:
    """The XLSForm suite."""


@forms.command("build")
@click.option("--out", "out_dir", default="var/forms-build", type=click.Path())
def forms_build(out_dir: str) -> None:
    """Compile every form in forms/ and validate it with ODK Validate."""
    not_yet_implemented("forms build")


@forms.command("publish")
def forms_publish() -> None:
    """Store new form versions in the server."""
    not_yet_implemented("forms publish")


COMMANDS = [forms]
