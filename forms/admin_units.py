"""The administrative units list the forms attach (`media/admin_units.csv`), as a lookup.

The server needs one fact from it: which province a commune belongs to (a commune-level
collector acts in its commune *and* that commune's province; a province-level collector may
name only communes of its own province). The file is built from the official list by
`forms/admin_units_source.py` (`fieldcase forms units --from FILE`); everything about its layout
that this module needs is in the names below, so a list with other columns is one edit here.
Only those two columns are read; the others (`label`, `level`, `unit_type`) are the forms'.

A commune the list does not hold has no known province: callers treat that as "unknown" and
never guess (`province_of` returns None).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent / "media" / "admin_units.csv"

# The columns read, as ODK's select_one_from_file names them in the forms' attachment.
CODE_COLUMN = "name"  # the official code: 2 digits for a province, 5 for a commune
PARENT_COLUMN = "province_code"  # a commune's province code; empty for a province

PROVINCE_CODE_LENGTH = 2
COMMUNE_CODE_LENGTH = 5


class AdminUnitsError(ValueError):
    """The list cannot be read: a column is missing or a row contradicts another."""


def is_province_code(code: str | None) -> bool:
    """True for a 2-digit province code."""
    return bool(code) and len(code or "") == PROVINCE_CODE_LENGTH and (code or "").isdigit()


def is_commune_code(code: str | None) -> bool:
    """True for a 5-digit commune code."""
    return bool(code) and len(code or "") == COMMUNE_CODE_LENGTH and (code or "").isdigit()


@dataclass(frozen=True)
class AdminUnits:
    """Provinces and the province of each commune, by official code."""

    provinces: frozenset[str] = frozenset()
    commune_province: dict[str, str] = field(default_factory=dict)

    def province_of(self, commune_code: str) -> str | None:
        """The province of a commune, or None when the list does not hold the commune."""
        return self.commune_province.get(commune_code)

    def knows(self, code: str) -> bool:
        """True when the code is a province or a commune of the list."""
        return code in self.provinces or code in self.commune_province


def parse(text: str) -> AdminUnits:
    """The units of a CSV text (UTF-8 already decoded; a byte-order mark is ignored)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in (CODE_COLUMN, PARENT_COLUMN) if c not in (reader.fieldnames or [])]
    if missing:
        raise AdminUnitsError(f"the admin units list has no column {missing[0]!r}")
    provinces: set[str] = set()
    communes: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        code = (row.get(CODE_COLUMN) or "").strip()
        parent = (row.get(PARENT_COLUMN) or "").strip()
        if not code:
            continue
        if is_commune_code(code) and is_province_code(parent):
            if communes.get(code, parent) != parent:
                raise AdminUnitsError(f"line {line}: commune {code} is listed in two provinces")
            communes[code] = parent
        elif is_province_code(code) and not parent:
            provinces.add(code)
        else:
            raise AdminUnitsError(f"line {line}: {code!r} is neither a province nor a commune")
    return AdminUnits(frozenset(provinces), communes)


def load(path: Path = DEFAULT_PATH) -> AdminUnits:
    """The units of a CSV file."""
    return parse(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def shipped() -> AdminUnits:
    """The list attached to the forms (read once per process)."""
    return load(DEFAULT_PATH)
