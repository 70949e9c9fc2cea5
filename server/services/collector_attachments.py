"""Form attachments as one collector downloads them.

A form version carries its media files (`form_attachments`), the same for every phone. Some
files are per collector: the form carries a placeholder under that name (so the form validates
and works anywhere), and when a collector asks for the manifest or the file, the server answers
with that collector's own content and its MD5. Collect compares the MD5 of each manifest entry
with the file it holds, so a phone fetches its file again whenever its content changes (its
unit, its province's hotline), with no new form version.

Files are registered by name in `REGISTRY`; a builder gets what is known of the collector and
returns the file's bytes. Only files the form version carries are replaced: a form that does
not read `collector.csv` never gets one.

- `collector.csv` (read by the forms through `csv-external collector`): the collector's unit
  code, its province and commune, and its province's hotline (FIELDCASE_PROVINCE_HOTLINES). The
  forms default their province and commune questions to it and check the answers against it,
  as the unit rule (server/services/units.py) will.
- `cases.csv` (read by vt02-vt05 through `select_one_from_file cases.csv`): the cases assigned
  to this collector, open or closed within the grace period, inside its unit, one row each
  (server/services/case_assignments.py). Made from the store at each request, so its MD5
  changes as soon as a case is added, assigned, visited or closed.

Nothing here names a person: a collector sees only its own unit and its own cases.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from sqlalchemy import Connection

from forms.admin_units import shipped as shipped_units
from server import errors
from server.blobs import BlobStore
from server.config import Config
from server.services import case_assignments, units
from server.store import collectors as collector_store
from server.store import forms as form_store
from server.store.db import Store

COLLECTOR_FILE = "collector.csv"
COLLECTOR_COLUMNS = ("unit_code", "province_code", "commune_code", "province_hotline")


@dataclass(frozen=True)
class CollectorContext:
    """What a per-collector file may be made of."""

    collector_id: int
    unit_code: str | None
    unit: units.Unit | None  # the unit it acts in (None: no unit)
    config: Config
    connection: Connection  # to read what the file lists, at this moment


Builder = Callable[[CollectorContext], bytes]


@dataclass(frozen=True)
class ServedFile:
    """One manifest entry and how to read its bytes."""

    name: str
    md5: str
    content_type: str
    blob_sha256: str | None = None  # a stored attachment, the same for everyone
    content: bytes | None = None  # made for this collector

    def open(self, blobs: BlobStore) -> IO[bytes]:
        """The file's bytes, to send."""
        if self.content is not None:
            return io.BytesIO(self.content)
        return blobs.open(self.blob_sha256 or "")


def _csv(rows: list[tuple[str, ...]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def collector_csv(context: CollectorContext) -> bytes:
    """`collector.csv`: the collector's unit, its province and commune, its province's hotline.

    A collector without a unit, or of a commune the admin units list does not hold, gets empty
    values where nothing is known: the forms then default to nothing and check nothing."""
    unit = context.unit
    province = (unit.province if unit else None) or ""
    commune = (unit.commune if unit else None) or ""
    hotline = context.config.province_hotlines.get(province, "") if province else ""
    unit_code = (context.unit_code or "").strip() if unit is not units.NOWHERE else ""
    return _csv([COLLECTOR_COLUMNS, (unit_code, province, commune, hotline)])


def cases_csv(context: CollectorContext) -> bytes:
    """`cases.csv`: the cases assigned to the collector, as its phone lists them."""
    return case_assignments.cases_file(
        context.connection,
        context.collector_id,
        context.unit_code,
        context.config.caselist_closed_grace_days,
        with_initials=context.config.caselist_initials,
    )


REGISTRY: dict[str, Builder] = {
    COLLECTOR_FILE: collector_csv,
    case_assignments.CASES_FILE: cases_csv,
}


def _context(connection: Connection, config: Config, collector_id: int) -> CollectorContext:
    unit_code = collector_store.unit_codes(connection, [collector_id]).get(collector_id)
    return CollectorContext(
        collector_id, unit_code, units.acting_unit(unit_code, shipped_units()), config, connection
    )


def _made(name: str, content: bytes) -> ServedFile:
    md5 = hashlib.md5(content).hexdigest()  # noqa: S324 - OpenRosa manifest hash
    return ServedFile(name, md5, "text/csv", content=content)


def manifest(
    store: Store, config: Config, collector_id: int, form_version_id: int
) -> list[ServedFile]:
    """The media files of a form version as this collector gets them, by name."""
    with store.reader() as session:
        stored = list(form_store.attachments(session, form_version_id))
    files = []
    made = [attachment for attachment in stored if attachment.name in REGISTRY]
    built: dict[str, ServedFile] = {}
    if made:
        with store.read() as connection:
            context = _context(connection, config, collector_id)
            for attachment in made:
                built[attachment.name] = _made(attachment.name, REGISTRY[attachment.name](context))
    for attachment in stored:
        if attachment.name in built:
            files.append(built[attachment.name])
            continue
        files.append(
            ServedFile(
                attachment.name,
                attachment.md5,
                attachment.content_type,
                blob_sha256=attachment.blob_sha256,
            )
        )
    return files


def attachment(
    store: Store, config: Config, collector_id: int, form_version_id: int, name: str
) -> ServedFile:
    """One media file of a form version as this collector gets it; 404 when there is none."""
    with store.reader() as session:
        stored = form_store.attachment(session, form_version_id, name)
    if stored is None:
        raise errors.not_found("The form attachment")
    builder = REGISTRY.get(stored.name)
    if builder is None:
        return ServedFile(
            stored.name, stored.md5, stored.content_type, blob_sha256=stored.blob_sha256
        )
    with store.read() as connection:
        return _made(stored.name, builder(_context(connection, config, collector_id)))
