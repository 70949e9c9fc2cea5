"""The data directory: its tree, the files the server keeps there itself, and who may read it.

Everything in it is the server user's only: the SQLite store holds decrypted names and phone
numbers. Every fieldcase process sets `PRIVATE_UMASK` first (the CLI, so `serve` too, and each
gunicorn worker after its fork), so whatever it creates (the database and its -wal and -shm,
blobs, keys, exports, backups) is 0600 or 0700; and commands that open the store refuse to
run while the data directory or a file in it is open to the group or to others
(`check_private`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from server.config import Config
from server.errors import ConfigError

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
PRIVATE_UMASK = 0o077
# Any permission bit for the group or others: even x on a folder lets them reach a file in
# it whose name they know (every name in the data directory is known).
_SHARED_BITS = 0o077


def private_umask() -> None:
    """Make files and folders this process creates readable by its user only."""
    os.umask(PRIVATE_UMASK)


def ensure_data_dir(config: Config) -> None:
    """Create the data directory tree, private to the server's user."""
    for path in (config.data_dir, config.blob_dir, config.key_dir, config.export_dir):
        path.mkdir(parents=True, exist_ok=True, mode=0o700)


def write_private_file(path: Path, content: str) -> None:
    """Create `path` readable by the owner only and fsync it; never overwrites."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def secret_key(config: Config) -> str:
    """The session-signing secret: from the environment, else kept in the data directory."""
    if config.secret_key:
        return config.secret_key
    path = config.data_dir / SECRET_KEY_FILE
    if not path.exists():
        ensure_data_dir(config)
        # Another process may have made it first; then use theirs.
        with contextlib.suppress(FileExistsError):
            write_private_file(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Exposed:
    """A file or folder the group or others may use."""

    path: Path
    mode: int


def exposed_paths(config: Config) -> list[Exposed]:
    """What of the data directory is open to the group or to others.

    Checked: the data directory, everything directly in it, everything under `keys/` and
    `exports/`, and `blobs/` with its prefix folders, but not the blob files inside those:
    blobs are created 0600 by the blob store inside 0700 folders, and a million of them would
    make every start slow (docs/operations.md has the figures). A SQLite database kept
    outside the data directory is checked too, with its -wal and -shm.
    """
    found: list[Exposed] = []

    def check(path: Path) -> os.stat_result | None:
        try:
            info = path.stat()  # follows links: a folder moved to another disk is checked there
        except FileNotFoundError:
            return None
        if info.st_mode & _SHARED_BITS:
            found.append(Exposed(path, stat.S_IMODE(info.st_mode)))
        return info

    if check(config.data_dir) is None:
        return found
    with os.scandir(config.data_dir) as entries:
        for entry in entries:
            check(Path(entry.path))
    for folder in (config.key_dir, config.export_dir):
        for root, dirs, files in os.walk(folder):
            for name in (*dirs, *files):
                check(Path(root, name))
    if config.blob_dir.is_dir():
        with os.scandir(config.blob_dir) as entries:
            for entry in entries:
                if entry.is_dir():
                    check(Path(entry.path))
    database = _sqlite_file(config.database_url)
    if database is not None and database.parent != config.data_dir:
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            check(path)
    return found


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    name = make_url(url).database
    return Path(name).absolute() if name and name != ":memory:" else None


class DataDirExposed(ConfigError):
    """The data directory, or something in it, may be read or written by other users."""


def check_private(config: Config) -> None:
    """Raise DataDirExposed (a bilingual message naming the paths and the fix) when any part of
    the data directory is open to the group or to others."""
    exposed = exposed_paths(config)
    if not exposed:
        return
    shown = ", ".join(f"{e.path} ({e.mode:04o})" for e in exposed[:3])
    more = f" (+{len(exposed) - 3})" if len(exposed) > 3 else ""
    targets = {str(config.data_dir)} | {
        str(e.path) for e in exposed if not e.path.is_relative_to(config.data_dir)
    }
    fix = "chmod -R go-rwx " + " ".join(sorted(targets))
    raise DataDirExposed(
        "thư mục dữ liệu đang để người dùng khác đọc hoặc ghi được, fieldcase không chạy "
        "/ the data directory is open to other users, fieldcase will not run: "
        f"{shown}{more}. Sửa / fix: {fix}"
    )


def is_new_data_dir(config: Config) -> bool:
    """True before `fieldcase init` has kept anything in the data directory."""
    return not (config.data_dir / SECRET_KEY_FILE).exists() and not any(
        config.key_dir.glob("*.pem")
    )


def tighten_new_data_dir(config: Config) -> bool:
    """Make the data directory itself 0700 (for `init`, before anything is kept in it);
    True when its mode was changed."""
    ensure_data_dir(config)
    mode = stat.S_IMODE(config.data_dir.stat().st_mode)
    if mode & _SHARED_BITS:
        config.data_dir.chmod(mode & ~_SHARED_BITS)
        return True
    return False
