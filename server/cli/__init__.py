"""The `fieldcase` console script.

Each command group lives in its own module of this package; this module only assembles them.
"""

from __future__ import annotations

import click

from server.cli import (
    case_cmds,
    collector_cmds,
    crypto_cmds,
    export_cmds,
    forms_cmds,
    store_cmds,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fieldcase")
def main() -> None:
    """fieldcase: case management for the protection of returned victims of trafficking."""


for module in (store_cmds, collector_cmds, crypto_cmds, forms_cmds, export_cmds, case_cmds):
    for command in module.COMMANDS:
        main.add_command(command)
