"""End-to-end ingest over HTTP: encrypted submissions stored, decrypted and projected per second.

Starts `fieldcase serve` (gunicorn, production settings) on a fresh data directory, then 50
concurrent clients send encrypted submissions with one small media file, as ODK Collect does
(a HEAD, then multipart POSTs: the HEAD's Location lets the rest of a phone's upload go without
asking again; `--head-each` sends a HEAD before every POST, as Collect does when each upload
holds one submission or the server gives no Location). Prints submissions/s next to the
machine's RSA-2048 private-key rate measured in the same run; the target is at least 25% of
(RSA rate / 2).

    .venv/bin/python bench/ingest.py [--database sqlite|postgresql] [--seconds 20]
        [--profile out.txt]

Also prints the CPU the server's processes themselves used per submission (from /proc, so it
holds on a machine shared with other work), and with --profile, py-spy's samples of the server
during the sending phase sorted into stages (bench/stages.py).

With --apart the two halves are measured one after the other instead of together: the server
runs without its key passphrase, so it only receives (its background thread marks each
submission pending, "the server key is locked", a small write per batch that is counted in
the receiving figure), and then this process decrypts and projects the same submissions in
the background thread's batches, read back from the store, timing its own CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.decrypt import rsa_rate  # noqa: E402
from bench.deployment import PASSPHRASE, database_url, deployment  # noqa: E402
from bench.stages import breakdown, table  # noqa: E402
from crypto.encrypt import encrypt_submission  # noqa: E402
from crypto.keys import load_public_key  # noqa: E402
from server.app_context import Services  # noqa: E402
from server.config import Config  # noqa: E402
from server.services import collectors as collector_service  # noqa: E402
from server.services.forms import publish_xform  # noqa: E402
from server.store import keys as key_store  # noqa: E402
from server.store.db import Store  # noqa: E402
from server.store.models import Submission  # noqa: E402
from tests.factories import plain_instance, simple_xform  # noqa: E402
from tests.serving import ServerProcess  # noqa: E402

POSTGRES = os.environ.get(
    "FIELDCASE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def machine_cpu() -> tuple[float, float, float] | None:
    """Seconds of CPU the whole machine has spent so far: (user, system, idle), from
    /proc/stat (Linux); None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    return (user + nice) / tick, (system + irq + softirq) / tick, (idle + iowait) / tick


