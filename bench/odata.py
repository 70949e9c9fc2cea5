"""The OData feed of the /v1 API paged through: 100,000 submissions of the 500-field bench form
read by a client from a real `fieldcase serve`, $top pages linked by $skiptoken (keyset).

Target: at least 5,000 rows/s, and a server whose memory stays flat from the first page to
the last (rows are streamed; no page is ever held whole). Seeds the store as bench/export.py
does, the rows in province 01, read by a supervisor of 01 with a bearer token.

    .venv/bin/python bench/odata.py [--rows 100000] [--fields 500] [--top 2000] [--passes 2]

Each pass reads the whole feed as an analyst's client does (every page read and decoded with
orjson) and reports the rows/s end to end and without the client's decoding. The seeded rows
are bulk-inserted, as bench/export.py does, so they have no stored feed body. With
`--bodies read` (the default) the first pass renders and stores them (what the first read of
a row costs when it has no body: FIELDCASE_FEED_BODIES=false, or rows the processor has not
reached), the next reads the stored bodies (every read after that). With `--bodies
processor` the bodies are rendered first as the processor now does after each batch it
decrypts (server/services/feed_bodies.py, batches of background.MAX_BATCH), timed apart; the
first read then reads stored bodies, as an analyst's first read of processed rows does.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import tempfile
import time
from pathlib import Path

import orjson
import requests

ROOT = Path(__file__).resolve().parents[1]
import sys  # noqa: E402

sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench.export import seed  # noqa: E402
from server.config import Config, sqlite_url  # noqa: E402
from server.security.passwords import hash_password  # noqa: E402
from server.services.setup import initialise  # noqa: E402
from server.store import users as user_store  # noqa: E402
from server.store.db import Store  # noqa: E402
from tests.conftest import POSTGRES_URL, env_for, postgres_schema  # noqa: E402
from tests.serving import ServerProcess  # noqa: E402

PASSWORD = "bench-reader-password-1"


def _memory_mb(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"{field}:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def _worker(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def read_all(
    http: requests.Session, url: str | None, worker: int, rss: list[float]
) -> tuple[int, int, float, float]:
    """Page through the feed as an analyst's client does: each page read whole and decoded.
    Returns the rows, the pages, the seconds and the seconds of them spent decoding."""
    rows = pages = 0
    parsing = 0.0
    began = time.monotonic()
    while url:
        response = http.get(url, timeout=600)
        response.raise_for_status()
        parse_began = time.monotonic()
        page = orjson.loads(response.content)
        parsing += time.monotonic() - parse_began
        rows += len(page["value"])
        pages += 1
        url = page.get("@odata.nextLink")
        rss.append(_memory_mb(worker, "VmRSS"))
    return rows, pages, time.monotonic() - began, parsing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--fields", type=int, default=500)
    parser.add_argument("--top", type=int, default=2000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--passes",
        type=int,
        default=2,
        help="reads of the whole feed: the first renders and stores each row's body, the "
        "next send the stored bodies",
    )
    parser.add_argument(
        "--bodies",
        choices=["read", "processor"],
        default="read",
        help="who renders the rows' bodies: the first read, or the processor before it",
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="fieldcase-odata-bench-"))
    data_dir.chmod(0o700)
    with contextlib.ExitStack() as stack:
        url = (
            sqlite_url(data_dir)
            if args.database == "sqlite"
            else stack.enter_context(postgres_schema("bench_odata", POSTGRES_URL))
        )
        run(args, data_dir, url)


def render_as_processor(store: Store, rows: int) -> None:
    """The bodies rendered as the processor renders them after each batch it decrypted."""
    from server.services.background import MAX_BATCH
    from server.services.feed_bodies import FeedBodies
    from server.store.models import FeedBody, Submission

    with store.reader() as session:
        ids = list(session.scalars(select(Submission.id).order_by(Submission.id)))
    bodies = FeedBodies(store)
    began = time.monotonic()
    for start in range(0, len(ids), MAX_BATCH):
        bodies.render_new({"wide": ids[start : start + MAX_BATCH]})
    seconds = time.monotonic() - began
    with store.reader() as session:
        stored = session.scalar(select(func.count()).select_from(FeedBody))
    assert stored == rows, stored
    print(
        f"bodies rendered as the processor does, batches of {MAX_BATCH}: {rows} in "
        f"{seconds:.1f} s, {rows / seconds:,.0f} rows/s ({seconds / rows * 1e6:.0f} us a row)"
    )


def run(args: argparse.Namespace, data_dir: Path, url: str) -> None:
    """Seed, serve and read the feed."""
    print(f"load average at start: {Path('/proc/loadavg').read_text().split()[0]}")
    config = Config(
        data_dir=data_dir,
        database_url=url,
        secret_key="bench",
        key_passphrase="bench passphrase for the odata bench",
        admin_password="head-office-bench-password-1",
    )
    store = Store(config.database_url)
    initialise(config, store)
    started = time.monotonic()
    seed(store, data_dir, args.rows, args.fields)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE submissions SET province_code = '01'"))
    if store.engine.dialect.name == "postgresql":
        # The planner's statistics after that UPDATE (seed() analysed the table before it,
        # with no province set): else it plans `province_code = '01'` as one row and scans
        # the units index for every page (190 ms a batch of 500), as autovacuum would not let
        # a deployment do.
        with store.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE submissions")
    if args.bodies == "processor":
        render_as_processor(store, args.rows)
    with store.session() as session:
        user = user_store.add(session, "analyst", hash_password(PASSWORD), "supervisor")
        user_store.set_units(session, user.id, ["01"])
    store.dispose()
    print(
        f"seeded {args.rows} submissions x {args.fields} fields "
        f"in {time.monotonic() - started:.0f} s ({args.database})"
    )

    server = ServerProcess({**env_for(config), "FIELDCASE_WORKERS": "1"}, log_path=data_dir / "log")
    server.start()
    try:
        assert server.process is not None
        worker = _worker(server.process.pid)
        http = requests.Session()
        token = http.post(
            f"{server.url}/v1/sessions", json={"email": "analyst", "password": PASSWORD}
        ).json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        first = f"{server.url}/v1/projects/1/forms/wide.svc/Submissions?$top={args.top}"
        rss: list[float] = []
        for n in range(args.passes):
            what = "first read" if n == 0 else "read again"
            rows, pages, seconds, parsing = read_all(http, first, worker, rss)
            assert rows == args.rows, rows
            print(
                f"{what}: {rows} rows in {pages} pages of {args.top} in {seconds:.1f} s: "
                f"{rows / seconds:,.0f} rows/s end to end (target >= 5,000), of which "
                f"{parsing:.1f} s the client decoding the JSON; without it "
                f"{rows / (seconds - parsing):,.0f} rows/s (the server and the transfer)"
            )
        quarter = max(1, len(rss) // 4)
        print(
            f"server worker RSS after page 1 {rss[0]:.0f} MB, after 1/4 {rss[quarter - 1]:.0f} "
            f"MB, at 1/2 {rss[len(rss) // 2 - 1]:.0f} MB, at the end {rss[-1]:.0f} MB, "
            f"peak {_memory_mb(worker, 'VmHWM'):.0f} MB"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
