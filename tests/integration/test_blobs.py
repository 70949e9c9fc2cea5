"""The file blob store: content-addressed, durable on return, or durable after `flush`."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from server.blobs import BlobStoreUnavailable, FileBlobStore


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every fsync the process makes from here on (they still happen)."""
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def _counting(call: Callable[[int], int], calls: list[int]) -> Callable[[int], int]:
    def wrapped(fd: int) -> int:
        calls.append(fd)
        return call(fd)

    return wrapped


def test_a_blob_is_addressed_by_its_content(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    data = "Nguyễn".encode() * 1000
    sha, size = blobs.put_bytes(data)
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert blobs.read(sha) == data
    assert blobs.put(io.BytesIO(data)) == (sha, size)  # stored once
    assert list(blobs.all_digests()) == [sha]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_durable_on_return_by_default(tmp_path: Path, fsyncs: list[int]) -> None:
    blobs = FileBlobStore(tmp_path)
    blobs.put_bytes(b"first")  # a new folder: the file, the store's root and the folder
    assert len(fsyncs) == 3
    fsyncs.clear()
    blobs.put(io.BytesIO(b"second"))
    assert len(fsyncs) >= 2


def test_deferred_writes_are_made_durable_by_one_flush(tmp_path: Path, fsyncs: list[int]) -> None:
    blobs = FileBlobStore(tmp_path)
    if blobs._syncfs is None:
        pytest.skip("syncfs is used on Linux 5.8 and newer only")
    syncfs_calls: list[int] = []
    blobs._syncfs = _counting(blobs._syncfs, syncfs_calls)
    written = [blobs.put_bytes(f"part {n}".encode(), durable=False)[0] for n in range(10)]
    written.append(blobs.put(io.BytesIO(b"streamed"), durable=False)[0])
    assert fsyncs == []
    assert syncfs_calls == []
    blobs.flush()
    assert len(syncfs_calls) == 1
    assert fsyncs == []
    assert [blobs.read(sha) for sha in written[:2]] == [b"part 0", b"part 1"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_without_syncfs_deferred_writes_are_fsynced_at_once(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    blobs = FileBlobStore(tmp_path)
    blobs._syncfs = None  # as on macOS or a Linux older than 5.8
    blobs.put_bytes(b"part", durable=False)
    assert len(fsyncs) == 3
    fsyncs.clear()
    blobs.flush()
    assert fsyncs == []


def test_a_flush_that_fails_is_an_error(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)

    def failing(_fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    blobs._syncfs = failing
    blobs.put_bytes(b"part", durable=False)
    with pytest.raises(BlobStoreUnavailable, match="Input/output error"):
        blobs.flush()
