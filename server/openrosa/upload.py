"""Reading the multipart body of a submission POST into the manifest and its file parts.

Uses the `multipart` parser rather than werkzeug's form parser: werkzeug compiles two regular
expressions for every boundary, and since every request has a new boundary that alone cost
more than the rest of the parsing. Parts stay in memory up to 64 kB and spill to temporary
files beyond that; no part may exceed the configured part size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import multipart

from server import errors
from server.services.ingest import MANIFEST_PART, IncomingPart, check_file_name

MAX_PARTS = 1000  # far above any form's media count; bounds work on a hostile body


@dataclass
class Upload:
    """One POST: the manifest's bytes and the other file parts, in the order sent."""

    xml: bytes
    parts: list[IncomingPart]


@contextmanager
def read_upload(
    stream: IO[bytes],
    boundary: str | None,
    content_length: int | None,
    max_part_bytes: int,
    max_request_bytes: int,
) -> Iterator[Upload]:
    """The upload in `stream`; temporary files of large parts are removed when the block ends.

    Raises a Problem (400, 413) for a body that cannot be read, a part that is too large, a
    missing manifest or a hostile file name.
    """
    if not boundary:
        raise errors.bad_request("The multipart body has no boundary.")
    parser = multipart.MultipartParser(
        stream,
        boundary,
        content_length=content_length if content_length is not None else -1,
        charset="utf8",
        part_limit=MAX_PARTS,
        partsize_limit=max_part_bytes,
        disk_limit=max_request_bytes,
    )
    received: list[multipart.MultipartPart] = []
    try:
        try:
            received = list(parser)
        except multipart.ParserLimitReached:
            raise errors.too_large(max_part_bytes) from None
        except multipart.MultipartError as exc:
            raise errors.bad_request(f"The multipart body cannot be read: {exc}") from None
        yield _upload(received)
    finally:
        for part in received:
            part.close()


def _upload(received: list[multipart.MultipartPart]) -> Upload:
    xml: bytes | None = None
    parts: list[IncomingPart] = []
    for part in received:
        if part.filename is None:
            continue  # a plain form field, not a file: Collect sends none that matter
        if part.name == MANIFEST_PART:
            if xml is None:
                xml = part.raw
            continue
        # Collect names both the field and the file after the file; a client may set only one.
        # Both are checked, since a form parser may already have trimmed a path from one.
        check_file_name(part.name)
        name = check_file_name(part.filename or part.name)
        parts.append(IncomingPart(name, part.file, part.content_type))
    if xml is None:
        raise errors.missing_submission_file()
    return Upload(xml, parts)
