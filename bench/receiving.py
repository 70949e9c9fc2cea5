"""Receiving alone, in this process: CPU per encrypted submission of the submission route.

Builds the app as a worker of `fieldcase serve` does (`create_app` with the processing left to
the processing process) and calls it as WSGI, from `--threads` threads, with N encrypted
submissions POSTed under a collector's URL exactly as bench/ingest.py's clients send them (the
same bodies: manifest, submission.xml.enc and an 8 KB photo). Everything a worker does for a POST
runs: the lean route, the collector token lookup, last_seen, multipart parsing, the blob writes
and their syncfs, the group commit, the access log line and the metrics. What is left out is
the HTTP server (gunicorn's parsing and socket writes) and the clients, whose CPU is what makes
bench/ingest.py's per-submission figures swing by ±20% from one run to the next on a shared
or throttled machine. So this is the bench to compare two versions of the receiving code by:
its figure moves by a few percent between runs, where an end-to-end run cannot tell a 5%
change from noise.

    .venv/bin/python bench/receiving.py [--database sqlite|postgresql] [--count 4000]
        [--threads 8] [--profile out.prof]
    .venv/bin/python bench/receiving.py --prepare DIR [--count 400]
    valgrind --tool=callgrind .venv/bin/python bench/receiving.py --replay DIR --count K

Prints the CPU this process used per submission (user and system, all threads), and on
PostgreSQL the CPU of the database's own backends too. `--threads 1` makes every group commit
a batch of one; the default 8 gives batches like a loaded worker's. `--profile FILE` writes a
cProfile of the timed part (the figures printed then are not comparable). Run it under
`flock -x /work/bench.lock` on a quiet machine; never part of the test suite.

Where even that swings (a machine whose cores are shared: the same run used 0.93 and 1.21 ms of
user CPU a submission minutes apart), count instructions instead, which no neighbour changes:
`--prepare DIR` makes a SQLite deployment in DIR with its bodies, once; `--replay DIR --count
K` sends the first K of them from one thread to a fresh copy of it. Under `valgrind
--tool=callgrind` (with PYTHONHASHSEED=0), the instructions of a replay of K = 0 subtracted
from one of K = N, divided by N, are the instructions a submission costs in this process
(user space only: the kernel's work is not counted), the same from one run to the next.
With REPLAY_PROFILE=FILE in the environment, a replay also writes a cProfile of its timed
part (after the 20 POSTs it sends first to warm up) to FILE.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pickle
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.deployment import PASSPHRASE, database_url, deployment  # noqa: E402
from bench.ingest import PreparedPost, prepare_posts  # noqa: E402
from bench.processing import POSTGRES, backend_cpu  # noqa: E402
from server.app import create_app  # noqa: E402
from server.config import Config, sqlite_url  # noqa: E402
from server.services import collectors as collector_service  # noqa: E402
from server.services.forms import publish_xform  # noqa: E402
from server.store import keys as key_store  # noqa: E402
from server.store.db import Store  # noqa: E402
from tests.factories import simple_xform  # noqa: E402

FORM_ID = "vt01_intake"


def environ_of(post: PreparedPost, token: str) -> dict[str, Any]:
    """The WSGI environ gunicorn gives the app for this POST (as bench/ingest.py sends it)."""
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": f"/c/{token}/submission",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_X_OPENROSA_VERSION": "1.0",
        "HTTP_DATE": "Fri, 04 Dec 2026 12:00:00 GMT",
        "HTTP_USER_AGENT": "org.odk.collect.android/v2025.2.1",
        "CONTENT_TYPE": post.content_type,
        "CONTENT_LENGTH": str(len(post.body)),
        "wsgi.input": io.BytesIO(post.body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def _recorder(seen: list[str]) -> Any:
    """A WSGI start_response that keeps the status."""
    return lambda status, _headers: seen.append(status)


def send_all(app: Any, posts: list[PreparedPost], token: str, threads: int) -> list[str]:
    """POST every submission through `app` from `threads` threads; the statuses."""
    statuses: list[str] = [""] * len(posts)
    cursor = iter(range(len(posts)))
    lock = threading.Lock()

    def sender() -> None:
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            seen: list[str] = []
            body: Iterable[bytes] = app(environ_of(posts[index], token), _recorder(seen))
            b"".join(body)
            statuses[index] = seen[0]

    if threads == 1:  # in this thread (a profiler of this thread sees it)
        sender()
        return statuses
    workers = [threading.Thread(target=sender) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statuses


def main() -> None:
    """Run once against a fresh data directory and database."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the timed part here")
    parser.add_argument("--prepare", type=Path, help="make a SQLite deployment and bodies here")
    parser.add_argument("--replay", type=Path, help="send --count bodies of a --prepare'd DIR")
    args = parser.parse_args()
    if args.prepare or args.replay:
        prepare(args.prepare, args.count) if args.prepare else replay(args.replay, args.count)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="fieldcase-receiving-bench-"))
    data_dir.chmod(0o700)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)  # its blobs, after the run
        url = database_url(stack, args.database, data_dir, POSTGRES, "bench_receiving")
        run(args, data_dir, url)


