"""Blob storage for submission parts and form attachments, content-addressed by SHA-256.

`BlobStore` is the interface the ingest code uses; `FileBlobStore` keeps blobs under the data
directory. A blob only ever appears at its address once its content is durable, so a blob named
in a committed row always exists whole.

Two ways to write:
- `put` / `put_bytes`: durable on return. The temporary file is fsynced, renamed into place
  and its folder fsynced.
- `put_bytes(data, staged=...)`: for ingest, which writes many small blobs at once. The bytes
  go to a temporary file and wait in the `Staged` set of their request. `settle(batch)` then
  moves the blobs of many requests into place with two syncfs calls of the blob filesystem:
  one for the content (before any name appears), one for the names. That replaces two fsyncs
  per blob, and must run before the rows naming them commit. `discard(staged)` drops what was
  not settled.

  syncfs reports a write error only once per open file, so the store keeps one descriptor per
  process. A failed syncfs fails every staged set of the process, because any of their files
  may be the one that was lost, and from then on the process writes blobs already stored again
  instead of trusting their names. Where syncfs cannot report errors (not Linux, or Linux before
  5.17), staged writes are made durable at once, as `put_bytes` does.

Another backend (an S3-compatible store, durable on return) implements the same methods, with a
`settle` that does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
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


class Staged:
    """The blobs one request wrote with `put_bytes(..., staged=)` and has not yet settled."""

    def __init__(self) -> None:
        self.files: list[tuple[str, str]] = []  # (temporary file, sha256)
        self.error: str | None = None  # set when a failed syncfs may have lost one of them


class BlobStore(Protocol):
    """Where bytes go; addressed by the hex SHA-256 of their content."""

    def put(self, source: BinaryIO, limit: int | None = None) -> tuple[str, int]:
        """Store a stream durably; returns (sha256, size)."""
        ...

    def put_bytes(self, data: bytes, staged: Staged | None = None) -> tuple[str, int]:
        """Store bytes already in memory; returns (sha256, size). Durable on return, or, with
        `staged`, once `settle` has taken that set."""
        ...

    def settle(self, batch: Sequence[Staged]) -> None:
        """Make the staged blobs of `batch` durable at their addresses; raises
        BlobStoreUnavailable (and keeps none of a failed set) when the disk failed."""
        ...

    def discard(self, staged: Staged) -> None:
        """Drop what `staged` holds that was not settled."""
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
        self._lock = threading.Lock()  # the staged sets and their files
        self._settling = threading.Lock()  # one settle at a time in a process
        self._live: set[Staged] = set()  # staged sets not yet settled or discarded
        # Set for good once a sync has failed in this process: from then on a blob already at
        # its address is written again (its entry anew) rather than trusted, since the name
        # the failed sync was writing may be any of them.
        self._distrust = False
        self._failures = 0  # failed syncs so far: a durable write checks none came meanwhile
        self._fd: int | None = None
        self._fd_pid = 0
        self._prepared = False
        self._preparing = threading.Lock()
        self._remade = 0  # times the folders were made again

    def _path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:]

    def put(self, source: BinaryIO, limit: int | None = None) -> tuple[str, int]:
        """Copy `source` into the store; refuses streams longer than `limit`."""
        epoch = self._begin()
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
            return self._keep(tmp_name, digest.hexdigest(), epoch), size

    def put_bytes(self, data: bytes, staged: Staged | None = None) -> tuple[str, int]:
        """Store bytes already in memory (hashed first, so a blob already stored is not
        written again); with `staged`, only into a temporary file until `settle`."""
        sha256 = hashlib.sha256(data).hexdigest()
        folder = os.path.join(self._root, sha256[:2])
        later = staged is not None and self._syncfs is not None
        epoch = self._begin()
        if later:
            assert staged is not None
            with self._lock:  # known from now on: a syncfs failing meanwhile fails it too
                if staged.error is not None:
                    raise BlobStoreUnavailable(staged.error)
                self._live.add(staged)
        if not self._distrust and os.path.exists(os.path.join(folder, sha256[2:])):
            # Its content is durable (a name appears only then); its name may not be yet:
            # fsync the folder, or, staged, leave that to the settle, which syncs every name.
            if not later:
                with _writing():
                    self._durable_names(folder, epoch)
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
            if not later:
                return self._keep(tmp_name, sha256, epoch), len(data)
        assert staged is not None
        with self._lock:
            if staged.error is None:
                staged.files.append((tmp_name, sha256))
                return sha256, len(data)
        _unlink(tmp_name)
        raise BlobStoreUnavailable(staged.error)

    def settle(self, batch: Sequence[Staged]) -> None:
        """Make the staged blobs of `batch` durable at their addresses: syncfs (their content),
        rename each into place, syncfs (the names). If any step fails, every set of the batch
        (and, for a failed syncfs, every unsettled set of the process) is given up."""
        if self._syncfs is None:
            return  # staged writes were made durable as they were written
        with self._settling, _writing():
            self._refuse_failed(batch)
            try:
                fd = self._descriptor()
                self._sync(fd)
                for staged in batch:
                    for tmp_name, sha256 in staged.files:
                        self._place(tmp_name, sha256)
                self._sync(fd)
            except BaseException as exc:
                reason = exc.strerror if isinstance(exc, OSError) else None
                self._fail(batch, reason or str(exc) or "write error")
                raise
            with self._lock:
                for staged in batch:
                    staged.files = []
                    self._live.discard(staged)

    def close(self) -> None:
        """Release the descriptor kept for syncfs (a new one is opened when needed). Staged
        sets not yet settled are given up: a new descriptor would not see errors the old one
        had not reported."""
        with self._settling:
            self._fail_all("the blob store was closed")
            with self._lock:
                if self._fd is not None and self._fd_pid == os.getpid():
                    os.close(self._fd)
                self._fd = None

    def _refuse_failed(self, batch: Sequence[Staged]) -> None:
        with self._lock:
            failed = next((s.error for s in batch if s.error is not None), None)
        if failed is not None:
            raise BlobStoreUnavailable(failed)

    def _fail(self, batch: Sequence[Staged], reason: str) -> None:
        """Give up the sets of a batch that could not be settled, whatever step failed."""
        with self._lock:
            self._distrust, self._failures = True, self._failures + 1
            for staged in batch:
                if staged.error is None:
                    staged.error = reason
                for tmp_name, _sha256 in staged.files:
                    _unlink(tmp_name)  # gone already when it was moved into place
                staged.files = []
                self._live.discard(staged)

    def discard(self, staged: Staged) -> None:
        """Remove the temporary files of `staged` that were not settled; it cannot be settled
        afterwards (a row naming them must not commit). Waits for a settle in progress."""
        with self._settling, self._lock:
            files, staged.files = staged.files, []
            if staged.error is None:
                staged.error = "discarded"
            self._live.discard(staged)
        for tmp_name, _sha256 in files:
            _unlink(tmp_name)

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            # Before any other thread can take a shortcut, or finish a durable write.
            self._distrust, self._failures = True, self._failures + 1
            for staged in self._live:
                staged.error = reason
                for tmp_name, _sha256 in staged.files:
                    _unlink(tmp_name)
                staged.files = []
            self._live.clear()

    def _descriptor(self) -> int:
        """This process's descriptor of the blob directory, for syncfs (opened after a fork
        anew: its error cursor must be this process's own)."""
        with self._lock:
            if self._fd is None or self._fd_pid != os.getpid():
                with _writing():
                    os.makedirs(self._root, exist_ok=True)
                    self._fd = os.open(self._root, os.O_RDONLY)
                self._fd_pid = os.getpid()
            return self._fd

    def _sync(self, fd: int) -> None:
        """syncfs; an error it reports is reported once only, and may concern any file of the
        filesystem, so every unsettled file of this process is given up."""
        assert self._syncfs is not None
        if self._syncfs(fd) != 0:
            error = ctypes.get_errno()
            self._fail_all(os.strerror(error))
            raise OSError(error, os.strerror(error))

    def _place(self, tmp_name: str, sha256: str) -> None:
        """Rename a temporary file whose content is durable to its address (no fsync: the
        settle syncs every name at once)."""
        folder = os.path.join(self._root, sha256[:2])
        final = os.path.join(folder, sha256[2:])
        if not self._distrust and os.path.exists(final):
            _unlink(tmp_name)
            return
        self._rename(tmp_name, final)  # over a distrusted name: its entry is written anew

    def _temporary(self) -> tuple[int, str]:
        """A new private file in the store's tmp directory: (descriptor, path)."""
        name = os.path.join(self._tmp, secrets.token_hex(16))
        with _writing():
            try:
                return os.open(name, _NEW_FILE, 0o600), name
            except FileNotFoundError:
                self._prepare(again=True)
                return os.open(name, _NEW_FILE, 0o600), name

    def _keep(self, tmp_name: str, sha256: str, epoch: tuple[int, int]) -> str:
        """Move a written, fsynced temporary file to its address and make the name durable."""
        folder = os.path.join(self._root, sha256[:2])
        final = os.path.join(folder, sha256[2:])
        if not self._distrust and os.path.exists(final):
            os.unlink(tmp_name)
            self._durable_names(folder, epoch)  # its writer may not have made it durable yet
            return sha256
        self._rename(tmp_name, final)  # over an existing name only when names are distrusted
        self._durable_names(folder, epoch)
        return sha256

    def _rename(self, tmp_name: str, final: str) -> None:
        try:
            os.replace(tmp_name, final)
        except FileNotFoundError:
            if not os.path.exists(tmp_name):
                raise
            self._prepare(again=True)
            os.replace(tmp_name, final)

    def _begin(self) -> tuple[int, int]:
        """Before a write: the folders exist, the syncfs descriptor is open (so it sees the
        errors of this write); returns the counts of failed syncs and of folders made again,
        checked when it ends."""
        if not self._prepared:
            self._prepare(again=False)
        if self._syncfs is not None:
            self._descriptor()
        with self._lock:
            return self._failures, self._remade

    def _prepare(self, again: bool) -> None:
        """Create the tmp folder and the 256 prefix folders, their names durable, so no write
        depends on a folder another thread has only just created. Once, and `again` when a
        folder was found missing (removed by hand, say)."""
        with self._preparing, _writing():
            if self._prepared and not again:
                return
            with self._lock:
                self._remade += 1  # before any folder exists for a writer to use
            for name in ("tmp", *(f"{n:02x}" for n in range(256))):
                os.makedirs(os.path.join(self._root, name), exist_ok=True)
            _fsync_dir(self._root)
            _fsync_dir(os.path.dirname(self._root) or ".")
            self._prepared = True

    def _durable_names(self, folder: str, epoch: tuple[int, int]) -> None:
        """Make the names in `folder` durable. With syncfs: through this process's descriptor,
        which sees each write error once, refusing the write if any sync failed since it began
        (the error may have been its own). Otherwise an fsync of the folder."""
        if self._syncfs is None:
            try:
                _fsync_dir(folder)
                if self._remade != epoch[1]:  # the folder may be new: its own name too
                    _fsync_dir(self._root)
            except OSError:
                with self._lock:
                    self._distrust, self._failures = True, self._failures + 1
                raise
        else:
            with self._settling:
                self._sync(self._descriptor())
        with self._lock:
            if self._failures != epoch[0]:
                raise BlobStoreUnavailable("a write error was reported while this was written")

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

    def destroy(self, sha256: str) -> bool:
        """Remove a stored blob for good (an erasure); False when it was not there. The file
        is overwritten with zeros, synced, then unlinked and its folder synced, so neither
        the name nor (on a file system that writes in place) the content stays."""
        path = self._path(sha256)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return False
        with _writing():
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"\0" * size)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.unlink(path)
            _fsync_dir(path.parent)
        return True

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


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _syncfs_call() -> Callable[[int], int] | None:
    """libc's syncfs where it reports write errors, the filesystem's own included (Linux 5.17
    and newer), else None."""
    if platform.system() != "Linux":
        return None
    try:
        major, minor = (int(part) for part in platform.release().split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (5, 17):
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
