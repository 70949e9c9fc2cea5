"""Refusing a workbook too large to be a form, before openpyxl or pyxform reads its cells.

A 5.4 MB .xlsx with 400,000 choice rows cost 48 s of CPU and 700 MB to compile; a 2 kB one
whose sheet says `<dimension ref="A1:XFD1048576"/>` or `<row r="1048576">` makes openpyxl
invent a million rows of 16,384 empty cells; a zip bomb unpacks to gigabytes. So before
anything else, and cheaply:
1. the zip directory alone (zipfile, nothing unpacked): at most `MAX_MEMBERS` files,
   `max_unpacked_bytes` in all (the sizes the directory declares bound what zipfile will
   unpack: a member that holds more fails its CRC check), and no member over 1 MiB
   compressed more than `MAX_RATIO` times;
2. each worksheet streamed (defusedxml's iterparse, each row emptied once counted, stopping
   at the first row over a limit): rows counted the way openpyxl counts them (a row's `r`
   attribute jumps over missing rows, which openpyxl fills in), columns by each row's last
   cell, and the sheet's declared `<dimension>` (openpyxl's read-only mode trusts it), against
   `max_rows` per sheet and `MAX_COLUMNS`, and rows x columns over all sheets against
   `MAX_CELLS` (many sheets each just under the limits).
Every member's root element is looked at, not only the worksheets the workbook lists, so a
sheet stored under another name is counted too. The real forms are far below every limit
(docs/configuration.md gives the figures).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from forms.errors import FormError

MAX_MEMBERS = 200  # an .xlsx from Excel or LibreOffice holds 10 to 30
MAX_COLUMNS = 200  # an XLSForm survey in five languages uses about 60
MAX_RATIO = 100  # XML compresses 5 to 20 times; a bomb a thousand
# Rows x columns over every sheet: what openpyxl fills in, and read_workbook then walks.
MAX_CELLS = 1_000_000
_RATIO_FLOOR = 1024 * 1024  # small members may compress any amount
_SHEET_ROOTS = frozenset({"worksheet", "dialogsheet"})
_CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d{1,7})")


@dataclass(frozen=True)
class WorkbookLimits:
    """How large an uploaded workbook may be (FIELDCASE_FORM_MAX_ROWS and _UNPACKED_BYTES)."""

    max_rows: int = 20_000
    max_unpacked_bytes: int = 32 * 1024 * 1024


class WorkbookTooLarge(FormError):
    """A workbook over a limit; `reason` is rows, columns, cells, unpacked, members or ratio."""

    def __init__(self, form: str, reason: str, limit: int, sheet: str = "") -> None:
        where = f" (sheet {sheet})" if sheet else ""
        super().__init__(form, f"workbook over the {reason} limit of {limit}{where}")
        self.reason = reason
        self.limit = limit
        self.sheet = sheet


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index


def _ref(value: str, form: str) -> tuple[int, int]:
    """(column, row) of a cell reference such as `B12`."""
    match = _CELL_REF.fullmatch(value.strip())
    if match is None:
        raise FormError(form, f"not a readable .xlsx file (cell reference {value[:20]!r})")
    return _column_index(match.group(1)), int(match.group(2))


def _last_column(row: Any, form: str) -> int:
    """The column openpyxl gives the row's last cell: its `r`, or one past the cell before."""
    cells = [child for child in row if _local(child.tag) == "c"]
    after = 0
    for cell in reversed(cells):
        ref = cell.get("r")
        if ref:
            return _ref(ref, form)[0] + after
        after += 1
    return after


def _row_number(given: str | None, previous: int, form: str) -> int:
    if given is None:
        return previous + 1
    if not (given.isascii() and given.isdigit() and len(given) <= 7):
        raise FormError(form, f"not a readable .xlsx file (row number {given[:20]!r})")
    return int(given)