def process_tree_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) used so far by process `pid` and every process under it
    (the gunicorn master, its workers, the dirty arbiter and the processing process under
    it), from /proc; 0.0 where /proc is missing."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        one = pending.pop()
        with contextlib.suppress(OSError, ValueError):
            for task in Path(f"/proc/{one}/task").iterdir():
                children = (task / "children").read_text().split()
                pending += [int(child) for child in children]
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{one}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def postgres_cpu() -> float | None:
    """Seconds of CPU used so far by every PostgreSQL process on this machine (backends, WAL
    writer, checkpointer...), from /proc; None when none is found. Counts those alive at
    both reads: the server's pooled connections and the database's own processes are."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            name, _, rest = (entry / "stat").read_text().partition(") ")
            if not name.endswith("(postgres"):
                continue
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
            found = True
    return total if found else None


def start_profiler(
    pid: int, seconds: float, out: Path, gil_only: bool = False
) -> subprocess.Popen[bytes]:
    """py-spy sampling the server and its workers, in the raw (collapsed) format; with
    `gil_only`, only the thread holding the GIL (Python's own CPU: a thread waiting for the
    GIL after a syscall, which the default sampling counts as busy, is left out, and so is
    C code that releases the GIL)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [
            py_spy,
            "record",
            *(["--gil"] if gil_only else []),
            "--pid",
            str(pid),
            "--subprocesses",
            "--format",
            "raw",
            "--rate",
            "50",
            "--duration",
            str(max(1, int(seconds))),
            "--nonblocking",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class PreparedPost:
    """One encrypted submission as the multipart body a phone sends."""

    instance_id: str
    body: bytes
    content_type: str


def multipart_body(manifest: bytes, files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """The multipart/form-data body ODK Collect sends: the XML first, then each file."""
    boundary = uuid.uuid4().hex
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="xml_submission_file"; '
        'filename="submission.xml"\r\nContent-Type: text/xml\r\n\r\n'.encode(),
        manifest,
        b"\r\n",
    ]
    for name, content in files:
        chunks += [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode(),
            content,
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _seal_batch(job: tuple[str, int, int]) -> list[PreparedPost]:
    public_key, client, count = job
    key = load_public_key(public_key)
    photo = os.urandom(8_000)
    posts = []
    for n in range(count):
        instance_id = f"uuid:{uuid.uuid4()}"
        xml = plain_instance(
            form_id="vt01_intake",
            instance_id=instance_id,
            case_code=f"01-2025-{client:03d}{n:05d}",
        )
        sealed = encrypt_submission(
            key, "vt01_intake", "1", instance_id, xml, [("photo.jpg", photo)]
        )
        body, content_type = multipart_body(sealed.manifest, list(sealed.files))
        posts.append(PreparedPost(instance_id, body, content_type))
    return posts


def prepare_posts(public_key: str, clients: int, per_client: int) -> list[list[PreparedPost]]:
    """Every client's submissions, encrypted before the clock starts, as phones do offline."""
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        prepared = list(
            pool.map(_seal_batch, [(public_key, n, per_client) for n in range(clients)])
        )
    print(
        f"prepared {clients * per_client} encrypted submissions in "
        f"{time.monotonic() - started:.1f} s (not timed)"
    )
    return prepared


class LeanCollect:
    """A Collect-like HTTP client light enough not to steal the server's CPU: one kept-alive
    connection, POSTs of prepared bodies, each after a HEAD unless an earlier HEAD of the
    upload answered with a Location on the same host (Collect then posts the rest there
    without asking again: InstanceServerUploader's `uriRemap`)."""

    def __init__(self, server_url: str) -> None:
        parsed = urlsplit(server_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.path = parsed.path.rstrip("/") + "/submission"
        self.connection: http.client.HTTPConnection | None = None
        self.remapped = False
        self.heads = 0
        self._location: str | None = None

    def _request(self, method: str, body: bytes | None, headers: dict[str, str]) -> int:
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.connection.request(method, self.path, body=body, headers=headers)
            response = self.connection.getresponse()
            response.read()
            self._location = response.getheader("Location")
            if response.getheader("Connection", "").lower() == "close":
                self.connection.close()
                self.connection = None
            return response.status
        except (OSError, http.client.HTTPException):
            if self.connection is not None:
                self.connection.close()
            self.connection = None
            return 0

    def head(self) -> int:
        """HEAD /submission, as Collect does before sending (remapped by a Location on this
        host)."""
        self.heads += 1
        status = self._request("HEAD", None, {"X-OpenRosa-Version": "1.0"})
        location = urlsplit(self._location or "")
        if status == 204 and location.hostname == self.host and location.path:
            self.remapped = True
            self.port, self.path = location.port or 80, location.path
        return status

    def post(self, post: PreparedPost) -> int:
        """POST one submission; the status, or 0 when the connection failed."""
        headers = {
            "X-OpenRosa-Version": "1.0",
            "Content-Type": post.content_type,
            "Date": formatdate(usegmt=True),
        }
        return self._request("POST", post.body, headers)


def wait_processed(store: Store, acknowledged: set[str], began: float, timeout: float) -> float:
    """Seconds from `began` until every acknowledged submission is decrypted (or timeout)."""
    wanted = len(acknowledged)
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        with store.session() as session:
            done = (
                session.scalar(
                    select(func.count())
                    .select_from(Submission)
                    .where(Submission.decrypt_state == "decrypted")
                )
                or 0
            )
        if done >= wanted:
            break
        time.sleep(0.05)
    return time.monotonic() - began


def wait_marked(store: Store, wanted: int, timeout: float) -> None:
    """Wait until the server's background thread has looked at every submission received (with
    its key locked it marks each one pending, "the server key is locked")."""
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        with store.session() as session:
            left = session.scalar(
                select(func.count())
                .select_from(Submission)
                .where(Submission.decrypt_reason == "received")
            )
        if not left and wanted:
            return
        time.sleep(0.05)


def print_apart(
    args: argparse.Namespace,
    store: Store,
    config: Config,
    acknowledged: list[str],
    errors: list[int],
    latencies: list[float],
    sending: float,
    receiving: float,
) -> None:
    """--apart: what receiving cost the server, then what processing the same submissions
    costs on its own (this process, one thread, batches as the background thread takes them)."""
    from server.services.background import MAX_BATCH
    from server.services.processing import Job

    count = len(acknowledged)
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)] if latencies else 0.0
    print(
        f"receiving alone: {count} acknowledged in {sending:.1f} s = {count / sending:.1f}/s, "
        f"{len(errors)} errors, p95 {p95 * 1000:.0f} ms; the server's processes used "
        f"{receiving:.1f} s of CPU: {receiving / max(count, 1) * 1000:.2f} ms per submission "
        "(stored durably and recorded; each also marked pending, the key being locked)"
    )
    services = Services(config, store)
    with store.read() as connection:
        ids = list(
            connection.scalars(
                select(Submission.id)
                .where(Submission.decrypt_state == "pending")
                .order_by(Submission.id)
            )
        )
    cpu_before, began = time.process_time(), time.perf_counter()
    outcomes = []
    for start in range(0, len(ids), MAX_BATCH):
        batch = ids[start : start + MAX_BATCH]
        outcomes += services.processor.process_batch([Job(one) for one in batch])
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - began
    done = sum(1 for outcome in outcomes if outcome.state == "decrypted")
    rsa = rsa_rate(2.0)
    print(
        f"processing alone: {done} of {len(ids)} decrypted and projected in {wall:.1f} s "
        f"({done / max(wall, 1e-9):.0f}/s, one thread, read back from the store): "
        f"{cpu / max(done, 1) * 1000:.2f} ms of CPU per submission, of which RSA (two "
        f"private-key operations at {rsa:.0f}/s) {2000 / rsa:.2f} ms"
    )
    total = (receiving / max(count, 1) + cpu / max(done, 1)) * 1000
    print(f"together: {total:.2f} ms per submission")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--burst",
        type=int,
        default=0,
        help="each client pauses after this many submissions (0: never)",
    )
    parser.add_argument("--pause", type=float, default=1.0, help="pause between bursts, s")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the server while sending, write the raw profile here and print the stages",
    )
    parser.add_argument(
        "--gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL (py-spy --gil)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="FIELDCASE_THREADS for the server (default: the production default, unset)",
    )
    parser.add_argument(
        "--per-client-rate",
        type=float,
        default=25.0,
        help="submissions prepared per client and second of the run (an upper bound)",
    )
    parser.add_argument(
        "--head-each",
        action="store_true",
        help="a HEAD before every POST (each phone's upload holds one submission)",
    )
    parser.add_argument(
        "--apart",
        action="store_true",
        help="measure receiving (server without its key passphrase) and processing apart",
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="fieldcase-bench-"))
    with contextlib.ExitStack() as stack:
        # A run stores a few hundred MB of blobs: removed after it, whatever happens. ext4 then
        # makes new files slow to create for about a minute (its inode allocator steps over
        # the inodes deleted in the last 60 s: system time doubled), so a series of runs
        # waits that long between them (docs/performance.md).
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        url = database_url(stack, args.database, data_dir, POSTGRES, "bench")
        run(args, data_dir, url)


