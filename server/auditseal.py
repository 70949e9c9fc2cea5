"""What makes the audit chain hard to rewrite: a key outside the database, and heads outside it.

Each audit entry's hash is an HMAC-SHA256, keyed with a secret that is not in the database, of
the previous entry's hash and this entry's content. Someone who can change the database but
cannot read the key (a database account, someone editing a copy of the SQLite file or of a
backup's rows) can edit or delete entries, but cannot compute hashes that hold again.

Removing the newest entries leaves a chain that holds, so its head is also written outside the
database, in the data directory:
- `audit-heads.log`, append-only: the head of each past UTC day (the last entry written that
  day), and the entry that started the keyed chain. Each line also goes to the server log.
- `audit-head`: the newest head, replaced after every commit that wrote an entry.
Verification (`fieldcase audit verify`, the audit page) checks that every recorded head is still
in the database with the same hash.

The key is FIELDCASE_AUDIT_KEY (or _FILE) when set, else `audit_key` in the data directory,
made once (0600) by `fieldcase init` or by the first command of an upgraded deployment.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from server.config import Config
from server.datadir import ensure_data_dir, write_private_file

AUDIT_KEY_FILE = "audit_key"
HEADS_LOG = "audit-heads.log"
LATEST_HEAD = "audit-head"

log = logging.getLogger("server.audit")

_LINE = re.compile(
    r"^(?P<at>\S+) id=(?P<id>[0-9]+) hash=(?P<hash>[0-9a-f]{64}) (?P<kind>start|day|latest)$"
)


@dataclass(frozen=True)
class Head:
    """One recorded head of the chain: an entry's id and hash at a time."""

    entry_id: int
    hash: str
    at: datetime
    kind: str  # "start" (the keyed chain's first entry), "day" (a day's last), "latest"

    def line(self) -> str:
        """The head as one line of a heads file."""
        at = self.at if self.at.tzinfo else self.at.replace(tzinfo=UTC)
        return f"{at.isoformat()} id={self.entry_id} hash={self.hash} {self.kind}\n"

    @classmethod
    def parse(cls, line: str) -> Head:
        """A line written by `line()`; ValueError for anything else."""
        match = _LINE.match(line.strip())
        if match is None:
            raise ValueError("not a head line")
        return cls(
            int(match["id"]), match["hash"], datetime.fromisoformat(match["at"]), match["kind"]
        )


class HeadsUnreadable(Exception):
    """A heads file holds something that is not a head (damaged or edited by hand)."""


class AuditSeal:
    """The audit chain's key and the files its heads are written to."""

    def __init__(self, key: bytes, folder: Path) -> None:
        self._key = key
        self.heads_log = folder / HEADS_LOG
        self.latest_head = folder / LATEST_HEAD
        # Which key signed a chain, without saying anything about the key.
        self.key_id = hmac.new(key, b"fieldcase audit key id", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"AuditSeal(key_id={self.key_id!r})"

    def sign(self, prev_hash: str, canonical: str) -> str:
        """The hash of an entry of the keyed chain."""
        message = (prev_hash + canonical).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def record(self, head: Head) -> None:
        """Write a head outside the database; never raises (the entry is already committed:
        a head that cannot be written weakens the check, it must not fail the request)."""
        try:
            if head.kind == "latest":
                self._replace_latest(head)
            else:
                self._append(head)
                log.info("audit chain %s head: %s", head.kind, head.line().strip())
        except OSError as exc:
            log.error("audit head not recorded: %s", type(exc).__name__)

    def _append(self, head: Head) -> None:
        fd = os.open(self.heads_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, head.line().encode("ascii"))  # one write: whole lines, any process
        finally:
            os.close(fd)

    def _replace_latest(self, head: Head) -> None:
        """Replace the newest head, unless another process recorded a newer one meanwhile."""
        fd = os.open(self.latest_head, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            current = os.pread(fd, 512, 0).decode("ascii", "replace")
            with contextlib.suppress(ValueError):
                if current.strip() and Head.parse(current).entry_id >= head.entry_id:
                    return
            line = head.line().encode("ascii")
            os.pwrite(fd, line, 0)
            os.ftruncate(fd, len(line))
        finally:
            os.close(fd)  # releases the lock

    def heads(self) -> list[Head]:
        """Every head recorded so far (the day heads, the start, the newest)."""
        return read_heads(self.heads_log.parent)


def read_heads(folder: Path) -> list[Head]:
    """The heads recorded in a data directory; HeadsUnreadable when a file is damaged."""
    found: list[Head] = []
    for path in (folder / HEADS_LOG, folder / LATEST_HEAD):
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise HeadsUnreadable(f"{path.name} cannot be read") from exc
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                found.append(Head.parse(line))
            except ValueError:
                raise HeadsUnreadable(f"{path.name} line {number} is not a head") from None
    return found


def audit_key(config: Config) -> bytes:
    """The audit chain's key: FIELDCASE_AUDIT_KEY(_FILE), else the data directory's own."""
    if config.audit_key:
        return config.audit_key.encode("utf-8")
    path = config.data_dir / AUDIT_KEY_FILE
    if not path.exists():
        ensure_data_dir(config)
        with contextlib.suppress(FileExistsError):  # another process made it first
            write_private_file(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def seal_for(config: Config) -> AuditSeal:
    """The audit seal of a deployment."""
    return AuditSeal(audit_key(config), config.data_dir)
