"""The share of the server's CPU per ingest stage, from a py-spy profile of `fieldcase serve`.

`bench/ingest.py --profile out.txt` runs `py-spy record --subprocesses --format raw` against
the server for the sending phase; every sample is a stack of one busy thread (py-spy leaves idle
threads out), and each stack is given to the first stage below that one of its frames matches.
The order matters: SQL run by collector authentication counts to authentication, and the SQL,
blob writes and decryption of the processing thread count to their own stages, not to the
"projection" rest.

    .venv/bin/python bench/stages.py out.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

Frame = str
Rule = tuple[str, Callable[[list[Frame]], bool]]


def _has(pattern: str) -> Callable[[list[Frame]], bool]:
    compiled = re.compile(pattern)
    return lambda frames: any(compiled.search(frame) for frame in frames)


def _all(*tests: Callable[[list[Frame]], bool]) -> Callable[[list[Frame]], bool]:
    return lambda frames: all(test(frames) for test in tests)


# py-spy's idle detection misses threads blocked in these (here, in a container): a leaf frame
# that is a lock, a condition, a queue, flock, fsync/syncfs, a commit (SQLite's fsync, the
# PostgreSQL round trip) or the event loop's poll is counted as waiting, not as CPU.
WAITING = "waiting (locks, fsync, commit, poll): not CPU"
_WAIT_LEAF = re.compile(
    r"GroupCommit\.record \(server/services/recording\.py|WriterQueue\.turn|Condition\.wait"
    r"|TokenLookups\.find \(server/services/collectors\.py"
    r"|_worker \(concurrent/futures/thread\.py|FileBlobStore\._sync|do_commit|Selector\.select"
    r"|Handler\.acquire|Lock\.acquire|_fsync_dir|Event\.wait|Thread\.join"
    r"|Connection\.wait \(psycopg"
)


def _waiting(frames: list[Frame]) -> bool:
    return bool(frames) and bool(_WAIT_LEAF.search(frames[-1]))


_PROCESSING = _has(r"server/services/(background|processing)\.py")
_SQL = _has(r"sqlalchemy/|psycopg|sqlite3|_sqlite")

STAGES: list[Rule] = [
    (
        "collector auth (incl. its SQL, last_seen)",
        _has(r"authenticate_collector|last_seen|LastSeen"),
    ),
    ("decrypt (RSA, AES, signature)", _has(r"(^|[ /(])crypto/|cryptography/")),
    ("processing: SQL", _all(_PROCESSING, _SQL)),
    ("processing: XML parse, projection, rest", _PROCESSING),
    ("multipart parsing", _has(r"read_upload|multipart/")),
    ("blob write + fsync/syncfs", _has(r"server/blobs\.py")),
    ("ingest: SQL", _all(_has(r"server/services/ingest\.py"), _SQL)),
    ("ingest: header parse, rest", _has(r"server/services/ingest\.py")),
    ("SQL (other)", _SQL),
    ("logging, metrics", _has(r"logging/|server/(logs|metrics|access_log)\.py")),
    # Before Flask's row: gunicorn calls the app through Flask.__call__, so every stack of
    # the lean route has a Flask frame at its root.
    ("lean submission route (incl. werkzeug helpers it calls)", _has(r"server/openrosa/fast\.py")),
    ("Flask/werkzeug request work", _has(r"flask/|werkzeug/")),
    ("HTTP server (gunicorn, sockets)", _has(r"gunicorn/|server/wsgi_server\.py")),
]
OTHER = "other (interpreter, threads)"


def parse_raw(lines: Iterable[str]) -> Iterable[tuple[list[Frame], int]]:
    """py-spy's raw (collapsed) format: `frame;frame;... count` per line, root first."""
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        yield stack.split(";"), int(count)


def stage_of(frames: list[Frame]) -> str:
    """The first stage whose rule matches the stack (or WAITING)."""
    if _waiting(frames):
        return WAITING
    for name, matches in STAGES:
        if matches(frames):
            return name
    return OTHER


def breakdown(lines: Iterable[str]) -> Counter[str]:
    """Samples per stage."""
    counts: Counter[str] = Counter()
    for frames, count in parse_raw(lines):
        counts[stage_of(frames)] += count
    return counts


def table(counts: Counter[str], per_submission_ms: float | None = None) -> str:
    """A Markdown table of the stages' shares of the samples that were not waiting (and the
    server's measured CPU per submission divided by those shares, when given)."""
    total = sum(count for name, count in counts.items() if name != WAITING) or 1
    head = "| stage | share of server CPU |" + (" ms/submission |" if per_submission_ms else "")
    rule = "|---|---:|" + ("---:|" if per_submission_ms else "")
    rows = [head, rule]
    for name in [name for name, _ in STAGES] + [OTHER]:
        share = counts.get(name, 0) / total
        row = f"| {name} | {share:.1%} |"
        if per_submission_ms:
            row += f" {share * per_submission_ms:.2f} |"
        rows.append(row)
    rows.append(
        f"| CPU samples (besides {counts.get(WAITING, 0)} waiting) | {total} |"
        + (" |" if per_submission_ms else "")
    )
    return "\n".join(rows)


def main() -> None:
    """Print the table for a raw profile given on the command line."""
    with Path(sys.argv[1]).open() as profile:
        print(table(breakdown(profile)))


if __name__ == "__main__":
    main()
