"""Blob storage for submission parts and form attachments, content-addressed by SHA-256.

`BlobStore` is the interface the ingest code uses; `FileBlobStore` keeps blobs under the data
directory. A write is durable before `put` returns: the temporary file is fsynced, renamed into
place and the directory fsynced, so a blob named in a committed row always exists whole.

Ingest writes many small blobs at once, so it may ask for `durable=False` and call `flush()`
once before committing the rows that name them: on Linux (5.8 and newer, where syncfs reports
write errors) one syncfs of the blob filesystem then replaces two fsyncs per blob. Elsewhere
`durable=False` is ignored and every write is fsynced as it happens.

Another backend (an S3-compatible store, durable on return) implements the same methods, with
a `flush` that does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import re
import secrets
from collections.abc import Callable, Iterator
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

    def put(
        self, source: BinaryIO, limit: int | None = None, *, durable: bool = True
    ) -> tuple[str, int]:
        """Store a stream; returns (sha256, size). Durable on return unless `durable` is
        False, in which case it is durable after the next `flush()`."""
        ...

    def put_bytes(self, data: bytes, *, durable: bool = True) -> tuple[str, int]:
        """Store bytes already in memory; returns (sha256, size). `durable` as for `put`."""
        ...

    def flush(self) -> None:
        """Make every blob written so far durable (those written with `durable=False`)."""
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
        self._syncfs = _syncfs_call()

    def _path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:]

    def put(
        self, source: BinaryIO, limit: int | None = None, *, durable: bool = True
    ) -> tuple[str, int]:
        """Copy `source` into the store; refuses streams longer than `limit`."""
        later = not durable and self._syncfs is not None
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
                if not later:
                    os.fsync(handle.fileno())
            return self._keep(tmp_name, digest.hexdigest(), later), size

    def put_bytes(self, data: bytes, *, durable: bool = True) -> tuple[str, int]:
        """Store bytes already in memory (hashed first, so a blob already stored is not
        written again)."""
        later = not durable and self._syncfs is not None
        sha256 = hashlib.sha256(data).hexdigest()
        folder = os.path.join(self._root, sha256[:2])
        if os.path.exists(os.path.join(folder, sha256[2:])):
            if not later:
                with _writing():
                    _fsync_dir(folder)  # its writer may not have made the name durable yet
            return sha256, len(data)
        fd, tmp_name = self._temporary()
        with _writing(tmp_name):
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if not later:
                    os.fsync(fd)
            finally:
                os.close(fd)
            return self._keep(tmp_name, sha256, later), len(data)

    def flush(self) -> None:
        """Make every blob written so far durable: one syncfs of the blob filesystem (only
        writes made with `durable=False` can be pending, and only where syncfs is used)."""
        if self._syncfs is None:
            return
        with _writing():
            fd = os.open(self._root, os.O_RDONLY)
            try:
                if self._syncfs(fd) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, os.strerror(error))
            finally:
                os.close(fd)

    def _temporary(self) -> tuple[int, str]:
        """A new private file in the store's tmp directory: (descriptor, path)."""
        name = os.path.join(self._tmp, secrets.token_hex(16))
        with _writing():
            try:
                return os.open(name, _NEW_FILE, 0o600), name
            except FileNotFoundError:
                os.makedirs(self._tmp, exist_ok=True)
                return os.open(name, _NEW_FILE, 0o600), name

    def _keep(self, tmp_name: str, sha256: str, later: bool = False) -> str:
        """Move a written temporary file to its address and make the name durable (unless
        `later`: then the next `flush` does)."""
        folder = os.path.join(self._root, sha256[:2])
        final = os.path.join(folder, sha256[2:])
        if os.path.exists(final):
            os.unlink(tmp_name)
            return sha256
        try:
            os.replace(tmp_name, final)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            if not later:
                _fsync_dir(self._root)  # the new folder's own name must survive a crash too
            os.replace(tmp_name, final)
        if not later:
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


def _syncfs_call() -> Callable[[int], int] | None:
    """libc's syncfs where it reports write errors (Linux 5.8 and newer), else None."""
    if platform.system() != "Linux":
        return None
    try:
        major, minor = (int(part) for part in platform.release().split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (5, 8):
        return None
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    call: Callable[[int], int] = syncfs
    return call


def _fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
