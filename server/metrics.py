"""Prometheus metrics (`/metrics`, off unless FIELDCASE_METRICS is true).

`fieldcase serve` runs several worker processes, so counters and histograms are kept in
prometheus-client's multiprocess mode: each process writes its values into files of a private
folder of the data directory (`metrics/`, emptied when `serve` starts), and a scrape adds up
every process's files. prometheus-client picks that mode from PROMETHEUS_MULTIPROC_DIR when it
is first imported, so it is imported here lazily, after `serve` set the variable
(`prepare_multiprocess`); in a process without it (a test, a command) the values stay in
memory.

Labels are route groups, statuses, channels and kinds: never a collector, a user or a form's
value. What is a count of rows now (submissions pending or failed) and the disk's free space
are read at scrape time and passed in by the caller.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_EXPORT_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def prepare_multiprocess(folder: Path) -> None:
    """Before the workers start: an empty private `folder` for every process's values, named
    in the environment the workers inherit."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(mode=0o700, parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)


_CREATING = threading.Lock()
_MADE: dict[str, Any] = {}


def _metrics() -> dict[str, Any]:
    """The metric objects, made once per process on first use (under a lock: two threads
    making them at once would register each name twice)."""
    if _MADE:
        return _MADE
    with _CREATING:
        if not _MADE:
            _MADE.update(_make())
    return _MADE


def _make() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    return {
        "submissions": Counter(
            "fieldcase_submissions_received",
            "Submission POSTs answered, by HTTP status (201 new, 202 known, else refused).",
            ["status"],
        ),
        "requests": Histogram(
            "fieldcase_http_request_duration_seconds",
            "Time to answer a request, by route group.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
        ),
        "processing": Histogram(
            "fieldcase_processing_duration_seconds",
            "Time to decrypt, parse and project one batch of submissions.",
            buckets=_LATENCY_BUCKETS,
        ),
        "processed": Counter(
            "fieldcase_submissions_processed",
            "Submissions processed, by the state they ended in.",
            ["state"],
        ),
        "login_failures": Counter(
            "fieldcase_login_failures",
            "Failed sign-ins (wrong password, unknown user, refused during back-off), by channel.",
            ["channel"],
        ),
        "exports": Histogram(
            "fieldcase_export_duration_seconds",
            "Time to build a web download, by kind.",
            ["kind"],
            buckets=_EXPORT_BUCKETS,
        ),
    }


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request (an observer of server/access_log.py)."""
    metrics = _metrics()
    metrics["requests"].labels(route=route, method=method).observe(seconds)
    if route == "openrosa.submission" and method == "POST":
        metrics["submissions"].labels(status=str(status)).inc()


def observe_processing(seconds: float, states: list[str]) -> None:
    """One processed batch and the state each of its submissions ended in."""
    metrics = _metrics()
    metrics["processing"].observe(seconds)
    for state in states:
        metrics["processed"].labels(state=state).inc()


def count_login_failure(channel: str) -> None:
    """One failed sign-in on `channel` (web, openrosa)."""
    _metrics()["login_failures"].labels(channel=channel).inc()


def observe_export(kind: str, seconds: float) -> None:
    """One web download built."""
    _metrics()["exports"].labels(kind=kind).observe(seconds)


def render(decrypt_states: dict[str, int], disk_free_bytes: int) -> bytes:
    """The text exposition: every process's counters and histograms, and the gauges read now
    (submissions by decryption state, free bytes of the data directory's disk)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    _metrics()  # every family appears from the first scrape on, at 0
    registry = CollectorRegistry()
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry.register(REGISTRY)  # this process's own values

    class _Now:
        def collect(self) -> list[GaugeMetricFamily]:
            states = GaugeMetricFamily(
                "fieldcase_submissions_by_decrypt_state",
                "Stored submissions by decryption state (pending waits for the key or a part; "
                "failed needs a look).",
                labels=["state"],
            )
            for state in ("pending", "failed", "decrypted"):
                states.add_metric([state], decrypt_states.get(state, 0))
            disk = GaugeMetricFamily(
                "fieldcase_data_dir_free_bytes", "Free bytes of the data directory's disk."
            )
            disk.add_metric([], disk_free_bytes)
            return [states, disk]

    registry.register(_Now())
    return bytes(generate_latest(registry))


def process_exited(pid: int) -> None:
    """A worker left: its live gauges stop counting (counters and histograms stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
