"""Publishing a new form version from an uploaded XLSForm (.xlsx), from the admin page.

The forms package compiles it (pyxform) with the server's active public key and validates it
(ODK Validate); its errors go back to the page as they are, so the admin can fix the sheet.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from forms.compiler import compile_form
from forms.errors import FormError
from server import errors
from server.blobs import BlobStore
from server.services.forms import PublishResult, publish_compiled
from server.store import keys as key_store

MAX_XLSX_BYTES = 10 * 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"


@dataclass
class UploadResult:
    """A published version and the compiler's warnings."""

    published: PublishResult
    warnings: list[str] = field(default_factory=list)


def upload_xlsform(
    session: Session,
    blobs: BlobStore,
    content: bytes,
    actor: str,
    submission_url: str | None = None,
) -> UploadResult:
    """Compile, validate and publish an XLSForm; raises a Problem with the compiler's message."""
    if not content:
        raise errors.validation_failed("Choose an .xlsx file to upload.")
    if len(content) > MAX_XLSX_BYTES:
        raise errors.validation_failed("The file is larger than 10 MB.")
    if not content.startswith(XLSX_MAGIC):
        raise errors.validation_failed("The file is not an .xlsx workbook.")
    key = key_store.active(session)
    if key is None:
        raise errors.validation_failed("The server has no key pair yet: run fieldcase init.")
    with tempfile.TemporaryDirectory(prefix="fieldcase-upload-") as tmp:
        path = Path(tmp) / "form.xlsx"
        path.write_bytes(content)
        try:
            compiled = compile_form(
                path, public_key=key.public_key_b64, submission_url=submission_url, validate=True
            )
        except FormError as exc:
            raise errors.validation_failed(f"The form has errors: {exc}") from None
    published = publish_compiled(
        session, blobs, compiled, actor, source_sha256=hashlib.sha256(content).hexdigest()
    )
    return UploadResult(published, [str(w) for w in (compiled.warnings or [])])
