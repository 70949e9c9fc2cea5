"""`fieldcase keys generate` and `fieldcase decrypt`: offline key and decryption tools.

`decrypt` works like ODK Briefcase on one submission directory (the manifest `submission.xml`
and its `.enc` files) and never writes outside --out: files are decrypted into a temporary
directory inside --out and moved into place only when everything decrypted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click

from crypto import keys as crypto_keys
from crypto.errors import CryptoError, KeyUnlockError, MissingPartError
from crypto.manifest import parse_manifest
from server.cli.common import fail


def _read_passphrase(passphrase_file: str | None) -> bytes | None:
    if passphrase_file is None:
        return None
    return Path(passphrase_file).read_bytes().rstrip(b"\r\n")


@click.group()
def keys() -> None:
    """Server key pairs."""


@keys.command("generate")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Protect the private key with the passphrase in this file.",
)
@click.option("--bits", type=click.Choice(["2048", "3072", "4096"]), default="2048")
def keys_generate(out_dir: str, passphrase_file: str | None, bits: str) -> None:
    """Generate an RSA key pair: private-key.pem, public-key.pem, public-key.b64."""
    out = Path(out_dir)
    targets = [out / "private-key.pem", out / "public-key.pem", out / "public-key.b64"]
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        fail(f"{existing[0]} exists; keys are never overwritten")
    passphrase = _read_passphrase(passphrase_file)
    if passphrase_file is not None and not passphrase:
        fail("the passphrase file is empty")
    key = crypto_keys.generate_private_key(int(bits))
    if passphrase:
        private_pem = crypto_keys.protect_private_key(key, passphrase)
    else:
        click.echo(
            "warning: no --passphrase-file: the private key is written UNPROTECTED "
            "(readable by this user only). Protect it before it leaves this machine.",
            err=True,
        )
        from cryptography.hazmat.primitives import serialization

        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(targets[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    targets[1].write_bytes(crypto_keys.public_key_pem(key))
    targets[2].write_text(crypto_keys.public_key_base64(key) + "\n", encoding="ascii")
    click.echo(
        f"key pair written to {out} (RSA-{bits}, fingerprint {crypto_keys.fingerprint(key)[:16]})"
    )


@click.command()
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="PEM private key (PKCS#1 or PKCS#8) or ODK Central managed-key JSON.",
)
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False))
@click.argument("submission_dir", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
def decrypt(key_file: str, passphrase_file: str | None, submission_dir: str, out_dir: str) -> None:
    """Decrypt one submission directory; prints `signature: valid|invalid|unverifiable`."""
    source = Path(submission_dir)
    try:
        key_bytes = Path(key_file).read_bytes()
    except OSError as exc:
        fail(f"cannot read the key {key_file}: {exc.strerror}")
    manifest_path = source / "submission.xml"
    if not manifest_path.is_file():
        fail(f"{manifest_path} is missing (the manifest of the encrypted submission)")
    try:
        decryptor = crypto_keys.unlock(key_bytes, _read_passphrase(passphrase_file))
        manifest = parse_manifest(manifest_path.read_bytes())
    except KeyUnlockError as exc:
        fail(f"the key cannot be used: {exc}")
    except CryptoError as exc:
        fail(str(exc))
    for name in manifest.files:
        if not (source / name).is_file():
            fail(str(MissingPartError(name)))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".decrypting-", dir=out))
    try:

        def open_part(name: str) -> BinaryIO | None:
            path = source / name
            return path.open("rb") if path.is_file() else None

        @contextmanager
        def write_part(name: str) -> Iterator[BinaryIO]:
            with (staging / name).open("xb") as handle:
                yield handle

        try:
            result = decryptor.decrypt_submission(manifest, open_part, write_part)
        except CryptoError as exc:
            fail(str(exc))
        for name in result.written:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    click.echo(f"signature: {result.signature}")


COMMANDS = [keys, decrypt]
