"""The processing after ingest alone: CPU per encrypted submission of `Processor.process_batch`.

Records N encrypted submissions (the bench form, each a new case of province 01, one small
photo) through the ingest service in this process, without HTTP and without processing them,
then times `process_batch` over them in batches of the background thread's size
(server/services/background.py MAX_BATCH): decrypt, parse, write, project the cases, render
the OData feed bodies. Prints the CPU this process used per submission (time.process_time, all
its threads), next to the RSA floor (two private-key operations per submission, measured in
the same run), and on PostgreSQL the CPU of the database's own backends too.

    .venv/bin/python bench/processing.py [--database sqlite|postgresql] [--count 5000]
        [--jobs background|sweep] [--batch 200] [--profile out.prof]

`--jobs background` (the default) gives each job what ingest returned, as the request hands it
to the background thread (the manifest parsed, the small parts in memory); `--jobs sweep` gives
ids only, as a sweep or `fieldcase decrypt-pending` does (everything read back from the store
and the blob store). `--batch N` times batches of N instead: the background thread's batches
are whatever queued meanwhile (1 at low load), and much of the cost of a batch is fixed, so
small batches cost far more per submission. `--profile FILE` writes a cProfile of the timed
part (which slows it: the figures printed then are not comparable). Run it on a quiet machine,
under `flock -x /work/bench.lock`; never part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.decrypt import rsa_rate  # noqa: E402
from bench.deployment import database_url, deployment  # noqa: E402
from crypto.encrypt import encrypt_submission  # noqa: E402
from crypto.keys import load_public_key  # noqa: E402
from server.app_context import Services  # noqa: E402
from server.services import collectors as collector_service  # noqa: E402
from server.services.background import MAX_BATCH  # noqa: E402
from server.services.forms import publish_xform  # noqa: E402
from server.services.ingest import IncomingPart, IngestResult  # noqa: E402
from server.services.processing import Job  # noqa: E402
from server.store import keys as key_store  # noqa: E402
from server.store.models import Case, FeedBody, Submission  # noqa: E402
from tests.factories import plain_instance, simple_xform  # noqa: E402

POSTGRES = os.environ.get(
    "FIELDCASE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_ingest"
)
FORM_ID = "vt01_intake"


@dataclass(frozen=True)
class Sealed:
    """One encrypted submission as a phone sends it: the manifest and its files."""

    manifest: bytes
    files: list[tuple[str, bytes]]


@dataclass(frozen=True)
class _Sender:
    id: int


def _seal(job: tuple[str, int, int]) -> list[Sealed]:
    public_key, start, count = job
    key = load_public_key(public_key)
    photo = os.urandom(8_000)
    sealed = []
    for n in range(start, start + count):
        instance_id = f"uuid:{uuid.uuid4()}"
        xml = plain_instance(form_id=FORM_ID, instance_id=instance_id, case_code=f"01-2025-{n:06d}")
        one = encrypt_submission(key, FORM_ID, "1", instance_id, xml, [("photo.jpg", photo)])
        sealed.append(Sealed(one.manifest, list(one.files)))
    return sealed


def seal_all(public_key: str, count: int) -> list[Sealed]:
    """Every submission encrypted before anything is timed, as phones do offline."""
    workers = os.cpu_count() or 2
    share = -(-count // workers)
    jobs = [(public_key, start, min(share, count - start)) for start in range(0, count, share)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [one for batch in pool.map(_seal, jobs) for one in batch]


def backend_cpu(database: str) -> float | None:
    """Seconds of CPU used so far by the PostgreSQL backends serving `database` (from /proc;
    None where it cannot be read). Only the backends alive at both reads count: the store's
    pooled connections are."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    found = False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if not cmdline.startswith("postgres: ") or f" {database} " not in cmdline:
                continue
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            found = True
    return total if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--jobs", choices=["background", "sweep"], default="background")
    parser.add_argument("--batch", type=int, default=MAX_BATCH)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the timed part here")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="fieldcase-processing-bench-"))
    data_dir.chmod(0o700)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)  # its blobs, after the run
        url = database_url(stack, args.database, data_dir, POSTGRES, "bench_processing")
        run(args, data_dir, url)


