"""The file blob store: content-addressed, and durable before a write returns."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from server.blobs import FileBlobStore


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
    blobs.put_bytes(b"first")  # a new folder: the file, the store's root and the folder
    assert len(fsyncs) == 3
    fsyncs.clear()
    sha, _ = blobs.put(io.BytesIO(b"first"))
    assert len(fsyncs) == 2  # written again to learn its digest: the file, then its folder
    fsyncs.clear()
    blobs.put_bytes(b"first")  # known: its folder is synced in case its writer has not yet
    assert len(fsyncs) == 1
    assert blobs.read(sha) == b"first"
