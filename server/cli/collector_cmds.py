"""`fieldcase collectors ...`: field workers' phone accounts."""

from __future__ import annotations

from pathlib import Path

import click
import segno

from server import errors
from server.cli.common import fail, load_config, open_store
from server.i18n_text import vi_en
from server.services import assignments
from server.services import collectors as collector_service
from server.services import forms as form_service


@click.group()
def collectors() -> None:
    """Field workers' phone accounts."""


@collectors.command("add")
@click.argument("name")
@click.option(
    "--unit",
    default=None,
    help="Unit code the collector works for (required): a province (2 digits) or a commune "
    "(5 digits) of the admin units list.",
)
@click.option(
    "--basic",
    is_flag=True,
    help="Sign in with a user name (NAME) and a generated password (HTTP Basic) on the plain "
    "server URL, instead of a secret token in the URL. The password is printed once.",
)
@click.option(
    "--qr",
    "qr_file",
    type=click.Path(dir_okay=False),
    help="Also write the ODK Collect settings QR code (.png or .svg) here.",
)
@click.option("--show-qr", is_flag=True, help="Also draw the QR code in the terminal.")
def collectors_add(
    name: str, unit: str | None, basic: bool, qr_file: str | None, show_qr: bool
) -> None:
    """Create a collector; the last line printed is its server URL for ODK Collect."""
    config = load_config()
    store = open_store(config)
    try:
        with store.session() as session:
            created = collector_service.create(
                session, config.public_url, name, unit, "cli", basic=basic
            )
            forms = [
                f.xml_form_id
                for f in collector_service.assigned_forms(session, created.collector.id)
            ]
    except errors.Problem as problem:
        fail(vi_en(problem.message))
    click.echo(f"collector {name} created; forms assigned: {', '.join(forms) or 'none yet'}")
    payload = collector_service.collect_qr_payload(
        collector_service.collect_settings(
            created.url, config.project_name, created.username, created.password
        )
    )
    if show_qr:
        click.echo("Scan in ODK Collect (Configure with QR code):")
        segno.make(payload, micro=False, error="m").terminal(compact=True)
    if qr_file:
        kind = "png" if qr_file.endswith(".png") else "svg"
        Path(qr_file).write_bytes(collector_service.qr_code(payload, kind))
        click.echo(f"ODK Collect settings QR code written to {qr_file}")
    if created.password is not None:
        click.echo(f"Tên đăng nhập / user name: {created.username}")
        click.echo(
            "Mật khẩu (chỉ hiện một lần, hãy ghi lại và chuyển cho người dùng một cách an toàn) "
            f"/ password (shown once, write it down and give it over safely): {created.password}"
        )
        click.echo(
            "Địa chỉ máy chủ (nhập vào ODK Collect cùng tên đăng nhập và mật khẩu, hoặc quét mã "
            "QR) / server URL (enter it in ODK Collect with the user name and password, or "
            "scan the QR code):"
        )
    else:
        click.echo("server URL (enter it in ODK Collect, or scan the QR code; keep it secret):")
    click.echo(created.url)


@collectors.command("revoke")
@click.argument("name")
def collectors_revoke(name: str) -> None:
    """Stop a collector at once (its server URL, or its HTTP Basic account, no longer works)."""
    config = load_config()
    with open_store(config).session() as session:
        collector = collector_service.collector_by_name(session, name)
        if collector is None:
            fail(f"no collector named {name!r}")
        collector_service.revoke(session, collector.id, "cli")
    click.echo(f"collector {name} revoked")


@collectors.command("assign")
@click.argument("name")
@click.option("--form", "form_ids", multiple=True, required=True, help="Form id (repeatable).")
def collectors_assign(name: str, form_ids: tuple[str, ...]) -> None:
    """Let a collector list, download and submit these forms."""
    config = load_config()
    with open_store(config).session() as session:
        collector = collector_service.collector_by_name(session, name)
        if collector is None:
            fail(f"no collector named {name!r}")
        for form_id in form_ids:
            form = form_service.form_by_id(session, form_id)
            if form is None:
                fail(f"no form {form_id!r} is published")
            assignments.assign(session, collector.id, form.id)
    click.echo(f"collector {name}: assigned {', '.join(form_ids)}")


COMMANDS = [collectors]
