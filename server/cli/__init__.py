"""The `fieldcase` console script.

Each command group lives in its own module of this package; this module only assembles them.
"""

from __future__ import annotations

import click

from server.cli import (
    audit_cmds,
    case_cmds,
    collector_cmds,
    crypto_cmds,
    demo_cmds,
    export_cmds,
    forms_cmds,
    phone_cmds,
    store_cmds,
    subject_cmds,
    transfer_cmds,
)
from server.datadir import private_umask


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fieldcase")
def main() -> None:
    """fieldcase: case management for the protection of returned victims of trafficking."""
    # First of all: whatever any command writes (the store, keys, exports, backups, decrypted
    # files) is readable by this user only; `serve`'s workers inherit it.
    private_umask()


for module in (
    store_cmds,
    collector_cmds,
    crypto_cmds,
    forms_cmds,
    export_cmds,
    case_cmds,
    audit_cmds,
    transfer_cmds,
    subject_cmds,
    phone_cmds,
    demo_cmds,
):
    for command in module.COMMANDS:
        main.add_command(command)
