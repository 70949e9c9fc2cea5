"""`fieldcase cases ...`: the case store."""

from __future__ import annotations

import click

from server.cli.common import load_config, open_store
from server.services import cases as case_service
from server.services import matching


@click.group()
def cases() -> None:
    """The case store (a projection of the submissions)."""


@cases.command("rebuild")
def cases_rebuild() -> None:
    """Judge every decrypted submission by the unit rule and project every case again."""
    config = load_config()
    store = open_store(config)
    codes, others = case_service.rebuild_all(store)
    matching.record_all(store, matching.match_secret(config))
    with store.session() as session:
        flagged = case_service.count_held_back(session)
    click.echo(
        f"{codes} case codes projected, {others} other submissions checked, "
        f"{flagged} submissions held back by the unit rule"
    )


COMMANDS = [cases]
