"""Publishing a new form version from an uploaded XLSForm (.xlsx), from the admin page.

The forms package compiles it (pyxform) with the server's active public key and validates it
(ODK Validate); its errors go back to the page as they are, so the admin can fix the sheet.
A workbook too large to be a form (rows, columns, unpacked size, a zip bomb) is refused before
any cell is read (forms/limits.py), with a message in the page's language.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from forms.compiler import compile_form
from forms.errors import FormError
from forms.limits import WorkbookLimits, WorkbookTooLarge
from server import errors
from server.blobs import BlobStore
from server.config import Config
from server.services.forms import PublishResult, publish_compiled
from server.store import keys as key_store

MAX_XLSX_BYTES = 10 * 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"


# English msgids (translated in server/translations, listed in server/web/i18n.py).
_TOO_LARGE = {
    "rows": "Sheet %(sheet)s has more than %(limit)d rows. A form may have at most %(limit)d rows "
    "per sheet.",
    "columns": "Sheet %(sheet)s has more than %(limit)d columns. A form may have at most "
    "%(limit)d columns per sheet.",
    "cells": "The workbook has more than %(limit)d cells in all. Make its sheets smaller.",
    "unpacked": "The workbook unpacks to more than %(limit)s MB. A form may unpack to at most "
    "%(limit)s MB.",
    "members": "The workbook holds more than %(limit)d files; an .xlsx form holds far fewer.",
    "ratio": "The workbook is compressed more than %(limit)d times over, as a zip bomb is; it "
    "was not opened.",
}


def workbook_limits(config: Config) -> WorkbookLimits:
    """The upload limits the settings give (FIELDCASE_FORM_MAX_ROWS, _UNPACKED_BYTES)."""
    return WorkbookLimits(
        max_rows=config.form_max_rows, max_unpacked_bytes=config.form_max_unpacked_bytes
    )


def _too_large(exc: WorkbookTooLarge) -> errors.Problem:
    limit: int | str = exc.limit
    if exc.reason == "unpacked":
        limit = f"{round(exc.limit / (1024 * 1024), 1):g}"
    return errors.validation_failed(
        _TOO_LARGE[exc.reason],
        details={"limit": exc.reason},
        message_args={"sheet": exc.sheet, "limit": limit},
    )


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
    limits: WorkbookLimits | None = None,
) -> UploadResult:
    """Compile, validate and publish an XLSForm; raises a Problem with the compiler's message.

    `limits` default to forms/limits.py's; the web page passes the configured ones."""
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
                path,
                public_key=key.public_key_b64,
                submission_url=submission_url,
                validate=True,
                limits=limits,
            )
        except WorkbookTooLarge as exc:
            raise _too_large(exc) from None
        except FormError as exc:
            raise errors.validation_failed(f"The form has errors: {exc}") from None
    published = publish_compiled(
        session, blobs, compiled, actor, source_sha256=hashlib.sha256(content).hexdigest()
    )
    return UploadResult(published, [str(w) for w in (compiled.warnings or [])])
