"""The server and its machine: a world-readable store (item 6), slow clients (7), huge ids
and tokens in logs and pages (14)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import requests

from bench.attacking.clients import raw_request
from bench.attacking.deployment import ROOT, Deployment, exposed_paths
from bench.attacking.report import Report
from bench.attacking.world import IMPOSTOR, SECOND_VICTIM, VICTIM, World
from bench.slow_clients import _trickle
from tests.serving import free_port


def store_private_after_init(report: Report, deployment: Deployment) -> None:
    """Item 6: `init` in a 0755 directory under umask 022 leaves nothing open to others."""
    with report.scenario("6.1", "init under umask 022 in a 0755 directory") as s:
        exposed = deployment.exposed_after_init
        files = sorted(p.name for p in deployment.data_dir.iterdir())
        s.check(
            not exposed,
            f"open to group/others: {exposed[:4]}"
            if exposed
            else f"{len(files)} entries, all private ({', '.join(files[:6])}...)",
        )


def _serve_once(deployment: Deployment) -> subprocess.CompletedProcess[str] | str:
    """`fieldcase serve` on another port: its result, or 'served' if it started anyway."""
    port = free_port()
    env = {**deployment.env, "FIELDCASE_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return "served"
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def serve_refuses_open_store(report: Report, deployment: Deployment) -> None:
    """Item 6: serve refuses a data directory or a file in it open to others."""
    with report.scenario("6.2", "serve on a store readable by others") as s:
        for path, mode, private in (
            (deployment.data_dir / "secret_key", 0o644, 0o600),
            (deployment.data_dir, 0o755, 0o700),
        ):
            path.chmod(mode)
            try:
                result = _serve_once(deployment)
            finally:
                path.chmod(private)
            if isinstance(result, str):
                s.check(False, f"{path.name} at {oct(mode)}: serve started anyway")
                continue
            # The English half of the bilingual message, without the temporary directory.
            said = result.stderr.strip().split(" / ", 1)[-1].replace(str(deployment.root), "…")
            s.check(
                result.returncode != 0 and str(path) in result.stderr and "chmod" in result.stderr,
                f"{path.name} {oct(mode)}: exit {result.returncode} '{said[:150]}'",
            )


def store_private_while_serving(report: Report, deployment: Deployment) -> None:
    """Item 6: what serve's workers write (the SQLite -wal and -shm, blobs) is private."""
    with report.scenario("6.3", "while serving: -wal, -shm, blobs") as s:
        exposed = exposed_paths(deployment.data_dir)
        journal = sorted(p.name for p in deployment.data_dir.glob("*.sqlite3-*"))
        count = sum(1 for _ in deployment.data_dir.rglob("*"))
        if deployment.database_url.startswith("sqlite"):
            s.check(any(n.endswith("-wal") for n in journal), f"the store's journal: {journal}")
        s.check(
            not exposed,
            f"{count} paths, open to others: {exposed[:4]}"
            if exposed
            else f"{count} paths, all private",
        )


def store_private_after_run(report: Report, deployment: Deployment) -> None:
    """Item 6: what serve, its workers and a backup wrote is private too."""
    with report.scenario("6.4", "after serving, and a backup") as s:
        backup = deployment.root / "backup.tar.gz"
        made = deployment.cli("backup", "--out", str(backup), umask=0o022)
        s.check(made.returncode == 0, f"backup exit {made.returncode}")
        exposed = exposed_paths(deployment.data_dir)
        count = sum(1 for _ in deployment.data_dir.rglob("*"))
        s.check(
            not exposed,
            f"{count} paths, open to others: {exposed[:4]}"
            if exposed
            else f"{count} paths all private",
        )
        mode = backup.stat().st_mode & 0o777 if backup.exists() else None
        s.check(mode == 0o600, f"backup archive mode {oct(mode) if mode else None}")


def _docs_threads_default() -> str | None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    match = re.search(r"\| `FIELDCASE_THREADS` \| `(\d+)` \|", text)
    return match.group(1) if match else None


def slow_clients(
    world: World, report: Report, deployment: Deployment, seconds: float = 12.0
) -> None:
    """Item 7: 40 connections sending a byte every 5 s must not take the server down."""
    with report.scenario("7.1", "40 slow clients, a byte every 5 s") as s:
        cut_before = deployment.log_text().count("slow client cut off")
        stop = threading.Event()
        port = deployment.port
        slow = [
            threading.Thread(target=_trickle, args=(port, mode, 5.0, stop), daemon=True)
            for mode in ["headers"] * 20 + ["body"] * 20
        ]
        for thread in slow:
            thread.start()
        time.sleep(2.0)  # let them take what they can
        times, failed = [], 0
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                started = time.monotonic()
                try:
                    requests.get(f"{world.url}/healthz", timeout=5).raise_for_status()
                    times.append(time.monotonic() - started)
                except requests.RequestException:
                    failed += 1
                time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
            login = requests.get(f"{world.url}/login", timeout=5).status_code
        finally:
            stop.set()
            for thread in slow:
                thread.join(10)
        cut = deployment.log_text().count("slow client cut off") - cut_before
        s.check(
            failed == 0 and times and max(times) < 2.0 and login == 200,
            f"/healthz {len(times)} answered, {failed} failed, worst "
            f"{max(times) if times else float('nan'):.2f} s; /login {login}",
        )
        s.note(f"the server cut {cut} slow requests off")
    with report.scenario("7.2", "documented FIELDCASE_THREADS is the real one") as s:
        banner = re.search(r"\((\d+) workers x (\d+) threads\)", deployment.log_text())
        documented = _docs_threads_default()
        s.check(
            banner is not None and banner.group(2) == documented,
            f"serve says {banner.group(0) if banner else None}; docs/configuration.md "
            f"default {documented}",
        )