def record_all(services: Services, collector: _Sender, sealed: list[Sealed]) -> list[IngestResult]:
    """Every submission recorded as ingest records a POST, without processing it (a few
    threads, so the group commit writes them in shared transactions)."""

    def receive(one: Sealed) -> IngestResult:
        parts = [
            IncomingPart(name, io.BytesIO(content), "application/octet-stream")
            for name, content in one.files
        ]
        return services.ingest.receive(collector, one.manifest, parts)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(receive, sealed))


def run(args: argparse.Namespace, data_dir: Path, url: str) -> None:
    """One run against a fresh data directory and database."""
    print(f"load average at start: {Path('/proc/loadavg').read_text().split()[0]}")
    _config, store, services = deployment(data_dir, url)
    with store.session() as session:
        active = key_store.active(session)
        public_key, key_id = active.public_key_b64, active.id
        publish_xform(
            session, services.blobs, simple_xform(form_id=FORM_ID, public_key=public_key), {}, "b"
        )
        collector = _Sender(
            collector_service.create(session, "http://x", "bench", "01", "b").collector.id
        )

    began = time.monotonic()
    sealed = seal_all(public_key, args.count)
    print(f"encrypted {len(sealed)} submissions in {time.monotonic() - began:.1f} s (not timed)")
    began = time.monotonic()
    results = record_all(services, collector, sealed)
    del sealed
    assert all(result.status == 201 for result in results), "a submission was not recorded"
    print(f"recorded them in {time.monotonic() - began:.1f} s, unprocessed (not timed)")
    if args.jobs == "background":
        jobs = [Job(r.submission_id, r.stored, r.received) for r in results]
    else:
        jobs = [Job(r.submission_id) for r in results]
    del results
    # The server key is unlocked once per process (a key derivation): not per submission.
    assert services.keyring.decryptor(key_id) is not None
    rsa = rsa_rate(3.0)
    database = url.rsplit("/", 1)[-1].split("?", 1)[0]
    backends_before = backend_cpu(database) if args.database == "postgresql" else None

    profiler = cProfile.Profile() if args.profile else None
    wall_began = time.perf_counter()
    cpu_began = time.process_time()
    if profiler is not None:
        profiler.enable()
    for start in range(0, len(jobs), args.batch):
        services.processor.process_batch(jobs[start : start + args.batch])
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - cpu_began
    wall = time.perf_counter() - wall_began
    backends = (
        backend_cpu(database) if args.database == "postgresql" else None
    )  # read before any check below uses the database

    with store.reader() as session:
        decrypted = session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(Submission.decrypt_state == "decrypted", Submission.case_code.is_not(None))
        )
        cases = session.scalar(select(func.count()).select_from(Case))
        bodies = session.scalar(select(func.count()).select_from(FeedBody))
    count = len(jobs)
    print(
        f"database: {args.database}; jobs: {args.jobs}; batches of {args.batch}; "
        f"decrypted {decrypted}/{count}, cases {cases}, feed bodies {bodies}"
    )
    if decrypted != count or cases != count or bodies != count:
        print("warning: not every submission was decrypted, projected and rendered")
    floor = 2 / rsa * 1000
    print(f"RSA-2048 private-key operations/s: {rsa:.0f} (2 a submission: {floor:.2f} ms)")
    print(
        f"process_batch: {cpu:.2f} s of CPU, {wall:.2f} s wall for {count} submissions: "
        f"{cpu / count * 1000:.3f} ms of CPU per submission ({cpu / count * 1000 - floor:.3f} "
        "ms besides RSA)"
    )
    if backends_before is not None and backends is not None:
        spent = backends - backends_before
        print(
            f"the PostgreSQL backends used {spent:.2f} s of CPU: "
            f"{spent / count * 1000:.3f} ms per submission (not counted above)"
        )
    if profiler is not None:
        profiler.dump_stats(args.profile)
        print(f"profile written to {args.profile} (the figures above include its overhead)")
    store.dispose()


if __name__ == "__main__":
    main()
