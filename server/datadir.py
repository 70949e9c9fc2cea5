"""The data directory: its tree and the files the server keeps there itself."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from server.config import Config

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret


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
