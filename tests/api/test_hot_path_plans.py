"""The statements ingest and processing run for every batch find their rows through an index.

A statement that reads the whole submissions table makes ingest slower with every submission a
server has ever stored, which no short benchmark on a fresh database shows.

- Recording a batch reads back the ids of its (form, instanceID) pairs (`ids_by_instance`).
  Asked by instanceID alone it could use no index (the unique one leads with the form).
- The projection reads the rows of a batch's cases (`rows_of_cases`). SQLite, which has no
  statistics unless asked, took the index on decrypt_state for a narrow one and read every
  decrypted submission (migration 0017 replaced it by an index of the undecrypted). The same
  trap lies under any index on a column most rows share (unit_check = 'accepted'): the
  processing process refreshes SQLite's statistics (`Store.refresh_statistics`), from which it
  plans them right.

Checked on a table of a few thousand rows, with PostgreSQL's statistics, as a server that has
run for a while has them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from server.config import Config
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.models import Form, FormVersion, Submission

ROWS = 3000


def _fill(store: Store) -> tuple[int, list[str]]:
    now = datetime.now(UTC)
    with store.transaction() as connection:
        form = connection.execute(
            insert(Form).values(xml_form_id="plan_test", title="t", encrypted=False, created_at=now)
        ).inserted_primary_key[0]
        version = connection.execute(
            insert(FormVersion).values(
                form_id=form, version="1", xml="<x/>", md5="0", source_sha256="0", published_at=now
            )
        ).inserted_primary_key[0]
        instances = [f"uuid:plan-{n:05d}" for n in range(ROWS)]
        connection.execute(
            insert(Submission),
            [
                {
                    "form_id": form,
                    "form_version_id": version,
                    "instance_id": instance,
                    "received_at": now,
                    "updated_at": now,
                    "manifest_sha256": "0" * 64,
                    "encrypted": False,
                    "decrypt_state": "decrypted",
                    "review_state": "received",
                    "case_code": f"01-2025-{n:06d}",
                }
                for n, instance in enumerate(instances)
            ],
        )
        if connection.dialect.name == "postgresql":  # as autovacuum would have by then
            connection.execute(text("ANALYZE"))
    return form, instances


def _plan(connection: Any, statement: Any, params: dict[str, Any]) -> str:
    """The database's plan of `statement` with `params` written in, as one line."""
    sql = str(statement.params(params).compile(connection, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
        return " ".join(str(row[-1]) for row in rows)
    return " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))


def test_ids_by_instance_searches_the_unique_index(store: Store) -> None:
    form, instances = _fill(store)
    wanted = [(form, instances[7]), (form, instances[1234]), (form, "uuid:not-stored")]
    with store.read() as connection:
        found = submission_store.ids_by_instance(connection, wanted)
        assert set(found) == {(form, instances[7]), (form, instances[1234])}
        params = {"b_forms": [form], "b_instances": sorted(i for _form, i in wanted)}
        plan = _plan(connection, submission_store._IDS_BY_INSTANCE, params)
    if store.engine.dialect.name == "sqlite":
        assert "SEARCH submissions USING COVERING INDEX" in plan, plan
        assert "instance_id=?" in plan, plan
    else:
        assert "Seq Scan" not in plan, plan
        assert "uq_submissions_form_instance" in plan, plan


def test_rows_of_cases_search_by_case_code_on_sqlite(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans it from its statistics (ix_submissions_case_code)")
    _fill(store)
    codes = [f"01-2025-{n:06d}" for n in range(ROWS - 200, ROWS)]
    with store.read() as connection:
        assert len(submission_store.rows_of_cases(connection, codes)) == 200
        plan = _plan(connection, submission_store._OF_CASES, {"b_codes": codes})
    assert "ix_submissions_case_code (case_code=?)" in plan, plan


def test_sqlite_plans_from_statistics_the_processing_process_refreshes(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case page's statement (`for_case`: a case code and unit_check = 'accepted', which
    nearly every row has) reads the case's rows by case code once SQLite has statistics;
    without, it took the unit_check index for a narrow one and read every accepted row. A
    connection reads the statistics when it opens: pooled ones are replaced, so another
    process's connections plan from them too (within SQLITE_RECYCLE_SECONDS)."""
    from server.store import db

    monkeypatch.setattr(db, "SQLITE_RECYCLE_SECONDS", 1)
    store, other_process = Store(config.database_url), Store(config.database_url)
    try:
        store.migrate()
        if store.engine.dialect.name != "sqlite":
            assert store.refresh_statistics() is False  # PostgreSQL: autovacuum's
            return
        _fill(store)
        with store.transaction() as connection:
            connection.execute(text("UPDATE submissions SET unit_check = 'accepted'"))
        case_page = select(Submission.id).where(
            Submission.case_code == "01-2025-000042",
            Submission.decrypt_state == "decrypted",
            Submission.superseded_by_id.is_(None),
            Submission.review_state != "rejected",
            Submission.unit_check == submission_store.ACCEPTED,
        )
        with other_process.read() as connection:  # opened before: pooled, no statistics
            assert "ix_submissions_unit_check" in _plan(connection, case_page, {})
        assert store.refresh_statistics() is True
        with store.read() as connection:
            plan = _plan(connection, case_page, {})
        assert "ix_submissions_case_code (case_code=?)" in plan, plan
        time.sleep(1.2)
        with other_process.read() as connection:  # replaced: it read them on opening
            plan = _plan(connection, case_page, {})
        assert "ix_submissions_case_code (case_code=?)" in plan, plan
    finally:
        store.dispose()
        other_process.dispose()


def test_counts_by_state_read_only_the_undecrypted_index(store: Store) -> None:
    """The metrics count submissions by decryption state at every scrape: from the index of
    the few undecrypted ones and the total, not by reading every row."""
    _fill(store)
    with store.transaction() as connection:
        connection.execute(
            text("UPDATE submissions SET decrypt_state = 'pending' WHERE id IN (1, 2, 3)")
        )
        connection.execute(text("UPDATE submissions SET decrypt_state = 'failed' WHERE id = 4"))
        if connection.dialect.name == "postgresql":
            connection.execute(text("ANALYZE submissions"))
    undecrypted = (
        select(Submission.decrypt_state, func.count())
        .where(submission_store._UNDECRYPTED)
        .group_by(Submission.decrypt_state)
    )
    with store.read() as connection:
        counts = submission_store.counts_by_decrypt_state(connection)
        plan = _plan(connection, undecrypted, {})
    assert counts == {"pending": 3, "failed": 1, "decrypted": ROWS - 4}
    assert "ix_submissions_undecrypted" in plan, plan
