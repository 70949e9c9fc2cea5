"""Reporting periods: `2025` (year), `2025-H1`/`2025-H2` (half), `2025-Q3` (quarter)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_PERIOD = re.compile(r"^(\d{4})(?:-(H[12]|Q[1-4]))?$")


@dataclass(frozen=True)
class Period:
    """An inclusive date range with the name it was asked by."""

    name: str
    start: date
    end: date

    def contains(self, day: date | None) -> bool:
        """True when `day` falls in the period."""
        return day is not None and self.start <= day <= self.end


def _month_end(year: int, month: int) -> date:
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def parse_period(text: str) -> Period:
    """`2025`, `2025-H1`, `2025-H2` or `2025-Q1`..`Q4`; ValueError otherwise."""
    match = _PERIOD.match(text.strip().upper())
    if not match:
        raise ValueError(f"period {text!r} is not YYYY, YYYY-H1/H2 or YYYY-Q1..Q4")
    year, part = int(match.group(1)), match.group(2)
    if part is None:
        first, last = 1, 12
    elif part.startswith("H"):
        first = 1 if part == "H1" else 7
        last = first + 5
    else:
        first = (int(part[1]) - 1) * 3 + 1
        last = first + 2
    return Period(text.strip().upper(), date(year, first, 1), _month_end(year, last))


def current_half(today: date) -> Period:
    """The six-month period `today` falls in."""
    return parse_period(f"{today.year}-H{1 if today.month <= 6 else 2}")


def completed_periods(today: date) -> list[Period]:
    """The latest finished quarter, half-year and year before `today` (what is due)."""
    quarter = (today.month - 1) // 3  # 0-based quarter of today
    q_year, q = (today.year, quarter) if quarter else (today.year - 1, 4)
    half = 1 if today.month <= 6 else 2
    h_year, h = (today.year - 1, 2) if half == 1 else (today.year, 1)
    return [
        parse_period(f"{q_year}-Q{q}"),
        parse_period(f"{h_year}-H{h}"),
        parse_period(str(today.year - 1)),
    ]
