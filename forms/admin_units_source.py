"""Building the forms' administrative units attachment from an official list.

The official list (`level,code,type,name,province_code`: the provinces and commune-level units
of QĐ 19/2025/QĐ-TTg, as in `shared/domain/admin_units_2025.csv`) is public reference data. The
forms attach `media/admin_units.csv`, made from it by `build` (`fieldcase forms units --from
FILE`), never by hand, so a new official list is loaded the same way.

The attachment has the columns ODK's `select_one_from_file` and a `choice_filter` use:

- `name`: the official code (2 digits for a province, 5 for a commune), the stored answer;
- `label`: the type and the name as people write them ("Phường Ba Đình", "Tỉnh Cao Bằng");
- `level`: `province` or `commune`;
- `province_code`: a commune's province; empty for a province;
- `unit_type`: `tinh`, `thanh_pho`, `xa`, `phuong` or `dac_khu`.

A list that cannot be trusted (a commune of a province the list does not hold, a code of the
wrong shape, a code listed twice, an unknown unit type) is refused with the line that is wrong,
and nothing is written.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from forms.admin_units import DEFAULT_PATH, AdminUnitsError, is_commune_code, is_province_code

SOURCE_COLUMNS = ("level", "code", "type", "name", "province_code")
ATTACHMENT_COLUMNS = ("name", "label", "level", "province_code", "unit_type")
PROVINCE, COMMUNE = "province", "commune"
# The unit types of the 2025 two-level local government, by level, as the list writes them.
UNIT_TYPES = {
    PROVINCE: {"Tỉnh": "tinh", "Thành phố": "thanh_pho"},
    COMMUNE: {"Xã": "xa", "Phường": "phuong", "Đặc khu": "dac_khu"},
}


@dataclass(frozen=True)
class OfficialUnit:
    """One unit of the official list."""

    level: str
    code: str
    type: str
    name: str
    province_code: str

    @property
    def label(self) -> str:
        """What the phone shows: the type, then the name."""
        return f"{self.type} {self.name}"

    @property
    def unit_type(self) -> str:
        """The type as an ASCII code."""
        return UNIT_TYPES[self.level][self.type]


@dataclass(frozen=True)
class BuildSummary:
    """What was written: how many provinces and communes, communes by type."""

    path: Path
    provinces: int
    communes: int
    commune_types: dict[str, int]


def _nfc(value: str | None) -> str:
    return unicodedata.normalize("NFC", (value or "").strip())


def read_official(text: str) -> list[OfficialUnit]:
    """The units of an official list (CSV text); AdminUnitsError naming the line when wrong."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in SOURCE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise AdminUnitsError(f"the official list has no column {missing[0]!r}")
    units: list[OfficialUnit] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        unit = OfficialUnit(*(_nfc(row.get(column)) for column in SOURCE_COLUMNS))
        if not any((unit.level, unit.code, unit.name)):
            continue  # a blank line
        if unit.level not in UNIT_TYPES:
            raise AdminUnitsError(
                f"line {line}: level {unit.level!r} is neither {PROVINCE!r} nor {COMMUNE!r}"
            )
        shape_ok = (
            is_province_code(unit.code) if unit.level == PROVINCE else is_commune_code(unit.code)
        )
        if not shape_ok:
            digits = 2 if unit.level == PROVINCE else 5
            raise AdminUnitsError(
                f"line {line}: a {unit.level} code has {digits} digits, not {unit.code!r}"
            )
        if unit.type not in UNIT_TYPES[unit.level]:
            known = ", ".join(UNIT_TYPES[unit.level])
            raise AdminUnitsError(
                f"line {line}: {unit.code} has the type {unit.type!r}; a {unit.level} is one of "
                f"{known} (a new type needs a code in forms/admin_units_source.py)"
            )
        if not unit.name:
            raise AdminUnitsError(f"line {line}: {unit.code} has no name")
        if unit.level == PROVINCE and unit.province_code not in ("", unit.code):
            raise AdminUnitsError(f"line {line}: province {unit.code} names a province of its own")
        if unit.code in seen:
            raise AdminUnitsError(
                f"line {line}: code {unit.code} is listed twice (first on line {seen[unit.code]})"
            )
        seen[unit.code] = line
        units.append(unit)
    provinces = {u.code for u in units if u.level == PROVINCE}
    for unit in units:
        if unit.level == COMMUNE and unit.province_code not in provinces:
            raise AdminUnitsError(
                f"line {seen[unit.code]}: commune {unit.code} is in province "
                f"{unit.province_code!r}, which the list does not hold"
            )
    if not provinces:
        raise AdminUnitsError("the official list holds no province")
    return units


def render(units: list[OfficialUnit]) -> str:
    """The attachment's CSV text: provinces by code, then communes by code."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ATTACHMENT_COLUMNS)
    for unit in sorted(units, key=lambda u: (u.level != PROVINCE, u.code)):
        province = unit.province_code if unit.level == COMMUNE else ""
        writer.writerow([unit.code, unit.label, unit.level, province, unit.unit_type])
    return out.getvalue()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # a public list, read by the forms compiler
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build(source: Path, out: Path = DEFAULT_PATH) -> BuildSummary:
    """Read the official list at `source` and write the forms' attachment to `out`."""
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AdminUnitsError(f"{source.name} is not UTF-8 text") from None
    units = read_official(text)
    _write_atomically(out, render(units))
    communes = [u for u in units if u.level == COMMUNE]
    return BuildSummary(
        path=out,
        provinces=len(units) - len(communes),
        communes=len(communes),
        commune_types=dict(Counter(u.type for u in communes)),
    )
