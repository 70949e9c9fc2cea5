"""`fieldcase keys ...` and `fieldcase decrypt`: offline key and decryption tools."""

from __future__ import annotations

import click

from server.cli.common import not_yet_implemented


@click.group()
def keys() -> None:
    """Server key pairs."""


@keys.command("generate")
@click.option("--out", "out_dir", required=True, type=click.Path())
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False))
def keys_generate(out_dir: str, passphrase_file: str | None) -> None:
    """Generate an RSA key pair."""
    not_yet_implemented("keys generate")


@click.command()
@click.option("--key", required=True, type=click.Path())
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False))
@click.argument("submission_dir", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path())
def decrypt(key: str, passphrase_file: str | None, submission_dir: str, out_dir: str) -> None:
    """Decrypt one submission directory offline."""
    not_yet_implemented("decrypt")


COMMANDS = [keys, decrypt]
