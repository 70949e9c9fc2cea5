"""`fieldcase init`, `serve`, `users ...`, `collectors ...`, `decrypt-pending`."""

from __future__ import annotations

import click

from server import errors, logs
from server.cli.common import check_data_dir, fail, load_config, open_store
from server.datadir import is_new_data_dir, tighten_new_data_dir
from server.errors import ConfigError
from server.i18n_text import vi_en
from server.security.passwords import password_problem
from server.services import accounts, auditing
from server.store.db import Store


@click.command()
def init() -> None:
    """Prepare the data directory: store, server key pair, first admin. Safe to run again."""
    from server.services.setup import initialise

    config = load_config()
    if is_new_data_dir(config) and tighten_new_data_dir(config):
        click.echo(f"fieldcase: {config.data_dir} made private to this user (chmod 700)")
    check_data_dir(config)  # an initialised one must already be private
    try:
        result = initialise(config, Store(config.database_url))
    except ConfigError as exc:
        fail(str(exc), code=2)
    if result.already_initialised:
        click.echo(f"fieldcase: {config.data_dir} is already initialised; nothing changed.")
        return
    click.echo(f"fieldcase: initialised {config.data_dir}")
    if result.key_fingerprint:
        click.echo(f"  server key: RSA, fingerprint {result.key_fingerprint[:16]}")
    if result.admin_username:
        click.echo(f"  admin user: {result.admin_username}")
    if result.admin_password:
        click.echo(f"  admin password (shown once, write it down): {result.admin_password}")


@click.command()
@click.option("--host", default=None, help="Address to listen on (FIELDCASE_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (FIELDCASE_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the web view and the OpenRosa API (gunicorn, threaded workers)."""
    from server.wsgi_server import serve as run_server

    config = load_config()
    logs.configure(config.log_level, config.log_format)  # every event, for the operator
    config = config.with_changes(host=host or config.host, port=port or config.port)
    open_store(config).dispose()  # fails clearly when not initialised; migrates if needed
    click.echo(
        f"fieldcase: serving {config.data_dir} on http://{config.host}:{config.port}/ "
        f"({config.workers} workers x {config.threads} threads)"
    )
    run_server(config)


@click.group()
def users() -> None:
    """Web view accounts."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "supervisor", "viewer"]), required=True)
@click.option("--unit", "units", multiple=True, help="Administrative unit code (repeatable).")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the password from this file instead of generating one.",
)
def users_add(name: str, role: str, units: tuple[str, ...], password_file: str | None) -> None:
    """Create a web view account; prints a generated password once."""
    if role != "admin" and not units:
        fail("supervisors and viewers need at least one --unit", code=2)
    config = load_config()
    store = open_store(config)
    password = None
    if password_file:
        with open(password_file, encoding="utf-8") as handle:
            password = handle.read().rstrip("\r\n")
        problem = password_problem(password, name)
        if problem:
            fail(vi_en(problem), code=2)
    try:
        with store.session() as session:
            user, generated = accounts.create_user(
                session, "cli", name, role, accounts.parse_units(units), password
            )
    except errors.Problem as problem:
        fail(vi_en(problem.message), code=1 if problem.status == 409 else 2)
    click.echo(f"user {user.username} ({role}) created")
    if generated:
        click.echo(f"password (shown once): {generated}")


@click.command("decrypt-pending")
def decrypt_pending() -> None:
    """Decrypt every stored submission that can be decrypted now; list the others."""
    from server.app_context import Services

    config = load_config()
    services = Services(config, open_store(config))
    outcomes = services.processor.process_pending()
    done = [o for o in outcomes if o.state == "decrypted"]
    waiting = [o for o in outcomes if o.state != "decrypted"]
    for outcome in waiting:
        click.echo(f"submission {outcome.submission_id}: {outcome.state}: {outcome.reason}")
    click.echo(f"{len(done)} decrypted, {len(waiting)} pending")


@click.command()
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False))
def backup(out_file: str) -> None:
    """Write a consistent archive of the database, blobs and protected keys (tar.gz)."""
    from pathlib import Path

    from server.services.backup import BackupError
    from server.services.backup import backup as make_backup

    config = load_config()
    store = open_store(config)
    try:
        summary = make_backup(config, store, Path(out_file))
    except BackupError as exc:
        fail(str(exc))
    with store.session() as session:
        auditing.record(session, "cli", "backup", None, {"blobs": summary.blobs})
    click.echo(
        f"backup written to {out_file}: {sum(summary.rows.values())} rows, "
        f"{summary.blobs} blobs (the key passphrase is not in it)"
    )


@click.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
def restore(archive: str) -> None:
    """Restore a backup into a NEW data directory and an empty database."""
    from pathlib import Path

    from server.services.backup import BackupError
    from server.services.backup import restore as restore_backup

    config = load_config()
    store = Store(config.database_url)
    try:
        summary = restore_backup(config, store, Path(archive))
    except BackupError as exc:
        fail(str(exc))
    click.echo(
        f"restored {sum(summary.rows.values())} rows and {summary.blobs} blobs into "
        f"{config.data_dir}"
    )


COMMANDS = [init, serve, users, decrypt_pending, backup, restore]
