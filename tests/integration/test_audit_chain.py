"""The audit chain holds against someone who can change the database but not read the key.

Attacks as the review made them: edit a row and compute the chain again with the app's old
(unkeyed) hash; remove the newest rows. Both on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.auditseal import HEADS_LOG, LATEST_HEAD, Head
from server.cli import main
from server.clock import utcnow
from server.config import Config
from server.services.auditing import EDITED, REWRITTEN, TRUNCATED, UNKEYED, check_audit
from server.store import audit
from server.store.db import Store
from server.store.models import AuditEntry


def _fill(store: Store, count: int) -> list[int]:
    ids = []
    for n in range(count):
        with store.session() as session:  # one commit each, as requests make them
            ids.append(audit.append(session, "sup_a", "case.view", f"case:{n}").id)
    return ids


def _recompute_unkeyed(session: Session, from_id: int, until_id: int | None = None) -> None:
    """What an attacker with the database and the app's source can do: hash the rows again
    (from `from_id`, up to `until_id` included) with the unkeyed function the chain used
    before it was keyed."""
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    prev = audit.GENESIS
    for entry in entries:
        if entry.id >= from_id and (until_id is None or entry.id <= until_id):
            canonical = audit._canonical(  # the attacker's copy of the code
                entry.at, entry.actor, entry.action, entry.target, entry.detail
            )
            entry.prev_hash = prev
            entry.hash = audit.plain_hash(prev, canonical)
        prev = entry.hash
    session.flush()


def test_an_intact_log_verifies(store: Store) -> None:
    ids = _fill(store, 5)
    with store.reader() as session:
        state = check_audit(session)
    assert state.intact
    assert state.entries == 6  # the keyed chain's first entry, then five
    with store.reader() as session:
        first = session.get(AuditEntry, ids[0] - 1)
        assert first is not None
        assert first.action == audit.KEYED_MARK


def test_editing_and_recomputing_with_the_old_hash_is_detected(store: Store) -> None:
    ids = _fill(store, 5)
    with store.session() as session:
        session.execute(
            update(AuditEntry).where(AuditEntry.id == ids[2]).values(actor="someone-else")
        )
        _recompute_unkeyed(session, ids[2])
    with store.reader() as session:
        assert audit.verify_chain(session) == ids[2]
        state = check_audit(session)
    assert not state.intact
    assert (state.broken_at, state.reason) == (ids[2], EDITED)


def test_recomputing_the_whole_chain_without_the_key_is_detected(store: Store) -> None:
    ids = _fill(store, 5)
    with store.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.action == audit.KEYED_MARK))
        session.execute(update(AuditEntry).where(AuditEntry.id == ids[1]).values(actor="x"))
        _recompute_unkeyed(session, 0)
    with store.reader() as session:
        assert audit.verify_chain(session) is None  # every hash holds, unkeyed...
        state = check_audit(session)
    # ...but the keyed start and the heads recorded outside the database do not
    assert not state.intact
    assert state.reason in (EDITED, UNKEYED, REWRITTEN)
    assert state.broken_at == ids[0] - 1


def test_removing_the_newest_entries_is_detected(store: Store) -> None:
    ids = _fill(store, 15)
    with store.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id >= ids[5]))
    with store.reader() as session:
        assert audit.verify_chain(session) is None  # what is left still chains
        state = check_audit(session)
    assert (state.broken_at, state.reason) == (ids[5], TRUNCATED)
    assert f"entry {ids[-1]}" in state.detail


def test_a_rolled_back_entry_leaves_no_head(store: Store, config: Config) -> None:
    ids = _fill(store, 2)

    def fail_after_auditing() -> None:
        with store.session() as session:
            audit.append(session, "sup_a", "case.view", "case:9")
            raise RuntimeError("the request failed after auditing")

    with pytest.raises(RuntimeError):
        fail_after_auditing()
    latest = Head.parse((config.data_dir / LATEST_HEAD).read_text(encoding="ascii"))
    assert latest.entry_id == ids[-1]
    with store.reader() as session:
        assert check_audit(session).intact


def test_each_days_head_goes_to_the_heads_log_and_the_log(
    store: Store, config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    yesterday = utcnow() - timedelta(days=1)
    monkeypatch.setattr(audit, "utcnow", lambda: yesterday)
    last_of_yesterday = _fill(store, 3)[-1]
    monkeypatch.undo()
    with caplog.at_level(logging.INFO, logger="server.audit"):
        _fill(store, 2)
    lines = (config.data_dir / HEADS_LOG).read_text(encoding="ascii").splitlines()
    heads = [Head.parse(line) for line in lines]
    assert [h.kind for h in heads] == ["start", "day"]
    assert heads[1].entry_id == last_of_yesterday
    assert heads[1].at.date() == yesterday.date()
    assert any(f"id={last_of_yesterday}" in r.getMessage() for r in caplog.records)
    # removing everything written since is found through yesterday's head alone
    (config.data_dir / LATEST_HEAD).unlink()
    with store.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id >= last_of_yesterday))
    with store.reader() as session:
        assert check_audit(session).reason == TRUNCATED


def test_an_unkeyed_chain_of_an_older_version_is_kept_and_continued(store: Store) -> None:
    # Entries as the previous version wrote them: plain SHA-256, no key, no heads.
    with store.session() as session:
        prev = audit.GENESIS
        for n in range(3):
            at = utcnow().replace(microsecond=0)
            canonical = audit._canonical(at, "admin", "user.add", f"user:{n}", None)
            entry = AuditEntry(
                at=at, actor="admin", action="user.add", target=f"user:{n}", detail=None,
                prev_hash=prev, hash=audit.plain_hash(prev, canonical),
            )  # fmt: skip
            session.add(entry)
            session.flush()
            prev = entry.hash
        old_ids = [e.id for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    new_ids = _fill(store, 2)
    with store.reader() as session:
        assert check_audit(session).intact
        start = session.get(AuditEntry, new_ids[0] - 1)
        assert start is not None
        assert start.action == audit.KEYED_MARK
        assert start.detail["plain_before"] == old_ids[-1]
    # The old part cannot be rewritten either: the keyed start covers its last hash.
    with store.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == old_ids[1]).values(actor="x"))
        _recompute_unkeyed(session, old_ids[1], until_id=old_ids[-1])
        relinked = session.get(AuditEntry, old_ids[-1])
        assert relinked is not None
        session.execute(
            update(AuditEntry).where(AuditEntry.id == start.id).values(prev_hash=relinked.hash)
        )
    with store.reader() as session:
        state = check_audit(session)
    assert (state.broken_at, state.reason) == (start.id, EDITED)


def test_audit_verify_command(runner: CliRunner, config: Config) -> None:
    assert runner.invoke(main, ["init"]).exit_code == 0
    assert runner.invoke(main, ["users", "add", "lan", "--role", "admin"]).exit_code == 0
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    assert "nguyên vẹn" in ok.output
    store = Store(config.database_url)
    with store.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert f": {len(entries)} " in ok.output
        session.execute(delete(AuditEntry).where(AuditEntry.id == entries[-1].id))
    store.dispose()
    broken = runner.invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"first broken id: {entries[-1].id}" in broken.output
