"""`fieldcase forms ...`: build, publish and document the XLSForm suite."""

from __future__ import annotations

import time
from pathlib import Path

import click

from crypto.keys import load_public_key, public_key_base64
from forms.admin_units import DEFAULT_PATH as ADMIN_UNITS_PATH
from forms.admin_units import AdminUnitsError
from forms.admin_units_source import build as build_admin_units
from forms.compiler import SOURCE_DIR, CompiledForm, compile_all
from forms.dictionary import DICTIONARY_PATH, build_dictionary
from forms.errors import FormError
from server.cli.common import fail, load_config, open_store
from server.services import keyadmin
from server.services.forms import publish_compiled


def _summary(form: CompiledForm) -> str:
    state = "encrypted" if form.encrypted else "NOT encrypted"
    return (
        f"{form.form_id:<20} {form.version}  {len(form.fields):>3} fields  {state}"
        f"{'  ' + str(len(form.warnings)) + ' warnings' if form.warnings else ''}"
    )


@click.group()
def forms() -> None:
    """The XLSForm suite."""


@forms.command("build")
@click.option("--out", "out_dir", default="var/forms-build", type=click.Path(file_okay=False))
@click.option(
    "--public-key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM or bare base64 public key; default: the server's active key.",
)
@click.option(
    "--source", "source_dir", default=str(SOURCE_DIR), type=click.Path(exists=True, file_okay=False)
)
def forms_build(out_dir: str, public_key_file: str | None, source_dir: str) -> None:
    """Compile every form, validate it with ODK Validate, write XForms and attachments."""
    public_key = _public_key(public_key_file)
    started = time.monotonic()
    try:
        built = compile_all(Path(source_dir), public_key=public_key)
    except FormError as exc:
        fail(str(exc))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for form in built:
        folder = out / form.form_id
        folder.mkdir(exist_ok=True)
        (folder / f"{form.form_id}.xml").write_bytes(form.xml)
        for name, content in form.attachments.items():
            (folder / name).write_bytes(content)
        click.echo(_summary(form))
        for warning in form.warnings:
            click.echo(f"  warning: {warning}")
    click.echo(
        f"{len(built)} forms built and validated in {time.monotonic() - started:.1f} s into {out}"
    )


def _public_key(public_key_file: str | None) -> str | None:
    if public_key_file:
        try:
            return public_key_base64(load_public_key(Path(public_key_file).read_bytes()))
        except Exception as exc:
            fail(f"{public_key_file} is not an RSA public key ({type(exc).__name__})")
    try:
        config = load_config()
        store = open_store(config)
    except SystemExit:
        click.echo(
            "warning: no server key (not initialised) and no --public-key-file: the "
            "forms are built WITHOUT encryption",
            err=True,
        )
        return None
    with store.reader() as session:
        key = keyadmin.active_key(session)
        return key.public_key_b64 if key else None


@forms.command("publish")
@click.option(
    "--source", "source_dir", default=str(SOURCE_DIR), type=click.Path(exists=True, file_okay=False)
)
def forms_publish(source_dir: str) -> None:
    """Compile every form with the server's key and publish the versions that are new."""
    config = load_config()
    store = open_store(config)
    from server.blobs import FileBlobStore

    with store.reader() as session:
        key = keyadmin.active_key(session)
        if key is None:
            fail("the server has no key pair: run `fieldcase init` first")
        public_key = key.public_key_b64
    try:
        built = compile_all(Path(source_dir), public_key=public_key)
    except FormError as exc:
        fail(str(exc))
    blobs = FileBlobStore(config.blob_dir)
    new = 0
    with store.session() as session:
        for form in built:
            result = publish_compiled(session, blobs, form, "cli")
            new += result.created
            click.echo(f"{_summary(form)}  {'published' if result.created else 'unchanged'}")
    click.echo(f"{new} new form versions published, {len(built) - new} unchanged")


@forms.command("dictionary")
@click.option("--out", "out_file", default=str(DICTIONARY_PATH), type=click.Path(dir_okay=False))
def forms_dictionary(out_file: str) -> None:
    """Regenerate the data dictionary (docs/data-dictionary.md) from the forms."""
    click.echo(f"written {build_dictionary(Path(out_file))}")


@forms.command("units")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The official list: CSV with level, code, type, name, province_code.",
)
@click.option("--out", "out_file", default=str(ADMIN_UNITS_PATH), type=click.Path(dir_okay=False))
def forms_units(source: str, out_file: str) -> None:
    """Build the forms' admin units attachment (forms/media/admin_units.csv) from the
    official list of provinces and communes."""
    try:
        summary = build_admin_units(Path(source), Path(out_file))
    except AdminUnitsError as exc:
        fail(f"Danh sách đơn vị hành chính không hợp lệ / the list is not valid: {exc}")
    types = summary.commune_types
    click.echo(
        f"{summary.provinces} tỉnh, thành phố; {summary.communes} xã, phường, đặc khu "
        f"({types.get('Xã', 0)} xã, {types.get('Phường', 0)} phường, "
        f"{types.get('Đặc khu', 0)} đặc khu) / {summary.provinces} provinces, "
        f"{summary.communes} communes: written {summary.path}"
    )
    click.echo(
        "Phát hành lại biểu mẫu để điện thoại nhận danh sách mới / publish the forms again "
        "(fieldcase forms publish) for phones to get the new list."
    )


COMMANDS = [forms]
