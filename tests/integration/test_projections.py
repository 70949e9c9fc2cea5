"""Derived tables rebuilt by Store.migrate after the last migration (server/store/projections.py),
on SQLite and PostgreSQL: an older store's consent ledgers reach consent_standings on upgrade,
a release that changes the rules rebuilds them, and nothing is rebuilt when nothing changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, insert, select

from forms import consent as rules
from server.auditseal import seal_for
from server.cli import main
from server.config import Config
from server.store import consent as consent_store
from server.store import projections
from server.store.db import Store
from server.store.models import ConsentEvent, ConsentStanding, ProjectionVersion, table_of
from tests.integration.test_consent_standings import _answers, _random_events

# The rules consent_standings is built by, as of its version in projections.PROJECTIONS. When
# this fails, forms/consent.py changed: if the answers of `standing` may differ, bump the
# version (every store re-projects on its next migrate); then put the new digest here.
CONSENT_RULES_SHA256 = "2a34791c6cb38dedaa0e23cf2b22385676f66f5034c9ebb28bee17c1ca51fad8"
CONSENT_RULES = Path(rules.__file__)


def _standings(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(table_of(ConsentStanding))
        ).scalar_one()


def test_an_older_store_gets_its_standings_on_upgrade(config: Config) -> None:
    store = Store(config.database_url)
    store.attach_audit(seal_for(config))
    try:
        assert store.migrate("0011_api_tokens") == []  # the release before the projection
        with store.transaction() as connection:
            connection.execute(insert(table_of(ConsentEvent)), _random_events(3, 60))
        assert store.migrate() == ["consent_standings"]
        assert _standings(store) > 0
        with store.transaction() as connection:
            assert _answers(connection, from_ledger=False) == _answers(connection, from_ledger=True)
        assert store.migrate() == []  # built with these rules: left alone
        assert store.projections_current()
    finally:
        store.dispose()


def test_a_rules_change_rebuilds_and_nothing_else_does(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.transaction() as connection:
        consent_store.add_events(connection, _random_events(4, 40))
        # Damage the projection behind the rules' back: only a rebuild brings it back.
        connection.execute(delete(table_of(ConsentStanding)))
    assert store.migrate() == []
    assert _standings(store) == 0
    version, rebuild = projections.PROJECTIONS["consent_standings"]
    monkeypatch.setitem(projections.PROJECTIONS, "consent_standings", (version + 1, rebuild))
    assert not store.projections_current()
    assert store.migrate() == ["consent_standings"]
    assert _standings(store) > 0
    with store.transaction() as connection:
        assert _answers(connection, from_ledger=False) == _answers(connection, from_ledger=True)
        recorded = connection.execute(select(table_of(ProjectionVersion))).all()
    assert [(row.name, row.version) for row in recorded] == [("consent_standings", version + 1)]


def test_a_command_brings_a_stale_projection_up_to_date(config: Config, runner: CliRunner) -> None:
    assert runner.invoke(main, ["init"]).exit_code == 0
    store = Store(config.database_url)
    try:
        with store.transaction() as connection:
            connection.execute(insert(table_of(ConsentEvent)), _random_events(5, 20))
            connection.execute(delete(table_of(ProjectionVersion)))
        assert not store.projections_current()
        result = runner.invoke(main, ["decrypt-pending"])  # any command opening the store
        assert result.exit_code == 0, result.output
        assert store.projections_current()
        assert _standings(store) > 0
    finally:
        store.dispose()


def test_the_consent_rules_are_those_the_projection_version_names() -> None:
    assert hashlib.sha256(CONSENT_RULES.read_bytes()).hexdigest() == CONSENT_RULES_SHA256
