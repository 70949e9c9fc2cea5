"""The file blob store: content-addressed; durable when a write returns, or, staged, when it
is settled."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from server.blobs import BlobStoreUnavailable, FileBlobStore, Staged


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


def test_a_blob_is_addressed_by_its_content(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    data = "Nguyễn".encode() * 1000
    sha, size = blobs.put_bytes(data)
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert blobs.read(sha) == data
    assert blobs.put(io.BytesIO(data)) == (sha, size)  # stored once
    assert list(blobs.all_digests()) == [sha]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_write_is_durable_when_it_returns(tmp_path: Path, fsyncs: list[int]) -> None:
    blobs = FileBlobStore(tmp_path)
    blobs._syncfs = None  # fsyncs only (as on macOS, or Linux before 5.17)
    blobs._prepare(again=False)  # the 256 folders, once: their names are synced then
    fsyncs.clear()
    blobs.put_bytes(b"first")
    assert len(fsyncs) == 2  # the file, then its folder
    fsyncs.clear()
    sha, _ = blobs.put(io.BytesIO(b"first"))
    assert len(fsyncs) == 2  # written again to learn its digest: the file, then its folder
    fsyncs.clear()
    blobs.put_bytes(b"first")  # known: its folder is synced in case its writer has not yet
    assert len(fsyncs) == 1
    assert blobs.read(sha) == b"first"


def test_with_syncfs_a_durable_write_syncs_its_name_through_the_store(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    blobs = FileBlobStore(tmp_path)
    if blobs._syncfs is None:
        pytest.skip("syncfs is used on Linux 5.17 and newer only")
    syncs: list[int] = []
    blobs._syncfs = _counting(blobs._syncfs, syncs)
    blobs._prepare(again=False)
    fsyncs.clear()
    sha, _ = blobs.put_bytes(b"form attachment")
    assert len(fsyncs) == 1  # the file's content, through its own descriptor
    assert len(syncs) == 1  # its name, through the descriptor that sees every error once
    assert blobs.read(sha) == b"form attachment"


def test_a_durable_write_during_which_a_sync_failed_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = FileBlobStore(tmp_path)
    if blobs._syncfs is None:
        pytest.skip("syncfs is used on Linux 5.17 and newer only")
    real = blobs._sync

    def another_thread_saw_an_error(fd: int) -> None:
        real(fd)
        blobs._failures += 1  # reported to another write meanwhile: it may have been ours

    monkeypatch.setattr(blobs, "_sync", another_thread_saw_an_error)
    with pytest.raises(BlobStoreUnavailable, match="write error"):
        blobs.put_bytes(b"form attachment")


def _counting(call: Callable[[int], int], calls: list[int]) -> Callable[[int], int]:
    def wrapped(fd: int) -> int:
        calls.append(fd)
        return call(fd)

    return wrapped


def _failing_once(call: Callable[[int], int], at_call: int = 1) -> Callable[[int], int]:
    """syncfs failing with EIO on its `at_call`-th call only (the kernel reports an error once)."""
    calls: list[int] = []

    def wrapped(fd: int) -> int:
        calls.append(fd)
        if len(calls) == at_call:
            ctypes.set_errno(errno.EIO)
            return -1
        return call(fd)

    return wrapped


@pytest.fixture
def staging(tmp_path: Path) -> FileBlobStore:
    blobs = FileBlobStore(tmp_path)
    blobs._prepare(again=False)  # its folders first, as on the first write
    if blobs._syncfs is None:
        pytest.skip("staged blobs are settled with syncfs on Linux 5.17 and newer only")
    return blobs


def test_staged_blobs_appear_only_when_settled(
    staging: FileBlobStore, tmp_path: Path, fsyncs: list[int]
) -> None:
    assert staging._syncfs is not None
    syncs: list[int] = []
    staging._syncfs = _counting(staging._syncfs, syncs)
    first, second = Staged(), Staged()
    a, _ = staging.put_bytes(b"manifest", first)
    b, _ = staging.put_bytes(b"photo", first)
    c, _ = staging.put_bytes(b"other phone", second)
    assert fsyncs == []
    assert syncs == []
    assert not any(staging.exists(sha) for sha in (a, b, c))  # not at their address yet
    staging.settle([first, second])
    assert len(syncs) == 2  # the content, then the names
    assert fsyncs == []
    assert [staging.read(sha) for sha in (a, b, c)] == [b"manifest", b"photo", b"other phone"]
    assert list((tmp_path / "tmp").iterdir()) == []
    staging.discard(first)  # settled: nothing left to drop
    assert staging.read(a) == b"manifest"


def test_a_staged_blob_already_stored_is_not_written_again(staging: FileBlobStore) -> None:
    sha, _ = staging.put_bytes(b"photo")
    staged = Staged()
    assert staging.put_bytes(b"photo", staged) == (sha, 5)
    assert staged.files == []
    staging.settle([staged])  # still syncs the names: the existing one may be new
    assert staging.read(sha) == b"photo"


def test_discarded_blobs_leave_nothing(staging: FileBlobStore, tmp_path: Path) -> None:
    staged = Staged()
    sha, _ = staging.put_bytes(b"never recorded", staged)
    staging.discard(staged)
    with pytest.raises(BlobStoreUnavailable, match="discarded"):
        staging.settle([staged])  # a row naming them must not commit
    assert not staging.exists(sha)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_failed_sync_gives_up_every_unsettled_blob_of_the_process(
    staging: FileBlobStore, tmp_path: Path
) -> None:
    assert staging._syncfs is not None
    staging._syncfs = _failing_once(staging._syncfs)
    in_batch, elsewhere = Staged(), Staged()
    a, _ = staging.put_bytes(b"in the failing batch", in_batch)
    b, _ = staging.put_bytes(b"written meanwhile by another request", elsewhere)
    with pytest.raises(BlobStoreUnavailable, match="Input/output error"):
        staging.settle([in_batch])
    # syncfs reports an error once: the next one succeeds, but the other request's file may
    # be the one that was lost, so it cannot be settled either.
    with pytest.raises(BlobStoreUnavailable, match="Input/output error"):
        staging.settle([elsewhere])
    with pytest.raises(BlobStoreUnavailable):
        staging.put_bytes(b"more for the failed request", elsewhere)
    assert not staging.exists(a)
    assert not staging.exists(b)
    assert list((tmp_path / "tmp").iterdir()) == []
    # A new request afterwards is stored normally.
    fresh = Staged()
    c, _ = staging.put_bytes(b"sent again", fresh)
    staging.settle([fresh])
    assert staging.read(c) == b"sent again"


def test_without_syncfs_staged_blobs_are_durable_at_once(tmp_path: Path, fsyncs: list[int]) -> None:
    blobs = FileBlobStore(tmp_path)
    blobs._syncfs = None  # as on macOS, or Linux before 5.17
    blobs._prepare(again=False)
    fsyncs.clear()
    staged = Staged()
    sha, _ = blobs.put_bytes(b"part", staged)
    assert len(fsyncs) == 2  # the file and its folder
    assert blobs.read(sha) == b"part"
    blobs.settle([staged])
    blobs.discard(staged)
    assert blobs.read(sha) == b"part"


def test_a_failed_sync_of_the_names_gives_up_the_whole_batch(staging: FileBlobStore) -> None:
    assert staging._syncfs is not None
    staging.put_bytes(b"already stored")
    staging._syncfs = _failing_once(staging._syncfs, at_call=2)  # the names' syncfs
    first, second, known_only = Staged(), Staged(), Staged()
    staging.put_bytes(b"part one", first)
    staging.put_bytes(b"part two", second)
    staging.put_bytes(b"already stored", known_only)  # only names an existing blob
    with pytest.raises(BlobStoreUnavailable):
        staging.settle([first, second, known_only])
    # Retried one at a time (as a group commit does), none settles: the next syncfs would
    # succeed, but the error it no longer reports may concern any of their names.
    for staged in (first, second, known_only):
        with pytest.raises(BlobStoreUnavailable):
            staging.settle([staged])


def test_a_failed_rename_gives_up_the_whole_batch(
    staging: FileBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = Staged(), Staged()
    a, _ = staging.put_bytes(b"part one", first)
    b, _ = staging.put_bytes(b"part two", second)
    real = os.replace

    def full_disk(source: str, target: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(BlobStoreUnavailable, match="No space left"):
        staging.settle([first, second])
    monkeypatch.setattr(os, "replace", real)
    for staged in (first, second):
        with pytest.raises(BlobStoreUnavailable):
            staging.settle([staged])
    assert not staging.exists(a)
    assert not staging.exists(b)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_set_that_only_names_stored_blobs_is_given_up_by_a_failed_sync(
    staging: FileBlobStore,
) -> None:
    assert staging._syncfs is not None
    staging.put_bytes(b"already stored")
    staging._syncfs = _failing_once(staging._syncfs)
    known_only, other = Staged(), Staged()
    staging.put_bytes(b"already stored", known_only)
    staging.put_bytes(b"new", other)
    with pytest.raises(BlobStoreUnavailable):
        staging.settle([other])
    with pytest.raises(BlobStoreUnavailable):
        staging.settle([known_only])  # its settle would have made the name durable


def test_after_a_failed_sync_stored_names_are_written_anew(staging: FileBlobStore) -> None:
    assert staging._syncfs is not None
    staging._syncfs = _failing_once(staging._syncfs, at_call=2)  # the names' syncfs
    first = Staged()
    sha, _ = staging.put_bytes(b"photo", first)
    with pytest.raises(BlobStoreUnavailable):
        staging.settle([first])
    assert staging.exists(sha)  # placed, but its name may not have reached the disk
    inode = os.stat(staging._path(sha)).st_ino
    again = Staged()  # Collect sends it again
    staging.put_bytes(b"photo", again)
    assert len(again.files) == 1  # not trusted: written again
    staging.settle([again])
    assert os.stat(staging._path(sha)).st_ino != inode  # a new entry, synced this time
    assert staging.read(sha) == b"photo"
    # The failed sync may have concerned any name: none is trusted again in this process,
    # by staged or by durable writes.
    inode = os.stat(staging._path(sha)).st_ino
    third = Staged()
    staging.put_bytes(b"photo", third)
    assert len(third.files) == 1
    staging.settle([third])
    assert os.stat(staging._path(sha)).st_ino != inode
    inode = os.stat(staging._path(sha)).st_ino
    staging.put_bytes(b"photo")
    assert os.stat(staging._path(sha)).st_ino != inode
    assert staging.read(sha) == b"photo"


def test_closing_gives_up_what_is_not_settled(staging: FileBlobStore) -> None:
    staged = Staged()
    staging.put_bytes(b"part", staged)
    staging.close()
    with pytest.raises(BlobStoreUnavailable, match="closed"):
        staging.settle([staged])
    fresh = Staged()
    sha, _ = staging.put_bytes(b"part", fresh)
    staging.settle([fresh])
    assert staging.read(sha) == b"part"


def test_folders_removed_by_hand_are_made_again(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    blobs.put_bytes(b"first")
    for data in (b"second", b"third"):  # their folders only: tmp/ stays
        shutil.rmtree(tmp_path / hashlib.sha256(data).hexdigest()[:2], ignore_errors=True)
    staged = Staged()
    second, _ = blobs.put_bytes(b"second", staged)
    blobs.settle([staged])
    third, _ = blobs.put_bytes(b"third")
    assert (blobs.read(second), blobs.read(third)) == (b"second", b"third")


def test_without_syncfs_a_folder_made_again_has_its_name_synced_too(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    blobs = FileBlobStore(tmp_path)
    blobs._syncfs = None
    blobs.put_bytes(b"first")
    shutil.rmtree(tmp_path / hashlib.sha256(b"second").hexdigest()[:2], ignore_errors=True)
    fsyncs.clear()
    blobs.put_bytes(b"second")
    # The file; the folders made again (the root and its parent); the folder; the root again.
    assert len(fsyncs) == 5


def test_a_durable_write_whose_name_sync_fails_is_refused(staging: FileBlobStore) -> None:
    assert staging._syncfs is not None
    staging._syncfs = _failing_once(staging._syncfs)
    with pytest.raises(BlobStoreUnavailable, match="Input/output error"):
        staging.put_bytes(b"form attachment")
    assert staging._distrust
    sha = hashlib.sha256(b"form attachment").hexdigest()
    inode = os.stat(staging._path(sha)).st_ino
    staging.put_bytes(b"form attachment")  # sent again: written anew, not trusted
    assert os.stat(staging._path(sha)).st_ino != inode


def test_a_durable_write_begun_before_a_failed_settle_is_refused(staging: FileBlobStore) -> None:
    assert staging._syncfs is not None
    epoch = staging._begin()  # a durable write starts...
    staging._syncfs = _failing_once(staging._syncfs)
    staged = Staged()
    staging.put_bytes(b"another request's part", staged)
    with pytest.raises(BlobStoreUnavailable):
        staging.settle([staged])  # ...a settle meanwhile gets the error, which may be its...
    with pytest.raises(BlobStoreUnavailable, match="reported while"):
        staging._durable_names(str(staging.root / "00"), epoch)  # ...so it is refused