def _published(data_dir: Path, url: str) -> tuple[Any, Any, str, str]:
    """A fresh deployment with the bench form published and a collector: (config, store,
    public key, collector token)."""
    config, store, services = deployment(data_dir, url)
    with store.session() as session:
        public_key = key_store.active(session).public_key_b64
        publish_xform(
            session, services.blobs, simple_xform(form_id=FORM_ID, public_key=public_key), {}, "b"
        )
        token = collector_service.create(session, "http://x", "bench", "01", "b").token
    return config, store, public_key, token


def prepare(directory: Path, count: int) -> None:
    """--prepare: a deployment in `directory`/data and `count` bodies beside it."""
    directory.mkdir(mode=0o700)
    data_dir = directory / "data"
    data_dir.mkdir(mode=0o700)
    _config, store, public_key, token = _published(data_dir, sqlite_url(data_dir))
    store.dispose()
    posts = [post for batch in prepare_posts(public_key, 4, -(-count // 4)) for post in batch]
    (directory / "posts.pickle").write_bytes(pickle.dumps((token, posts[:count])))
    print(f"prepared {directory}: a deployment and {min(count, len(posts))} bodies")


def replay(directory: Path, count: int) -> None:
    """--replay: the first `count` bodies of a prepared directory, sent from this thread to
    a fresh copy of its deployment (removed after)."""
    token, posts = pickle.loads((directory / "posts.pickle").read_bytes())
    copy = Path(tempfile.mkdtemp(prefix="fieldcase-replay-"))
    try:
        data_dir = copy / "data"
        shutil.copytree(directory / "data", data_dir)
        config = Config(
            data_dir=data_dir,
            database_url=sqlite_url(data_dir),
            key_passphrase=PASSPHRASE,
            secret_key="bench",
        )
        store = Store(config.database_url)
        store.migrate()  # prepared by an older version, perhaps
        app = create_app(config.with_changes(processing_elsewhere=True), store)
        send_all(app, posts[:20], token, 1)  # warm: the first requests compile and import
        profiler = cProfile.Profile() if os.environ.get("REPLAY_PROFILE") else None
        if profiler is not None:
            profiler.enable()
        statuses = send_all(app, posts[20:count], token, 1)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.environ["REPLAY_PROFILE"])
        assert all(status.startswith("201") for status in statuses), "a POST was refused"
        print(f"replayed {len(statuses)} POSTs")
        store.dispose()
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def run(args: argparse.Namespace, data_dir: Path, url: str) -> None:
    """One run: publish the form, make a collector, prepare the bodies, time the POSTs."""
    print(f"load average at start: {Path('/proc/loadavg').read_text().split()[0]}")
    config, store, public_key, token = _published(data_dir, url)
    posts = [post for batch in prepare_posts(public_key, 4, -(-args.count // 4)) for post in batch]
    posts = posts[: args.count]
    app = create_app(config.with_changes(processing_elsewhere=True), store)
    database = url.rsplit("/", 1)[-1].split("?", 1)[0]
    backends_before = backend_cpu(database) if args.database == "postgresql" else None

    profiler = cProfile.Profile() if args.profile else None
    times_began, wall_began = os.times(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    statuses = send_all(app, posts, token, args.threads)
    if profiler is not None:
        profiler.disable()
    times, wall = os.times(), time.perf_counter() - wall_began
    backends = backend_cpu(database) if args.database == "postgresql" else None
    refused = [status for status in statuses if not status.startswith("201")]
    assert not refused, f"{len(refused)} POSTs refused, first: {refused[0]}"
    user = times.user - times_began.user
    system = times.system - times_began.system
    count = len(posts)
    print(
        f"database: {args.database}; threads: {args.threads}; {count} POSTs answered 201 in "
        f"{wall:.1f} s ({count / wall:.0f}/s)"
    )
    print(
        f"receiving: {(user + system) / count * 1000:.3f} ms of CPU per submission "
        f"(user {user / count * 1000:.3f}, system {system / count * 1000:.3f})"
    )
    if backends is not None and backends_before is not None:
        print(f"PostgreSQL's backends: {(backends - backends_before) / count * 1000:.3f} ms")
    if profiler is not None:
        profiler.dump_stats(args.profile)
        print(f"profile written to {args.profile} (the figures above include its overhead)")
    store.dispose()


if __name__ == "__main__":
    main()
