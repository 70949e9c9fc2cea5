"""Faults during ingest: a full disk refuses cleanly and keeps nothing half-written."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import func, select

from server.blobs import BlobStoreUnavailable, FileBlobStore, Staged
from server.store.models import Submission
from tests.factories import Deployment, plain_instance, post_submission, services_of


class FullDisk(FileBlobStore):
    """A blob store whose disk fills up after `room` bytes (ENOSPC from the write)."""

    def __init__(self, root: Path, room: int) -> None:
        super().__init__(root)
        self.room = room

    def put(self, source: BinaryIO, limit: int | None = None) -> tuple[str, int]:
        return self.put_bytes(source.read())

    def put_bytes(self, data: bytes, staged: Staged | None = None) -> tuple[str, int]:
        if len(data) > self.room:
            # What the kernel does when the disk fills mid-write.
            raise_enospc(self.root)
        self.room -= len(data)
        return super().put_bytes(data, staged)


def raise_enospc(root: Path) -> None:
    import os

    from server.blobs import BlobStoreUnavailable

    raise BlobStoreUnavailable(os.strerror(errno.ENOSPC))


def test_disk_full_is_503_and_nothing_is_recorded(deployment: Deployment) -> None:
    services = services_of(deployment.app)
    full = FullDisk(services.config.blob_dir, room=2000)
    services.blobs = full
    services.ingest.blobs = full
    response = post_submission(
        deployment.client, deployment.url_prefix, plain_instance(), {"photo.jpg": b"x" * 5000}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert "Nothing was stored" in response.get_data(as_text=True)
    with services.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0
    leftovers = (
        list((services.config.blob_dir / "tmp").glob("*"))
        if (services.config.blob_dir / "tmp").exists()
        else []
    )
    assert leftovers == []


class FailingSettle(FileBlobStore):
    """A blob store whose disk reports a write error when staged blobs are settled."""

    def settle(self, batch: Sequence[Staged]) -> None:
        raise BlobStoreUnavailable(os.strerror(errno.EIO))


def test_parts_that_cannot_be_made_durable_are_503_and_nothing_is_recorded(
    deployment: Deployment,
) -> None:
    services = services_of(deployment.app)
    services.ingest.blobs = FailingSettle(services.config.blob_dir)
    response = post_submission(
        deployment.client, deployment.url_prefix, plain_instance(), {"photo.jpg": b"x" * 5000}
    )
    assert response.status_code == 503
    assert "Nothing was stored" in response.get_data(as_text=True)
    with services.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 0
    assert list((services.config.blob_dir / "tmp").glob("*")) == []  # the staged files too


@pytest.fixture
def small_disk(deployment: Deployment) -> Iterator[Path]:
    """The blob directory on a real 256 kB tmpfs (root only), so writes really hit ENOSPC."""
    blob_dir = services_of(deployment.app).config.blob_dir
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root; the simulated full disk test still runs")
    blob_dir.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(blob_dir)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield blob_dir
    finally:
        services_of(deployment.app).blobs.close()  # its descriptor would keep the mount busy
        subprocess.run(["umount", str(blob_dir)], check=True)


def test_really_full_disk(deployment: Deployment, small_disk: Path) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    first = post_submission(
        client, prefix, plain_instance(instance_id="uuid:fits"), {"small.jpg": b"s" * 10_000}
    )
    assert first.status_code == 201
    refused = post_submission(
        client, prefix, plain_instance(instance_id="uuid:too-big"), {"big.jpg": os.urandom(400_000)}
    )
    assert refused.status_code == 503
    services = services_of(deployment.app)
    with services.store.session() as session:
        ids = set(session.scalars(select(Submission.instance_id)))
    assert ids == {"uuid:fits"}
    assert list((small_disk / "tmp").iterdir()) == []
    # The disk has room again once the refused upload is gone: the same phone retries.
    retry = post_submission(
        client, prefix, plain_instance(instance_id="uuid:retry"), {"small.jpg": b"t" * 10_000}
    )
    assert retry.status_code == 201
