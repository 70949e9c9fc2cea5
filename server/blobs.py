"""Blob storage for submission parts and form attachments, content-addressed by SHA-256.

`BlobStore` is the interface the ingest code uses; `FileBlobStore` keeps blobs under the data
directory. A write is durable before `put` returns: the temporary file is fsynced, renamed into
place and the directory fsynced, so a blob named in a committed row always exists whole.
Another backend (an S3-compatible store) implements the same four methods.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobTooLarge(Exception):
    """The stream is longer than the limit given to `put`; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"blob larger than {limit} bytes")
        self.limit = limit


class BlobStoreUnavailable(Exception):
    """The storage cannot take the write (disk full, read-only); nothing was kept."""


class BlobStore(Protocol):
    """Where bytes go; addressed by the hex SHA-256 of their content."""

    def put(self, source: BinaryIO, limit: int | None = None) -> tuple[str, int]:
        """Store a stream durably; returns (sha256, size)."""
        ...

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes already in memory durably; returns (sha256, size)."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """Read a stored blob."""
        ...

    def read(self, sha256: str) -> bytes:
        """A small stored blob's bytes."""
        ...

    def exists(self, sha256: str) -> bool:
        """True when the blob is stored."""
        ...

    def size(self, sha256: str) -> int:
        """The stored blob's length in bytes."""
        ...


class FileBlobStore:
    """Blobs as files `ab/cdef...` under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)
        self._tmp = os.path.join(self._root, "tmp")

    def _path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:]

    def put(self, source: BinaryIO, limit: int | None = None) -> tuple[str, int]:
        """Copy `source` into the store, fsynced; refuses streams longer than `limit`."""
        fd, tmp_name = self._temporary()
        digest = hashlib.sha256()
        size = 0
        with _writing(tmp_name):
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise BlobTooLarge(limit)
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            return self._keep(tmp_name, digest.hexdigest()), size

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes already in memory (hashed first, so a blob already stored is not
        written again)."""
        sha256 = hashlib.sha256(data).hexdigest()
        folder = os.path.join(self._root, sha256[:2])
        if os.path.exists(os.path.join(folder, sha256[2:])):
            with _writing():
                _fsync_dir(folder)  # its writer may not have made the name durable yet
            return sha256, len(data)
        fd, tmp_name = self._temporary()
        with _writing(tmp_name):
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            return self._keep(tmp_name, sha256), len(data)

    def _temporary(self) -> tuple[int, str]:
        """A new private file in the store's tmp directory: (descriptor, path)."""
        name = os.path.join(self._tmp, secrets.token_hex(16))
        with _writing():
            try:
                return os.open(name, _NEW_FILE, 0o600), name
            except FileNotFoundError:
                os.makedirs(self._tmp, exist_ok=True)
                return os.open(name, _NEW_FILE, 0o600), name

    def _keep(self, tmp_name: str, sha256: str) -> str:
        """Move a written, fsynced temporary file to its address and make the name durable."""
        folder = os.path.join(self._root, sha256[:2])
        final = os.path.join(folder, sha256[2:])
        if os.path.exists(final):
            os.unlink(tmp_name)
            _fsync_dir(folder)  # its writer may not have made the name durable yet
            return sha256
        try:
            os.replace(tmp_name, final)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            _fsync_dir(self._root)  # the new folder's own name must survive a crash too
            os.replace(tmp_name, final)
        _fsync_dir(folder)
        return sha256

    def open(self, sha256: str) -> BinaryIO:
        """Read a stored blob."""
        if not _SHA256.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return open(os.path.join(self._root, sha256[:2], sha256[2:]), "rb")

    def read(self, sha256: str) -> bytes:
        """A stored blob's bytes (for small blobs: manifests, forms)."""
        with self.open(sha256) as handle:
            return handle.read()

    def exists(self, sha256: str) -> bool:
        """True when the blob is stored."""
        return self._path(sha256).exists()

    def size(self, sha256: str) -> int:
        """The stored blob's length in bytes."""
        return self._path(sha256).stat().st_size

    def all_digests(self) -> Iterator[str]:
        """Every stored blob (for backups and consistency checks)."""
        for path in sorted(self.root.glob("??/*")):
            yield path.parent.name + path.name


@contextlib.contextmanager
def _writing(tmp_name: str | None = None) -> Iterator[None]:
    """OS errors become BlobStoreUnavailable; a failed write removes its temporary file."""
    try:
        yield
    except BaseException as exc:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise BlobStoreUnavailable(exc.strerror or "cannot write") from exc
        raise


def _fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
