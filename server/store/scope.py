"""Need-to-know: which administrative units a user may see, as a SQL condition.

Units are official codes: a province has 2 digits, a commune 5 (communes are numbered
nationally, so a commune code does not contain its province's). A user assigned a province sees
every record of that province; a user assigned a commune sees that commune only. Records
without a unit are seen by admins only. Every query of cases and submissions for the web view
takes a `UnitScope` and applies `unit_clause`, so no page can forget it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

PROVINCE_CODE_LENGTH = 2
COMMUNE_CODE_LENGTH = 5


@dataclass(frozen=True)
class UnitScope:
    """The units a user may see; `everything` for admins."""

    everything: bool = False
    provinces: tuple[str, ...] = ()
    communes: tuple[str, ...] = ()

    @classmethod
    def of_units(cls, unit_codes: Iterable[str]) -> UnitScope:
        """The scope of a list of assigned unit codes (other lengths match nothing)."""
        codes = sorted({code.strip() for code in unit_codes if code and code.strip()})
        return cls(
            everything=False,
            provinces=tuple(c for c in codes if len(c) == PROVINCE_CODE_LENGTH),
            communes=tuple(c for c in codes if len(c) == COMMUNE_CODE_LENGTH),
        )

    @classmethod
    def all_units(cls) -> UnitScope:
        """The scope of an admin: every record, with or without a unit."""
        return cls(everything=True)

    def allows(self, province_code: str | None, commune_code: str | None) -> bool:
        """True when a record in this province/commune is inside the scope."""
        if self.everything:
            return True
        return (province_code is not None and province_code in self.provinces) or (
            commune_code is not None and commune_code in self.communes
        )


def unit_clause(
    scope: UnitScope,
    province_column: InstrumentedAttribute[str | None],
    commune_column: InstrumentedAttribute[str | None],
) -> ColumnElement[bool]:
    """The WHERE condition that keeps rows inside `scope`."""
    if scope.everything:
        return true()
    conditions: list[ColumnElement[bool]] = []
    if scope.provinces:
        conditions.append(province_column.in_(scope.provinces))
    if scope.communes:
        conditions.append(commune_column.in_(scope.communes))
    if not conditions:
        return false()
    return or_(*conditions)


def unit_filter_clause(
    unit_code: str | None,
    province_column: InstrumentedAttribute[str | None],
    commune_column: InstrumentedAttribute[str | None],
) -> ColumnElement[bool]:
    """The condition of a unit chosen as a filter; ANDed with the user's scope, never widening."""
    if not unit_code:
        return true()
    return unit_clause(UnitScope.of_units([unit_code]), province_column, commune_column)
