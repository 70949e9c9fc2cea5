"""`fieldcase cases ...`: the case store."""

from __future__ import annotations

import click

from server.cli.common import load_config, open_store
from server.services import case_assignments, consent, matching
from server.services import cases as case_service


@click.group()
def cases() -> None:
    """The case store (a projection of the submissions)."""


@cases.command("rebuild")
def cases_rebuild() -> None:
    """Judge every decrypted submission by the unit rule and project every case again."""
    config = load_config()
    store = open_store(config)
    case_service.use_visit_rule(
        case_service.VisitRule(config.first_visit_days, config.next_visit_days)
    )
    codes, others = case_service.rebuild_all(store)
    matching.record_all(store, matching.match_secret(config))
    with store.session() as session:
        flagged = case_service.count_held_back(session)
    click.echo(
        f"{codes} case codes projected, {others} other submissions checked, "
        f"{flagged} submissions held back by the unit rule"
    )


@cases.command("drop-closed")
def cases_drop_closed() -> None:
    """Remove the collectors' assignments of cases closed longer ago than
    FIELDCASE_CASELIST_CLOSED_GRACE_DAYS (their lists already leave them out); audited."""
    config = load_config()
    store = open_store(config)
    with store.session() as session:
        removed = case_assignments.drop_closed(
            session, config.caselist_closed_grace_days, "fieldcase cases drop-closed"
        )
    click.echo(f"{removed} assignments of closed cases removed")


@cases.command("check-consent")
@click.option("--repair", is_flag=True, help="Project every ledger again when they differ.")
def cases_check_consent(repair: bool) -> None:
    """Check that the consent standings every export, list and report reads equal the consent
    ledger replayed; exit 1 when they differ (counts by purpose, no person named)."""
    config = load_config()
    store = open_store(config)
    with store.session() as session:
        drift = consent.check_standings(session, "fieldcase cases check-consent", repair)
    if not drift:
        click.echo("consent standings agree with the ledger")
        return
    counts = ", ".join(f"{purpose}: {count}" for purpose, count in sorted(drift.items()))
    if repair:
        click.echo(f"consent standings differed from the ledger ({counts}); projected again")
        return
    click.echo(f"consent standings differ from the ledger ({counts}); run with --repair", err=True)
    raise SystemExit(1)


COMMANDS = [cases]