def _is_worksheet(source: IO[bytes], form: str) -> bool:
    """True when the member's root element is a worksheet (read no further than that)."""
    try:
        for _event, element in SafeET.iterparse(source, events=("start",), forbid_dtd=True):
            return _local(element.tag) in _SHEET_ROOTS
    except SafeET.ParseError:
        return False  # not XML at all (an image, printer settings): not a worksheet
    except DefusedXmlException as exc:
        raise FormError(form, f"not a readable .xlsx file ({type(exc).__name__})") from None
    return False


def _check_sheet(
    source: IO[bytes], name: str, form: str, limits: WorkbookLimits
) -> tuple[int, int]:
    """(rows, columns) openpyxl would make of one worksheet; stops at the first row over a
    limit. Each row is emptied once counted: what stays is one empty element per row."""
    rows = columns = row_number = 0
    try:
        for _event, element in SafeET.iterparse(source, events=("end",), forbid_dtd=True):
            tag = element.tag
            if tag == "row" or tag.endswith("}row"):
                row_number = _row_number(element.get("r"), row_number, form)
                rows, columns = max(rows, row_number), max(columns, _last_column(element, form))
                element.clear()
            elif tag == "dimension" or tag.endswith("}dimension"):
                last_column, last_row = _ref((element.get("ref") or "A1").split(":")[-1], form)
                rows, columns = max(rows, last_row), max(columns, last_column)
            else:
                continue
            if rows > limits.max_rows:
                raise WorkbookTooLarge(form, "rows", limits.max_rows, name)
            if columns > MAX_COLUMNS:
                raise WorkbookTooLarge(form, "columns", MAX_COLUMNS, name)
    except (SafeET.ParseError, DefusedXmlException) as exc:
        raise FormError(form, f"not a readable .xlsx file ({type(exc).__name__})") from None
    return rows, columns


def _sheet_titles(archive: zipfile.ZipFile) -> dict[str, str]:
    """Member name -> sheet title, for messages (best effort: {} when it cannot be read)."""
    try:
        book = SafeET.fromstring(archive.read("xl/workbook.xml"), forbid_dtd=True)
        rels = SafeET.fromstring(archive.read("xl/_rels/workbook.xml.rels"), forbid_dtd=True)
    except (KeyError, SafeET.ParseError, DefusedXmlException, zipfile.BadZipFile):
        return {}
    targets = {rel.get("Id"): str(rel.get("Target", "")) for rel in rels}
    titles = {}
    for element in book.iter():
        if _local(element.tag) == "sheet":
            rel_id = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
            target = targets.get(rel_id, "").lstrip("/")
            member = target if target.startswith("xl/") else f"xl/{target}"
            titles[member] = str(element.get("name", ""))
    return titles


def check_workbook(path: Path, limits: WorkbookLimits, form: str | None = None) -> None:
    """Raise WorkbookTooLarge (or FormError for a broken file) unless `path` is within limits."""
    form = form or path.stem
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormError(form, f"not a readable .xlsx file ({type(exc).__name__})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise WorkbookTooLarge(form, "members", MAX_MEMBERS)
        if sum(member.file_size for member in members) > limits.max_unpacked_bytes:
            raise WorkbookTooLarge(form, "unpacked", limits.max_unpacked_bytes)
        for member in members:
            if member.file_size > _RATIO_FLOOR and member.file_size > MAX_RATIO * max(
                member.compress_size, 1
            ):
                raise WorkbookTooLarge(form, "ratio", MAX_RATIO)
        titles = _sheet_titles(archive)
        cells = 0
        for member in members:
            if member.is_dir():
                continue
            sheet = titles.get(member.filename, member.filename)
            try:
                with archive.open(member) as source:
                    if not _is_worksheet(source, form):
                        continue
                with archive.open(member) as source:
                    rows, columns = _check_sheet(source, sheet, form, limits)
            except (zipfile.BadZipFile, NotImplementedError, EOFError, ValueError) as exc:
                raise FormError(form, f"not a readable .xlsx file ({type(exc).__name__})") from None
            cells += rows * columns
            if cells > MAX_CELLS:
                raise WorkbookTooLarge(form, "cells", MAX_CELLS)
