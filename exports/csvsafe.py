"""CSV that Excel opens correctly and that cannot smuggle formulas.

UTF-8 with a byte-order mark, so Excel shows Vietnamese text; any text cell a spreadsheet would
read as a formula (starting with =, +, -, @, a tab or a carriage return) gets a leading
apostrophe, which spreadsheets show as text. None is an empty cell, and so is a nested
structure (a dict or list is not a cell value). Numbers stored as numbers (counts, amounts, even
negative ones) are left alone: only strings are neutralised, and a string that is a plain
number ("-5", "+84") is left as it is, since it cannot run anything.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from typing import IO, Any

BOM = "\ufeff"
_FORMULA_START = frozenset("=+-@\t\r")
# Not cell values: written empty rather than as Python's rendering of them.
_NESTED = (dict, list, tuple, set)
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)?$")


def neutralise(value: Any) -> Any:
    """The value as it may go into a cell: formula-looking text gets a leading apostrophe."""
    # Checked on every cell of large exports: the cheap tests come first.
    if (
        type(value) is str
        and value
        and value[0] in _FORMULA_START
        and not _PLAIN_NUMBER.match(value.strip())
    ):
        return "'" + value
    return value


def _not_text(value: Any) -> Any:
    """A cell that is not a string: None and nested structures are empty; a float that is not
    a finite number is written as neutralised text ("-inf" could be read as a formula)."""
    if value is None or isinstance(value, _NESTED):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return neutralise(str(value))
    return value


class SafeCsvWriter:
    """A csv writer that neutralises every cell; the BOM is written first."""

    def __init__(self, stream: IO[str]) -> None:
        stream.write(BOM)
        self._writer = csv.writer(stream, lineterminator="\r\n")

    def writerow(self, row: Sequence[Any]) -> None:
        """Write one row."""
        # Most cells are plain text that starts with no formula character: only those that
        # do are passed to `neutralise` (wide exports write tens of millions of cells).
        self._writer.writerow(
            [
                (neutralise(cell) if cell[:1] in _FORMULA_START else cell)
                if type(cell) is str
                else _not_text(cell)
                for cell in row
            ]
        )

    def writerows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write many rows."""
        for row in rows:
            self.writerow(row)


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """A whole safe CSV document as text (for small tables)."""
    buffer = io.StringIO()
    SafeCsvWriter(buffer).writerows(rows)
    return buffer.getvalue()
