"""Media files of a submission for the web view (photos, signatures).

Plain submissions' files are served as stored. Encrypted submissions' files are decrypted on
the fly with the key ring, in memory, and never written to disk; when that cannot be done (the
key is locked, the file is missing) the page says the file is not viewable.

How a file is served is decided by its (decrypted) bytes, never by the name or type the phone
gave it: a few image, audio and video formats are shown, everything else is downloaded
(server/services/file_signature.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from crypto.decrypt import decrypt_stream, iv_for
from crypto.errors import CryptoError
from crypto.manifest import parse_manifest
from server import errors
from server.blobs import BlobStore
from server.services.file_signature import inline_type
from server.services.ingest import MANIFEST_PART
from server.services.keyring import KeyRing
from server.store.models import Submission, SubmissionPart

ENCRYPTED_SUFFIX = ".enc"
# Decrypted in memory to be sent: larger files are for `fieldcase decrypt`, not the browser.
MAX_VIEWABLE_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class MediaFile:
    """The bytes of one file and how to serve them."""

    name: str
    content: bytes
    # The allow-listed type its first bytes prove, or None: served as a download.
    inline_type: str | None

    @property
    def content_type(self) -> str:
        """The Content-Type to send: never one a browser would run or render as a page."""
        return self.inline_type or "application/octet-stream"


def _media_file(name: str, content: bytes) -> MediaFile:
    return MediaFile(name, content, inline_type(content))


def viewable(
    submission: Submission, parts: dict[str, SubmissionPart], name: str, keyring_locked: bool
) -> bool:
    """True when the page can show this file now."""
    if name == MANIFEST_PART:  # the submission's own XML: its data is shown by the page only
        return False
    if not submission.encrypted:
        return name in parts
    part = parts.get(name + ENCRYPTED_SUFFIX)
    return (
        part is not None
        and not keyring_locked
        and MANIFEST_PART in parts
        and part.size <= MAX_VIEWABLE_BYTES
    )


def read_media(
    submission: Submission,
    parts: dict[str, SubmissionPart],
    name: str,
    blobs: BlobStore,
    keyring: KeyRing,
    key_id: int | None,
) -> MediaFile:
    """One file of a submission, decrypted when needed; 404 when missing or not viewable.

    Call outside any store transaction: unlocking a key opens one of its own.
    """
    if not viewable(submission, parts, name, keyring.locked):
        raise errors.not_found("The file")
    if not submission.encrypted:
        return _media_file(name, blobs.read(parts[name].blob_sha256))
    enc_name = name + ENCRYPTED_SUFFIX
    try:
        manifest = parse_manifest(blobs.read(parts[MANIFEST_PART].blob_sha256))
    except CryptoError:
        raise errors.not_found("The file") from None
    if enc_name not in manifest.media:
        raise errors.not_found("The file")
    index = manifest.media.index(enc_name)
    for key in [key_id] if key_id is not None else keyring.all_key_ids():
        decryptor: Any = keyring.decryptor(key)
        if decryptor is None:
            continue
        try:
            aes_key = decryptor.unwrap_key(manifest.encrypted_key)
            sink = io.BytesIO()
            with blobs.open(parts[enc_name].blob_sha256) as source:
                decrypt_stream(
                    aes_key, iv_for(manifest.instance_id, aes_key, index), source, sink, enc_name
                )
        except CryptoError:
            continue
        return _media_file(name, sink.getvalue())
    raise errors.not_found("The file")
