"""Reading an XLSForm workbook into the sheets pyxform takes, and the content it is made of.

Only cell values count: saving the same content again (new timestamps, styles) gives the same
content hash, so the same form version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from forms.errors import FormError

Row = dict[str, Any]


@dataclass(frozen=True)
class Workbook:
    """The sheets of an XLSForm as lists of rows (dicts keyed by header)."""

    name: str
    sheets: dict[str, list[Row]]

    @property
    def settings(self) -> Row:
        """The first settings row (empty when there is none)."""
        rows = self.sheets.get("settings") or [{}]
        return dict(rows[0])

    def content_hash(self, *extra: bytes) -> str:
        """SHA-256 of the cell values (and any extra bytes, such as attachments)."""
        digest = hashlib.sha256()
        canonical = json.dumps(self.sheets, sort_keys=True, ensure_ascii=False, default=str)
        digest.update(canonical.encode("utf-8"))
        for chunk in extra:
            digest.update(hashlib.sha256(chunk).digest())
        return digest.hexdigest()


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip()
    return value


def read_workbook(path: Path) -> Workbook:
    """The survey, choices and settings sheets of an .xlsx file, blank rows dropped."""
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not xlsx
        raise FormError(path.name, f"not a readable .xlsx file ({type(exc).__name__})") from exc
    sheets: dict[str, list[Row]] = {}
    try:
        for sheet in book.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if not header:
                continue
            names = [str(h).strip() if h is not None else "" for h in header]
            table: list[Row] = []
            for values in rows:
                row = {
                    name: _cell(value)
                    for name, value in zip(names, values, strict=False)
                    if name and value is not None and _cell(value) != ""
                }
                if row:
                    table.append(row)
            sheets[sheet.title.strip().lower()] = table
    finally:
        book.close()
    if "survey" not in sheets:
        raise FormError(path.name, "the workbook has no survey sheet")
    return Workbook(path.stem, sheets)
