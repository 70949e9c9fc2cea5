"""Supervisor pages at 100,000 cases and 100,000 submissions: p50/p95 per page.

    .venv/bin/python bench/web.py [--rows 100000] [--runs 60] [--backend sqlite|postgresql|both]

Seeds a fresh store with bulk inserts (not through ingest: this measures the pages, not the
intake), then times whole requests through the app (session check, query, template) for an
admin (every unit) and a supervisor of one province. Target: p95 under 200 ms.
PostgreSQL: FIELDCASE_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test),
in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select, text

from server.app import create_app
from server.auditseal import seal_for
from server.config import Config, sqlite_url
from server.security.passwords import hash_password
from server.services.forms import publish_xform
from server.services.textsearch import fold
from server.store import users as user_store
from server.store.db import Store
from server.store.models import Case, Collector, Form, FormVersion, Submission
from tests.conftest import postgres_schema

POSTGRES_URL = os.environ.get(
    "FIELDCASE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Lò"]
MIDDLE = ["Thị", "Văn", "Đức", "Minh", "Ngọc", "Thu", "Hữu", "Thanh"]
GIVEN = ["Lan", "Hoa", "Mai", "Bình", "An", "Hùng", "Dũng", "Hương", "Linh", "Tuấn", "Nga", "Sơn"]
STATUSES = ["awaiting_verification", "confirmed", "follow_up", "closed", "not_victim"]
REVIEW = ["received", "received", "received", "approved", "has_issues", "rejected", "edited"]
PROVINCES = [f"{n:02d}" for n in range(1, 35)]
XFORM = """<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"
 xmlns:jr="http://openrosa.org/javarosa"><h:head><h:title>Tiếp nhận</h:title><model>
 <instance><data id="vt01_intake" version="1"><case_code/><meta><instanceID/></meta></data>
 </instance></model></h:head><h:body><input ref="/data/case_code"><label>Mã</label></input>
 </h:body></h:html>"""
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@contextmanager
def database(backend: str, work: Path) -> Iterator[str]:
    """An empty database URL for one run."""
    if backend == "sqlite":
        yield sqlite_url(work)
        return
    with postgres_schema("bench", POSTGRES_URL) as url:
        yield url


def seed(store: Store, blobs_dir: Path, rows: int) -> tuple[str, int]:
    """Bulk-insert `rows` cases and `rows` submissions; returns (form id, a middle case id)."""
    from server.blobs import FileBlobStore

    rng = random.Random(20251124)
    with store.session() as session:
        publish_xform(session, FileBlobStore(blobs_dir), XFORM, {}, "bench")
        form = session.scalar(select(Form))
        version = session.scalar(select(FormVersion))
        assert form is not None
        assert version is not None
        form_id, version_id = form.id, version.id
        collector_ids = []
        for n in range(20):
            collector = Collector(name=f"phone-{n}", token_sha256=f"{n:064d}", unit_code="01")
            session.add(collector)
            session.flush()
            collector_ids.append(collector.id)
        for name, role, units in (("admin", "admin", []), ("sup", "supervisor", ["01"])):
            user = user_store.add(session, name, hash_password("bench-password-1"), role)
            user_store.set_units(session, user.id, units)
    start = date(2024, 1, 1)
    chunk = 10_000
    for offset in range(0, rows, chunk):
        cases, submissions = [], []
        for n in range(offset, min(rows, offset + chunk)):
            province = rng.choice(PROVINCES)
            code = f"{province}-2025-{n:06x}"
            name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            received = start + timedelta(days=rng.randrange(700))
            cases.append(
                {
                    "case_code": code,
                    "province_code": province,
                    "commune_code": f"{int(province) * 1000 + rng.randrange(50):05d}",
                    "status": rng.choice(STATUSES),
                    "reception_date": received,
                    "next_followup_due": received + timedelta(days=rng.randrange(30, 200)),
                    "search_text": fold(f"{code} {name}"),
                }
            )
            submissions.append(
                {
                    "form_id": form_id,
                    "form_version_id": version_id,
                    "instance_id": f"uuid:{uuid.UUID(int=n)}",
                    "collector_id": rng.choice(collector_ids),
                    "manifest_sha256": f"{n:064x}",
                    "encrypted": True,
                    "decrypt_state": "decrypted",
                    "signature": "valid",
                    "review_state": rng.choice(REVIEW),
                    "case_code": code,
                    "province_code": province,
                    "commune_code": cases[-1]["commune_code"],
                    "event_date": received,
                    "data": {"case_code": code},
                }
            )
        with store.session() as session:
            session.execute(insert(Case), cases)
            session.execute(insert(Submission), submissions)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    else:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    with store.session() as session:
        middle = session.scalar(select(Case.id).order_by(Case.id).offset(rows // 2).limit(1))
    return "vt01_intake", int(middle or 1)


class Browser:
    """A signed-in test client that sends forms with their CSRF token."""

    def __init__(self, app, username: str) -> None:
        self.client = app.test_client()
        token = _CSRF.search(self.client.get("/login").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        response = self.client.post(
            "/login",
            data={"username": username, "password": "bench-password-1", "csrf_token": token},
        )
        assert response.status_code == 302, response.status_code
        page = self.client.get("/account/password").get_data(as_text=True)
        self.token = _CSRF.search(page).group(1)  # type: ignore[union-attr]

    def get(self, url: str) -> None:
        """GET, which must answer 200."""
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    def post(self, url: str, data: dict[str, str]) -> None:
        """POST a form, which must answer 200."""
        response = self.client.post(url, data={"csrf_token": self.token, **data})
        assert response.status_code == 200, (url, response.status_code)


def timed(action: Callable[[], None], runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds (after two warm-up runs)."""
    for _ in range(2):
        action()
    samples = []
    for _ in range(runs):
        begin = time.perf_counter()
        action()
        samples.append((time.perf_counter() - begin) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def run(backend: str, rows: int, runs: int) -> list[tuple[str, float, float]]:
    """Seed one backend and time the pages."""
    with tempfile.TemporaryDirectory(prefix="fieldcase-bench-") as tmp:
        work = Path(tmp)
        with database(backend, work) as url:
            # No search limit: the bench searches as one user far more than a person would.
            config = Config(
                data_dir=work,
                database_url=url,
                secret_key="bench",
                testing=False,
                searches_per_hour=1_000_000,
            )
            store = Store(url)
            store.attach_audit(seal_for(config))
            store.migrate()
            began = time.perf_counter()
            form_id, middle = seed(store, config.blob_dir, rows)
            print(
                f"[{backend}] seeded {rows} cases + {rows} submissions in "
                f"{time.perf_counter() - began:.1f} s",
                flush=True,
            )
            app = create_app(config, store)
            admin, sup = Browser(app, "admin"), Browser(app, "sup")
            table = f"/forms/{form_id}/submissions"
            pages: list[tuple[str, Callable[[], None]]] = [
                ("case list (admin, first page)", lambda: admin.get("/cases")),
                (
                    "case list (admin, page at row 50,000)",
                    lambda: admin.post("/cases", {"after": str(middle)}),
                ),
                ("case list (supervisor of one province)", lambda: sup.get("/cases")),
                (
                    "case list (due soonest, supervisor)",
                    lambda: sup.post("/cases", {"sort": "due"}),
                ),
                (
                    "case search 'nguyen thi lan' (admin)",
                    lambda: admin.post("/cases", {"q": "nguyen thi lan"}),
                ),
                (
                    "case search 'nguyen thi lan' (supervisor)",
                    lambda: sup.post("/cases", {"q": "nguyen thi lan"}),
                ),
                (
                    "case search, rare word (admin)",
                    lambda: admin.post("/cases", {"q": "lo huu son"}),
                ),
                ("submission table (admin, first page)", lambda: admin.get(table)),
                (
                    "submission table (admin, older page)",
                    lambda: admin.get(f"{table}?before={middle}"),
                ),
                (
                    "submission table (admin, state+period filter)",
                    lambda: admin.get(f"{table}?state=has_issues&from=2024-06-01&to=2024-12-31"),
                ),
                ("submission table (supervisor of one province)", lambda: sup.get(table)),
                (
                    "submission table (supervisor, state filter)",
                    lambda: sup.get(f"{table}?state=approved"),
                ),
            ]
            results = [(name, *timed(action, runs)) for name, action in pages]
            store.dispose()
    return results


def main() -> None:
    """Parse arguments, run the benchmark, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    worst = 0.0
    for backend in backends:
        results = run(backend, args.rows, args.runs)
        print(f"\n{backend}: {args.rows} cases, {args.rows} submissions, {args.runs} runs each")
        print(f"{'page':<52} {'p50 ms':>8} {'p95 ms':>8}")
        for name, p50, p95 in results:
            worst = max(worst, p95)
            print(f"{name:<52} {p50:8.1f} {p95:8.1f}")
    print(f"\nworst p95: {worst:.1f} ms (target < 200 ms): {'OK' if worst < 200 else 'MISSED'}")


if __name__ == "__main__":
    main()
