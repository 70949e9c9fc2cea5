"""`fieldcase keys public` and `fieldcase transfer export|import`: transfers between servers.

A province running its own server hands its public key (`keys public`) to the sender; the
sender seals a case for it (`transfer export`); the receiver verifies and records it as a
pending transfer (`transfer import`) that its supervisor accepts on the transfers page.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import click

from server.cli.common import fail, load_config, open_store
from server.cli.crypto_cmds import keys
from server.errors import Problem
from server.services import transfer_packages
from server.services.keyring import KeyRing


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@keys.command("public")
def keys_public() -> None:
    """Print this server's public key as PEM (give it to a server that sends you cases)."""
    config = load_config()
    store = open_store(config)
    try:
        with store.session() as session:
            click.echo(transfer_packages.public_key_pem(session).decode("ascii"), nl=False)
    except Problem as problem:
        fail(problem.message)


@click.group()
def transfer() -> None:
    """Transfers of cases between servers (signed, encrypted packages)."""


@transfer.command("export")
@click.argument("case_code")
@click.option(
    "--to",
    "recipient_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The receiving server's public key (PEM, from its `fieldcase keys public`).",
)
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False))
@click.option("--to-unit", required=True, help="The receiving unit: a province or commune code.")
@click.option("--reason", required=True, help="Why the case is transferred (10-500 characters).")
@click.option(
    "--identity",
    is_flag=True,
    help="Identity travels too (refused unless every person consented to share it).",
)
def transfer_export(
    case_code: str, recipient_file: str, out_file: str, to_unit: str, reason: str, identity: bool
) -> None:
    """Seal CASE_CODE for another server's key into OUT (never overwritten)."""
    config = load_config()
    store = open_store(config)
    out = Path(out_file)
    if out.exists():
        fail(f"{out} exists; packages are never overwritten")
    try:
        with store.session() as session:
            exported = transfer_packages.export_package(
                session,
                KeyRing(store, config.key_passphrase),
                case_code,
                Path(recipient_file).read_bytes(),
                to_unit,
                reason,
                identity,
                _actor(),
                config.public_url,
            )
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(exported.package)
    except Problem as problem:
        fail(problem.message)
    click.echo(
        f"{exported.case_code}: {exported.submissions} submissions sealed for key "
        f"{exported.recipient_fingerprint[:16]}"
        + (" with identity" if exported.identity else " (statistical core only)")
        + f" -> {out}"
    )


@transfer.command("import")
@click.argument("package_file", type=click.Path(exists=True, dir_okay=False))
def transfer_import(package_file: str) -> None:
    """Verify and open a package for this server; it waits as a pending transfer."""
    config = load_config()
    store = open_store(config)
    try:
        with store.session() as session:
            imported = transfer_packages.import_package(
                session,
                KeyRing(store, config.key_passphrase),
                Path(package_file).read_bytes(),
                _actor(),
            )
    except Problem as problem:
        fail(problem.message)
    click.echo(f"sender: {imported.sender_name} (key {imported.sender_fingerprint})")
    click.echo("signature: valid")
    click.echo(
        f"{imported.case_code}: {imported.submissions} submissions from unit {imported.from_unit}"
        f" to unit {imported.to_unit}"
        + (" with identity" if imported.identity else " (statistical core only)")
    )
    click.echo(
        f"transfer {imported.transfer_id} is pending: a supervisor of unit {imported.to_unit} "
        "accepts or declines it on the transfers page"
    )


COMMANDS = [transfer]
