"""Export of 100,000 submissions of a 500-field form to a CSV zip: seconds and peak memory.

Target: under 60 s and under 500 MB. Seeds a SQLite (or PostgreSQL) store with bulk inserts,
then runs the same export the CLI runs.

    .venv/bin/python bench/export.py [--rows 100000] [--fields 500] [--database sqlite]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from exports.submissions import export_form_to_file  # noqa: E402
from server.auditseal import AuditSeal  # noqa: E402
from server.blobs import FileBlobStore  # noqa: E402
from server.config import sqlite_url  # noqa: E402
from server.services.forms import publish_xform  # noqa: E402
from server.store import forms as form_store  # noqa: E402
from server.store.db import Store  # noqa: E402
from server.store.models import Submission  # noqa: E402
from server.store.scope import UnitScope  # noqa: E402
from tests.conftest import POSTGRES_URL, postgres_schema  # noqa: E402


def wide_xform(fields: int) -> str:
    """A form with `fields` text questions in groups of 50, plus meta."""
    groups = []
    binds = []
    for g in range(fields // 50):
        names = "".join(f"<f{g}_{i}/>" for i in range(50))
        groups.append(f"<g{g}>{names}</g{g}>")
        binds += [f'<bind nodeset="/data/g{g}/f{g}_{i}" type="string"/>' for i in range(50)]
    return (
        '<?xml version="1.0"?><h:html xmlns="http://www.w3.org/2002/xforms" '
        'xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">'
        "<h:head><h:title>wide</h:title><model><instance>"
        f'<data id="wide" version="1">{"".join(groups)}<meta><instanceID/></meta></data>'
        f"</instance>{''.join(binds)}</model></h:head><h:body/></h:html>"
    )


def seed(store: Store, data_dir: Path, rows: int, fields: int) -> None:
    with store.session() as session:
        publish_xform(session, FileBlobStore(data_dir / "blobs"), wide_xform(fields), {}, "bench")
        form = form_store.by_xml_form_id(session, "wide")
        version = form_store.current_version(session, form.id)
        form_pk, version_pk = form.id, version.id
    data = {
        f"g{g}": {f"f{g}_{i}": f"giá trị {g}-{i}" for i in range(50)} for g in range(fields // 50)
    }
    batch = []
    with store.engine.begin() as connection:
        for n in range(rows):
            batch.append(
                {
                    "form_id": form_pk,
                    "form_version_id": version_pk,
                    "instance_id": f"uuid:{n}",
                    "manifest_sha256": "0" * 64,
                    "encrypted": True,
                    "decrypt_state": "decrypted",
                    "review_state": "received",
                    "data": {**data, "meta": {"instanceID": f"uuid:{n}"}},
                }
            )
            if len(batch) == 2000:
                connection.execute(insert(Submission), batch)
                batch = []
        if batch:
            connection.execute(insert(Submission), batch)
    if store.engine.dialect.name == "postgresql":
        # A deployment's rows arrive over months and autovacuum keeps the planner's statistics
        # current; 100,000 rows seeded in seconds would otherwise be planned as an empty table.
        with store.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE submissions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--fields", type=int, default=500)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="fieldcase-export-bench-"))
    with contextlib.ExitStack() as stack:
        url = (
            sqlite_url(data_dir)
            if args.database == "sqlite"
            else stack.enter_context(postgres_schema("bench", POSTGRES_URL))
        )
        store = Store(url)
        store.attach_audit(AuditSeal(b"bench audit key", data_dir))
        store.migrate()
        started = time.monotonic()
        seed(store, data_dir, args.rows, args.fields)
        print(
            f"seeded {args.rows} submissions x {args.fields} fields in "
            f"{time.monotonic() - started:.0f} s ({args.database})"
        )
        out = data_dir / "wide.zip"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        summary = export_form_to_file(store, "wide", out, scope=UnitScope.all_units())
        seconds = time.monotonic() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"exported {summary.submissions} submissions in {seconds:.1f} s; zip "
            f"{os.path.getsize(out) / 1e6:.0f} MB; peak RSS {peak / 1024:.0f} MB "
            f"(before export {before / 1024:.0f} MB); target < 60 s, < 500 MB"
        )
        store.dispose()


if __name__ == "__main__":
    main()
