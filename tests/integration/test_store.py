"""The store on SQLite and PostgreSQL: migrations, users, keys, the audit chain."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, update

from server.store import audit
from server.store import keys as key_store
from server.store import users as user_store
from server.store.db import Store
from server.store.models import AuditEntry, Base


def test_migrations_reach_head_and_match_models(store: Store) -> None:
    assert store.schema_revision() == store.head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "models and migrations disagree: add a migration"


def test_migrate_twice_changes_nothing(store: Store) -> None:
    store.migrate()
    assert store.schema_revision() == store.head_revision()


def test_sqlite_runs_in_wal_mode(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_users_and_units(store: Store) -> None:
    with store.session() as session:
        user = user_store.add(session, "Lan", "hash", "supervisor")
        user_store.set_units(session, user.id, ["01", "00004", "01"])
    with store.session() as session:
        found = user_store.by_username(session, "lan")
        assert found is not None
        assert found.role == "supervisor"
        assert user_store.units_of(session, found.id) == ["00004", "01"]
        assert user_store.count_admins(session) == 0


def test_rolled_back_session_keeps_nothing(store: Store) -> None:
    def add_then_fail() -> None:
        with store.session() as session:
            user_store.add(session, "ghost", "hash", "viewer")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        add_then_fail()
    with store.session() as session:
        assert user_store.by_username(session, "ghost") is None


def test_new_key_retires_the_old_one(store: Store) -> None:
    with store.session() as session:
        first = key_store.add(session, "a" * 64, "pub1", b"pem1", 2048)
        second = key_store.add(session, "b" * 64, "pub2", b"pem2", 2048)
        assert key_store.active(session).id == second.id
        assert key_store.by_id(session, first.id).retired_at is not None
        assert len(key_store.all_keys(session)) == 2


def test_audit_chain_holds_and_detects_tampering(store: Store) -> None:
    with store.session() as session:
        for n in range(5):
            audit.append(session, "admin", "case.view", f"case:{n}", {"reason": "kiểm tra"})
    with store.session() as session:
        assert audit.verify_chain(session) is None
        entries = audit.recent(session, limit=10, action="case.view")
        assert [e.target for e in entries] == [f"case:{n}" for n in range(4, -1, -1)]
        third = entries[2]
        session.execute(
            update(AuditEntry).where(AuditEntry.id == third.id).values(actor="someone-else")
        )
    with store.session() as session:
        assert audit.verify_chain(session) == third.id
