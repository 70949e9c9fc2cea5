"""A phone's case list: manifest + `cases.csv` for a collector with 500 assigned cases among
100,000, and what a decrypted submission adds for the lists.

Builds a fresh store (SQLite by default, or the PostgreSQL URL given) with `--cases` cases of
one commune, each with intake and follow-up-contact consent and a follow-up visit, assigns
`--assigned` of them to one collector (and as many to a second one), then asks, as the phone
does at each form update, for the manifest of a form carrying `cases.csv` and for the file,
through the app (in process, no HTTP server): p50 / p95 of the pair. Targets: p95 < 50 ms.

The lists are made per request, so decrypting a submission does no list work at all; the
second figure is what building one collector's list costs (the work a design that rebuilt the
lists after each decrypt would add per submission and affected collector): target < 20 ms.

    .venv/bin/python bench/caselist.py [--database-url URL] [--cases 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from forms.case_code import make  # noqa: E402
from forms.compiler import MEDIA_DIR  # noqa: E402
from server.app import create_app  # noqa: E402
from server.app_context import SERVICES_KEY  # noqa: E402
from server.auditseal import seal_for  # noqa: E402
from server.clock import utcnow  # noqa: E402
from server.config import Config, sqlite_url  # noqa: E402
from server.services import case_assignments  # noqa: E402
from server.services import collectors as collector_service  # noqa: E402
from server.services.forms import publish_xform  # noqa: E402
from server.services.setup import initialise  # noqa: E402
from server.store import consent as consent_store  # noqa: E402
from server.store.db import Store  # noqa: E402
from server.store.models import (  # noqa: E402
    Case,
    CaseAssignment,
    CaseEvent,
    Form,
    FormVersion,
    Submission,
    table_of,
)

XFORM = """<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">
 <h:head><h:title>bench</h:title><model>
  <instance><data id="vt05_followup" version="1"><case_pick/><meta><instanceID/></meta></data>
  </instance></model></h:head>
 <h:body><input ref="/data/case_pick"/></h:body></h:html>"""


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _seed(store: Store, cases: int, assigned: tuple[int, int]) -> None:
    """`cases` cases in commune 00004, consent given, one visit each (a submission per case
    is not needed by the list: the visit is a timeline entry)."""
    today = date.today()
    with store.transaction() as connection:
        form_id = connection.execute(
            table_of(Form).insert().values(xml_form_id="vt_seed", title="seed", encrypted=True)
        ).inserted_primary_key[0]
        version_id = connection.execute(
            table_of(FormVersion)
            .insert()
            .values(form_id=form_id, version="1", xml="<x/>", md5="0" * 32)
        ).inserted_primary_key[0]
        submission_id = connection.execute(
            table_of(Submission)
            .insert()
            .values(
                form_id=form_id,
                form_version_id=version_id,
                instance_id="uuid:seed",
                manifest_sha256="0" * 64,
                encrypted=True,
                decrypt_state="decrypted",
            )
        ).inserted_primary_key[0]
        batch = 5000
        for start in range(0, cases, batch):
            rows = []
            consents = []
            for n in range(start, min(cases, start + batch)):
                code = make("01", 2025, f"{n:05d}"[-5:]) if n < 100_000 else f"X-{n}"
                rows.append(
                    {
                        "case_code": code,
                        "province_code": "01",
                        "commune_code": "00004",
                        "status": "follow_up",
                        "reception_date": today - timedelta(days=400),
                        "next_followup_due": today + timedelta(days=n % 90),
                        "search_text": code,
                        "updated_at": utcnow(),
                    }
                )
                for purpose in ("intake", "followup_contact"):
                    consents.append(
                        {
                            "case_code": code,
                            "person_index": 0,
                            "purpose": purpose,
                            "decision": "yes",
                            "given_by": "self",
                            "age_years": 30,
                            "decided_on": today - timedelta(days=400),
                            "source": "form",
                            "recorded_at": utcnow(),
                        }
                    )
            connection.execute(table_of(Case).insert(), rows)
            consent_store.add_events(connection, consents)  # the standings projected too
        ids = {
            row.case_code: row.id
            for row in connection.execute(
                table_of(Case).select().with_only_columns(Case.id, Case.case_code)
            )
        }
        events = [
            {
                "case_id": case_id,
                "submission_id": submission_id,
                "kind": "followup",
                "event_date": today - timedelta(days=30),
            }
            for case_id in ids.values()
        ]
        for start in range(0, len(events), 10_000):
            connection.execute(table_of(CaseEvent).insert(), events[start : start + 10_000])
        codes = sorted(ids)
        first, second = assigned
        per = len(codes) // 3
        pairs = [(code, 1) for code in codes[:first]] + [
            (code, 2) for code in codes[per : per + second]
        ]
        connection.execute(
            table_of(CaseAssignment).insert(),
            [
                {"case_code": c, "collector_id": k, "assigned_at": utcnow(), "assigned_by": "b"}
                for c, k in pairs
            ],
        )


def main() -> None:
    """Seed, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--assigned", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fieldcase-bench-caselist-") as folder:
        data_dir = Path(folder) / "data"
        data_dir.mkdir(mode=0o700)
        config = Config(
            data_dir=data_dir,
            database_url=args.database_url or sqlite_url(data_dir),
            secret_key="bench-secret",
            key_passphrase="bench passphrase for the case list",
            admin_password="bench-head-office-password-long",
        )
        store = Store(config.database_url)
        store.attach_audit(seal_for(config))
        store.migrate()
        initialise(config, store)
        app = create_app(config, store)
        services = app.extensions[SERVICES_KEY]
        with store.session() as session:
            publish_xform(
                session,
                services.blobs,
                XFORM,
                {"cases.csv": (MEDIA_DIR / "cases.csv").read_bytes()},
                "bench",
            )
            phone = collector_service.create(session, "http://x", "phone-1", "00004", "b")
            collector_service.create(session, "http://x", "phone-2", "00004", "b")
        started = time.perf_counter()
        _seed(store, args.cases, (args.assigned, args.assigned))
        with store.transaction() as connection:  # statistics, as a running database has them
            connection.execute(text("ANALYZE"))
        print(f"seeded {args.cases} cases in {time.perf_counter() - started:.1f} s")
        client = app.test_client()
        headers = {"X-OpenRosa-Version": "1.0"}
        prefix = f"/c/{phone.token}/forms/vt05_followup"
        cases = table_of(Case)

        def pair() -> tuple[float, bytes]:
            begin = time.perf_counter()
            manifest = client.get(f"{prefix}/manifest", headers=headers)
            listed = client.get(f"{prefix}/attachments/cases.csv", headers=headers)
            elapsed = (time.perf_counter() - begin) * 1000
            assert manifest.status_code == 200, manifest.status_code
            assert listed.status_code == 200, listed.status_code
            return elapsed, listed.data

        unchanged: list[float] = []
        changed: list[float] = []
        content = b""
        for n in range(args.requests):
            elapsed, content = pair()
            unchanged.append(elapsed)
            # a case of the list projected again (a visit decrypted): the next check rebuilds
            with store.transaction() as connection:
                connection.execute(
                    cases.update()
                    .where(cases.c.id == 1 + (n % args.assigned))
                    .values(updated_at=utcnow())
                )
            elapsed, content = pair()
            changed.append(elapsed)
        rows = content.decode("utf-8").count("\n") - 1
        for name, values in (("nothing changed", unchanged), ("after a change", changed)):
            print(
                f"manifest + cases.csv ({rows} rows, {len(content)} bytes), {name}, "
                f"{len(values)} pairs: p50 {statistics.median(values):.1f} ms, "
                f"p95 {_percentile(values, 0.95):.1f} ms (target p95 < 50 ms)"
            )
        builds: list[float] = []
        prints: list[float] = []
        for _ in range(args.requests):
            begin = time.perf_counter()
            with store.read() as connection:
                made = case_assignments.cases_csv(
                    case_assignments.case_list_rows(
                        connection, phone.collector.id, "00004", config.caselist_closed_grace_days
                    )
                )
            builds.append((time.perf_counter() - begin) * 1000)
            begin = time.perf_counter()
            with store.read() as connection:
                case_assignments.assignment_store.fingerprint(connection, phone.collector.id)
            prints.append((time.perf_counter() - begin) * 1000)
        assert made == content
        print(
            "decrypt: no list work added per submission (a list is made again at the next "
            "request after its fingerprint changed); "
            f"one 500-case list made: p50 {statistics.median(builds):.1f} ms, "
            f"p95 {_percentile(builds, 0.95):.1f} ms (target < 20 ms); "
            f"fingerprint check: p50 {statistics.median(prints):.1f} ms, "
            f"p95 {_percentile(prints, 0.95):.1f} ms"
        )
        store.dispose()


if __name__ == "__main__":
    main()
