"""`fieldcase cases ...`: the case store."""

from __future__ import annotations

import click

from server.cli.common import load_config, open_store
from server.services import cases as case_service
from server.services import units
from server.store import submissions as submission_store


@click.group()
def cases() -> None:
    """The case store (a projection of the submissions)."""


@cases.command("rebuild")
def cases_rebuild() -> None:
    """Judge every decrypted submission by the unit rule and project every case again."""
    config = load_config()
    store = open_store(config)
    codes, others = case_service.rebuild_all(store)
    with store.session() as session:
        flagged = submission_store.count_flagged(session, units.FLAGS)
    click.echo(
        f"{codes} case codes projected, {others} other submissions checked, "
        f"{flagged} submissions held back by the unit rule"
    )


COMMANDS = [cases]