HUGE = "99999999999999999999999"


def huge_ids(world: World, report: Report) -> None:
    """Item 14: ids beyond the database's integers are 404/400, never 500."""
    with report.scenario("14.1", "huge ids in URLs and cursors") as s:
        gets = {
            f"/cases/{HUGE}": {404},
            "/cases/2147483648": {404},
            "/cases/0": {404},
            f"/submissions/{HUGE}": {404},
            f"/submissions/{HUGE}/files/x.jpg": {404},
            f"/admin/users/{HUGE}": {404},
            f"/admin/collectors/{HUGE}": {404},
            f"/forms/vt01_intake/submissions?before={HUGE}": {400},
            f"/forms/vt01_intake/submissions?collector={HUGE}": {400},
            f"/admin/audit?before={HUGE}": {400},
            f"/admin/unit-queue?before={HUGE}": {400},
            f"/admin/audit?target=case:{HUGE}": {200, 400, 404},
        }
        answers = {path: world.admin.get(path).status_code for path in gets}
        posts = {
            "/cases after": (
                world.admin.post("/cases", {"q": "", "sort": "newest", "after": HUGE}, "/cases"),
                {400},
            ),
            "/cases due after": (
                world.admin.post(
                    "/cases", {"sort": "due", "after": f"2025-01-01:{HUGE}"}, "/cases"
                ),
                {400},
            ),
            "review": (
                world.admin.post(f"/submissions/{HUGE}/review", {"review_state": "approved"}),
                {404},
            ),
            "reveal": (world.admin.post(f"/cases/{HUGE}/reveal", {"reason": "x" * 12}), {404}),
        }
        wrong = [f"{p}: {a}" for p, a in answers.items() if a not in gets[p]]
        wrong += [
            f"POST {p}: {a.status_code}" for p, (a, ok) in posts.items() if a.status_code not in ok
        ]
        every = sorted({*answers.values(), *(a.status_code for a, _ in posts.values())})
        s.check(
            not wrong,
            "; ".join(wrong)
            if wrong
            else f"{len(gets)} GETs and {len(posts)} POSTs answered {every}",
        )


MALFORMED = [
    "GET /c/{token}/form\x01List HTTP/1.1",
    "G@T /c/{token}/formList HTTP/1.1",
    "GET /c/{token}/formList HTTP/1.1 x",
    "GET /c%2F{token}/formList HTTP/1.1\r\nBad Header",
    "GET /c/{token}/" + "A" * 9000 + " HTTP/1.1",  # a request line too long
]


def tokens_in_logs(
    world: World, report: Report, deployment: Deployment, item: str, debug: bool
) -> None:
    """Item 14: a collector token never reaches a log line or a page."""
    token = deployment.phone_urls["phone-01"].rsplit("/c/", 1)[1]
    level = "DEBUG" if debug else "INFO"
    with report.scenario(item, f"token in malformed lines and 404s ({level})") as s:
        log_before = len(deployment.log_text())
        pages = []
        for line in MALFORMED:
            request = line.format(token=token) + "\r\nHost: x\r\nConnection: close\r\n\r\n"
            answer = raw_request(deployment.port, request.encode("latin-1"))
            pages.append((answer[:12].decode("latin-1", "replace"), answer.decode("latin-1")))
        for path in (f"/c/{token}/no/such/page", f"/c/{token}%2Fx/formList"):
            answer = requests.get(world.url + path, timeout=10)
            pages.append((f"HTTP {answer.status_code}", answer.text))
        answer = requests.delete(f"{world.url}/c/{token}/formList", timeout=10)
        pages.append((f"HTTP {answer.status_code}", answer.text))
        phone = requests.get(f"{world.url}/c/{token}/formList", timeout=10).status_code
        time.sleep(0.5)  # let gunicorn flush its log lines
        log = deployment.log_text()[log_before:]
        echoed = [first for first, page in pages if token in page]
        s.check(
            not echoed,
            f"{len(pages)} answers {sorted({p[0].strip() for p in pages})}, "
            f"token echoed in {len(echoed)}",
        )
        s.check(token not in log, f"token in the new log lines: {log.count(token)}")
        s.note(
            f"log says '/c/[token]' {log.count('/c/[token]')} times; the phone's formList {phone}"
        )
        if debug:
            s.check("/c/[token]/formList" in log, "DEBUG lines name paths with the token redacted")


def secrets_in_logs(report: Report, deployment: Deployment) -> None:
    """Item 14 (and the project's first rule): no credential and no identity in any log."""
    with report.scenario("14.4", "no credential or identity in the server log") as s:
        log = deployment.log_text()
        secrets = [v for v in deployment.secrets() if v and v in log]
        identities = [
            v for v in (*VICTIM.values, *SECOND_VICTIM.values, *IMPOSTOR.values) if v in log
        ]
        s.check(
            not secrets,
            f"{len(deployment.secrets())} credentials, {len(secrets)} in the "
            f"{len(log.splitlines())}-line log",
        )
        s.check(not identities, f"identifying values in the log: {identities[:3]}")
