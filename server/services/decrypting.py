"""Decrypting a stored submission: parts come from the blob store, nothing is written to disk.

The XML is decrypted into memory (it becomes the parsed data); media are decrypted only to
check the signature and are not kept in plaintext (they are decrypted again when viewed).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO

from crypto.decrypt import XML_NAME, Decryptor
from crypto.errors import WrongKeyError
from crypto.manifest import Manifest
from server.blobs import BlobStore


class _Discard(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return len(data)


def decrypt_stored(
    decryptors: Sequence[Decryptor],
    manifest: Manifest,
    parts: dict[str, str],
    blobs: BlobStore,
    in_memory: dict[str, bytes] | None = None,
) -> tuple[bytes, str]:
    """(plaintext XML, signature result) with the first decryptor whose key fits.

    Parts in `in_memory` (just received, already stored) are read from there, the others from
    the blob store.

    Raises WrongKeyError when no key fits, and the crypto errors of a file that does not
    decrypt.
    """
    last: WrongKeyError | None = None
    for decryptor in decryptors:
        xml = io.BytesIO()

        @contextmanager
        def write(name: str, xml: io.BytesIO = xml) -> Iterator[BinaryIO]:
            yield xml if name == XML_NAME else _Discard()  # type: ignore[misc]

        def open_part(name: str) -> BinaryIO | None:
            if in_memory and name in in_memory:
                return io.BytesIO(in_memory[name])
            sha = parts.get(name)
            return blobs.open(sha) if sha else None

        try:
            result = decryptor.decrypt_submission(manifest, open_part, write)
        except WrongKeyError as exc:
            last = exc
            continue
        return xml.getvalue(), result.signature
    raise last or WrongKeyError("no server key is available")


def decrypt_media(
    decryptor: Decryptor, manifest: Manifest, parts: dict[str, str], blobs: BlobStore, wanted: str
) -> bytes:
    """One media file's plaintext (for viewing), by its plain name."""
    out = io.BytesIO()

    @contextmanager
    def write(name: str) -> Iterator[BinaryIO]:
        yield out if name == wanted else _Discard()  # type: ignore[misc]

    def open_part(name: str) -> BinaryIO | None:
        sha = parts.get(name)
        return blobs.open(sha) if sha else None

    decryptor.decrypt_submission(manifest, open_part, write)
    return out.getvalue()
