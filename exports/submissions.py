"""Per-form export: a zip with one CSV for the form and one per repeat group, streamed.

Submissions are read a batch at a time in id order; main-table rows go straight into the zip,
repeat rows into temporary files that are copied into the zip at the end, so memory stays flat
however many submissions there are. Superseded and undecrypted submissions are left out.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from exports.csvsafe import SafeCsvWriter
from exports.entry_names import MEDIA_DIR, media_file_name, media_folder
from exports.files import atomic_output
from exports.layout import Column, Table, all_tables, build_layout, drop_columns
from forms.identifying import identifying_fields
from forms.labels import labels_for
from server.store import consent as consent_store
from server.store import forms as form_store
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.scope import UnitScope
from server.store.submissions import SubmissionFilter

MAIN_META = ("SubmissionDate",)
MAIN_TAIL = ("KEY", "SubmitterName", "ReviewState", "Signature", "FormVersion")
REPEAT_TAIL = ("PARENT_KEY", "KEY")
BATCH = 500


# A submission's media files as (plain name, bytes), decrypted when needed.
MediaSource = Callable[[int], Iterable[tuple[str, bytes]]]


@dataclass(frozen=True)
class ExportOptions:
    """How to write the values."""

    language: str | None = None  # None: codes; "vi" or "en": choice labels
    split_select_multiple: bool = False
    # Identifying (P3) columns are left out unless an admin asked for them, with a reason.
    include_identifiers: bool = False


@dataclass
class ExportSummary:
    """What an export wrote."""

    submissions: int
    files: list[str]


class _RowReader:
    """Reads a table's column values out of a submission's nested data.

    Columns are taken in runs that share a parent group, so each group is looked up once per
    row and each run is read in one pass (wide forms have hundreds of columns).
    """

    def __init__(self, columns: list[Column]) -> None:
        runs: list[tuple[tuple[str, ...], list[str]]] = []
        for column in columns:
            if runs and runs[-1][0] == column.parent:
                runs[-1][1].append(column.leaf)
            else:
                runs.append((column.parent, [column.leaf]))
        self.runs = [(parent, tuple(leaves)) for parent, leaves in runs]

    def values(self, data: Any) -> list[Any]:
        """Each column's value as stored, in column order (None where the row has none).

        Cells go to `SafeCsvWriter` as they are: it writes None as an empty cell and a
        nested group or list (data that does not fit the layout) as an empty cell too."""
        found: list[Any] = []
        for parent, leaves in self.runs:
            node = data
            for part in parent:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                found += map(node.get, leaves)
            else:
                found += [None] * len(leaves)
        return found


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _headers(table: Table, options: ExportOptions) -> list[str]:
    headers = []
    for column in table.columns:
        headers.append(column.header)
        if options.split_select_multiple and column.kind == "select":
            headers += [f"{column.header}/{choice}" for choice in column.choices]
    return headers


def _cells(
    table: Table,
    readers: dict[str, _RowReader],
    row_data: Any,
    options: ExportOptions,
    display: Callable[[Column, str], str],
) -> list[Any]:
    values = readers[table.path].values(row_data)
    if options.language is None and not options.split_select_multiple:
        return values
    cells: list[Any] = []
    for column, value in zip(table.columns, values, strict=True):
        text = _text(value)
        cells.append(display(column, text) if options.language and text else text)
        if options.split_select_multiple and column.kind == "select":
            chosen = set(text.split())
            cells += [1 if choice in chosen else 0 for choice in column.choices]
    return cells


class _RepeatFiles:
    """One temporary CSV per repeat table."""

    def __init__(self, tables: list[Table], options: ExportOptions, folder: Path) -> None:
        self.handles: dict[str, IO[str]] = {}
        self.writers: dict[str, SafeCsvWriter] = {}
        for table in tables:
            handle = (folder / f"{table.name}.csv").open("w", encoding="utf-8", newline="")
            self.handles[table.path] = handle
            writer = SafeCsvWriter(handle)
            writer.writerow([*_headers(table, options), *REPEAT_TAIL])
            self.writers[table.path] = writer

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


def _repeat_rows(
    table: Table,
    parent_data: Any,
    parent_key: str,
    files: _RepeatFiles,
    readers: dict[str, _RowReader],
    options: ExportOptions,
    display: Callable[[Column, str], str],
) -> None:
    for child in table.children:
        name = child.path.rsplit("/", 1)[-1]
        relative = child.path[len(table.path) + 1 :] if table.path else child.path
        container: Any = parent_data
        for part in relative.split("/")[:-1]:
            container = container.get(part, {}) if isinstance(container, dict) else {}
        items = container.get(name, []) if isinstance(container, dict) else []
        if isinstance(items, dict):
            items = [items]
        for index, item in enumerate(items, start=1):
            key = f"{parent_key}/{name}[{index}]"
            files.writers[child.path].writerow(
                [*_cells(child, readers, item, options, display), parent_key, key]
            )
            _repeat_rows(child, item, key, files, readers, options, display)


def _batches(
    store: Store,
    scope: UnitScope,
    form_pk: int,
    filters: SubmissionFilter,
    form_version_id: int | None,
    identifying: bool = False,
) -> Iterator[Any]:
    """Every submission to export, a batch at a time. With identifying columns, those of a
    case with a person whose identity is withheld (intake consent withdrawn, refused or not
    valid: forms/consent.py WITHHOLDING) are left out."""
    after = 0
    while True:
        with store.reader() as session:
            rows = submission_store.export_batch(
                session, scope, form_pk, filters, after, BATCH, form_version_id
            )
            codes = {row.case_code for row in rows if row.case_code}
            withheld = (
                {code for code, _ in consent_store.persons_withholding(session.connection(), codes)}
                if identifying and codes
                else set()
            )
        if not rows:
            return
        yield from (row for row in rows if row.case_code not in withheld)
        after = rows[-1].id


def export_form(
    store: Store,
    form_id: str,
    out: IO[bytes],
    *,
    scope: UnitScope,
    filters: SubmissionFilter | None = None,
    form_version: str | None = None,
    options: ExportOptions | None = None,
    progress: Callable[[int], None] | None = None,
    media: MediaSource | None = None,
) -> ExportSummary:
    """Write the zip of one form's submissions to `out` (a binary file object)."""
    options = options or ExportOptions()
    filters = filters or SubmissionFilter()
    with store.reader() as session:
        form = form_store.by_xml_form_id(session, form_id)
        if form is None:
            raise LookupError(f"no form {form_id!r} is published")
        version = (
            form_store.version(session, form.id, form_version)
            if form_version
            else form_store.current_version(session, form.id)
        )
        if version is None:
            raise LookupError(f"form {form_id!r} has no version {form_version!r}")
        form_pk, xml, version_pk = form.id, version.xml, version.id
        version_names = {v.id: v.version for v in form_store.versions(session, form.id)}
        identifying = identifying_fields(version.fields)
    layout = build_layout(xml, form_id)
    if not options.include_identifiers:
        drop_columns(layout, lambda column: column.path.rsplit("/", 1)[-1] in identifying)
    labels = labels_for(xml)

    def display(column: Column, value: str) -> str:
        if options.language is None:
            return value
        return labels.display(column.path, value, options.language)

    count = 0
    with_media: list[tuple[int, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="fieldcase-export-") as tmp,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        repeat_tables = all_tables(layout)[1:]
        readers = {table.path: _RowReader(table.columns) for table in all_tables(layout)}
        repeats = _RepeatFiles(repeat_tables, options, Path(tmp))
        try:
            with archive.open(f"{layout.name}.csv", "w", force_zip64=True) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                writer = SafeCsvWriter(text)
                writer.writerow([*MAIN_META, *_headers(layout, options), *MAIN_TAIL])
                for row in _batches(
                    store,
                    scope,
                    form_pk,
                    filters,
                    version_pk if form_version else None,
                    identifying=options.include_identifiers,
                ):
                    data = row.data or {}
                    writer.writerow(
                        [
                            iso_utc(row.received_at),
                            *_cells(layout, readers, data, options, display),
                            row.instance_id,
                            row.collector_name or "",
                            row.review_state,
                            row.signature or "",
                            version_names.get(row.form_version_id, ""),
                        ]
                    )
                    _repeat_rows(layout, data, row.instance_id, repeats, readers, options, display)
                    if media is not None:
                        with_media.append((row.id, row.instance_id))
                    count += 1
                    if progress and count % BATCH == 0:
                        progress(count)
                text.flush()
                text.detach()
        finally:
            repeats.close()
        for table in repeat_tables:
            with (
                (Path(tmp) / f"{table.name}.csv").open("rb") as source,
                archive.open(f"{table.name}.csv", "w", force_zip64=True) as target,
            ):
                shutil.copyfileobj(source, target, 1024 * 1024)
        if media is not None and with_media:
            _write_media(archive, with_media, media)
    if progress:
        progress(count)
    return ExportSummary(count, [f"{t.name}.csv" for t in all_tables(layout)])


def _write_media(
    archive: zipfile.ZipFile, with_media: list[tuple[int, str]], media: MediaSource
) -> None:
    """Each submission's files under a folder named from its instanceID, never by it
    (exports/entry_names.py), and `media/index.csv` to match the folders to their rows."""
    index: list[tuple[str, str]] = []
    for submission_id, instance_id in with_media:
        folder = media_folder(instance_id)
        used: set[str] = set()
        for name, content in media(submission_id):
            entry = media_file_name(name)
            stem, dot, extension = entry.rpartition(".")
            count = 1
            while entry in used:  # x.jpg and x.jpg.enc of one plain submission, say
                count += 1
                entry = f"{stem}-{count}.{extension}" if dot else f"{extension}-{count}"
            used.add(entry)
            archive.writestr(f"{folder}/{entry}", content)
            index.append((instance_id, f"{folder}/{entry}"))
    if index:
        with archive.open(f"{MEDIA_DIR}/index.csv", "w") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = SafeCsvWriter(text)
            writer.writerow(["KEY", "file"])
            for row in index:
                writer.writerow(list(row))
            text.flush()
            text.detach()


def iso_utc(moment: datetime) -> str:
    """A timestamp as ISO 8601 in UTC (SQLite gives naive datetimes, which are UTC here)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_form_to_file(store: Store, form_id: str, path: Path, **kwargs: Any) -> ExportSummary:
    """`export_form` into a file that appears only when complete."""
    with atomic_output(path) as handle:
        return export_form(store, form_id, handle, **kwargs)
