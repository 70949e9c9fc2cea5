"""The group commit's lookup of what it just inserted finds rows through an index.

Recording a batch reads back the ids of its (form, instanceID) pairs (`ids_by_instance`).
Asked by instanceID alone it could use no index (the unique one leads with the form), so every
group commit read the whole submissions table: ingest grew slower with every submission a
server had ever stored. Checked on a table of a few thousand rows with its statistics, as a
server that has run for a while has them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, text

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
                }
                for instance in instances
            ],
        )
        connection.execute(text("ANALYZE"))
    return form, instances


def test_ids_by_instance_searches_the_unique_index(store: Store) -> None:
    form, instances = _fill(store)
    wanted = [(form, instances[7]), (form, instances[1234]), (form, "uuid:not-stored")]
    with store.read() as connection:
        found = submission_store.ids_by_instance(connection, wanted)
        assert set(found) == {(form, instances[7]), (form, instances[1234])}
        params = {"b_forms": [form], "b_instances": sorted(i for _form, i in wanted)}
        sql = str(
            submission_store._IDS_BY_INSTANCE.params(params).compile(
                connection, compile_kwargs={"literal_binds": True}
            )
        )
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(str(row[-1]) for row in rows)
            assert "SEARCH submissions USING COVERING INDEX" in plan, plan
            assert "instance_id=?" in plan, plan
        else:
            plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))
            assert "Seq Scan" not in plan, plan
            assert "uq_submissions_form_instance" in plan, plan