def run(args: argparse.Namespace, data_dir: Path, url: str) -> None:
    """One benchmark run against a fresh data directory and database."""
    config, store, services = deployment(data_dir, url)
    with store.session() as session:
        public_key = key_store.active(session).public_key_b64
        publish_xform(
            session,
            services.blobs,
            simple_xform(form_id="vt01_intake", public_key=public_key),
            {},
            "bench",
        )
        token = collector_service.create(session, "http://x", "bench", "01", "bench").token

    prepared = prepare_posts(
        public_key, args.clients, max(1, int(args.seconds * args.per_client_rate))
    )
    env = {
        "FIELDCASE_DATA_DIR": str(data_dir),
        "FIELDCASE_DATABASE_URL": url,
        # --apart: the server cannot unlock its key, so it only receives (each submission is
        # then marked "key locked" by its background thread) and processing is timed after.
        **({} if args.apart else {"FIELDCASE_KEY_PASSPHRASE": PASSPHRASE}),
        "FIELDCASE_SECRET_KEY": "bench",
        "FIELDCASE_WORKERS": str(args.workers),
    }
    if args.threads is not None:
        env["FIELDCASE_THREADS"] = str(args.threads)
    threads = args.threads or Config.from_env({}).threads
    server = ServerProcess(env, log_path=data_dir / "server.log")
    server.start()
    print(
        f"database: {args.database}; clients: {args.clients}; server: {args.workers} workers "
        f"x {threads} threads{'' if args.threads else ' (the default)'}"
    )
    rsa = rsa_rate(3.0)

    latencies: list[float] = []
    errors: list[int] = []
    acknowledged: list[str] = []
    exhausted: list[int] = []
    phones: list[LeanCollect] = []
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def client_loop(n: int) -> None:
        phone = LeanCollect(f"{server.url}/c/{token}")
        phones.append(phone)
        for sent, post in enumerate(prepared[n]):
            if time.monotonic() >= deadline:
                return
            if args.burst and sent and sent % args.burst == 0:
                time.sleep(args.pause)  # phones come back into coverage in waves
            start = time.perf_counter()
            if args.head_each or not phone.remapped:
                phone.head()
            status = phone.post(post)
            elapsed = time.perf_counter() - start
            with lock:
                if status in (201, 202):
                    acknowledged.append(post.instance_id)
                    latencies.append(elapsed)
                else:
                    errors.append(status)
        with lock:
            exhausted.append(n)

    assert server.process is not None
    server_pid = server.process.pid
    server_before = process_tree_cpu(server_pid)
    profiler = (
        start_profiler(server_pid, args.seconds, args.profile, args.gil) if args.profile else None
    )
    cpu_before = time.process_time()
    machine_before = machine_cpu()
    database_before = postgres_cpu() if args.database == "postgresql" else None
    began = time.monotonic()
    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sending = time.monotonic() - began
    client_cpu = time.process_time() - cpu_before
    if args.apart:
        wait_marked(store, len(acknowledged), timeout=120.0)
        receiving = process_tree_cpu(server_pid) - server_before
        database = postgres_cpu() if database_before is not None else None
        server.stop()
        print_apart(args, store, config, acknowledged, errors, latencies, sending, receiving)
        if database_before is not None and database is not None:
            spent = database - database_before
            print(
                f"PostgreSQL's processes used {spent:.1f} s of CPU while receiving: "
                f"{spent / max(len(acknowledged), 1) * 1000:.2f} ms per submission"
            )
        store.dispose()
        return
    wall = wait_processed(store, set(acknowledged), began, timeout=120.0)
    machine_after = machine_cpu()
    server_cpu = process_tree_cpu(server_pid) - server_before
    database_cpu = postgres_cpu() if database_before is not None else None
    if profiler is not None:
        profiler.wait(timeout=args.seconds + 30)
    server.stop()
    if exhausted:
        print(f"warning: {len(exhausted)} clients ran out of prepared submissions")

    with store.session() as session:
        decrypted = (
            session.scalar(
                select(func.count())
                .select_from(Submission)
                .where(Submission.decrypt_state == "decrypted", Submission.case_code.is_not(None))
            )
            or 0
        )
        states = dict(
            session.execute(select(Submission.instance_id, Submission.decrypt_state)).all()
        )
    lost = [i for i in acknowledged if i not in states]
    undecrypted = [i for i in acknowledged if states.get(i) != "decrypted"]
    rate = decrypted / wall
    ceiling = rsa / 2
    latencies.sort()

    def percentile(share: float) -> float:
        return latencies[max(0, int(len(latencies) * share) - 1)] if latencies else 0.0

    print(f"RSA-2048 private-key operations/s: {rsa:.0f} (ceiling {ceiling:.0f} submissions/s)")
    print(
        f"requests: {len(acknowledged) + len(errors)} POST and "
        f"{sum(phone.heads for phone in phones)} HEAD; acknowledged: {len(acknowledged)}; "
        f"errors: {len(errors)}; lost: {len(lost)}; acknowledged but not decrypted: "
        f"{len(undecrypted)}"
    )
    if errors:
        from collections import Counter

        print("error statuses (0 = connection failed):", dict(Counter(errors)))
    print(f"stored, decrypted and projected: {decrypted} in {wall:.1f} s = {rate:.1f}/s")
    print(
        f"sending took {sending:.1f} s; the clients used {client_cpu:.1f} s of CPU "
        f"({client_cpu / max(sending, 1e-9) / (os.cpu_count() or 1):.0%} of the machine)"
    )
    print(
        f"latency p50 {percentile(0.5) * 1000:.0f} ms, p95 {percentile(0.95) * 1000:.0f} ms, "
        f"p99 {percentile(0.99) * 1000:.0f} ms"
    )
    if machine_before and machine_after and decrypted:
        user, system, idle = (
            after - before for before, after in zip(machine_before, machine_after, strict=True)
        )
        busy = user + system
        print(
            f"the machine was {busy / (busy + idle):.0%} busy (user {user:.1f} s, system "
            f"{system:.1f} s): {busy / decrypted * 1000:.2f} ms of CPU per submission, "
            "clients included"
        )
    server_ms = server_cpu / decrypted * 1000 if decrypted else 0.0
    if decrypted:
        print(
            f"the server's processes used {server_cpu:.1f} s of CPU: {server_ms:.2f} ms per "
            "submission (received, decrypted and projected)"
        )
        if database_before is not None and database_cpu is not None:
            spent = database_cpu - database_before
            print(
                f"PostgreSQL's processes used {spent:.1f} s of CPU: "
                f"{spent / decrypted * 1000:.2f} ms per submission"
            )
    print(f"ratio to RSA rate / 2: {rate / ceiling:.0%} (target >= 25%)")
    if args.profile is not None and args.profile.exists():
        with args.profile.open() as profile:
            print(table(breakdown(profile), server_ms or None))
    store.dispose()


if __name__ == "__main__":
    main()
