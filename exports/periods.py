"""Reporting periods: `2026` (year), `2026-H1`/`2026-H2` (half), `2026-Q1`..`Q4` (quarter).

By default a period is the state reporting window (Nghị định 09/2019/NĐ-CP, Art 12): data are
cut off on the cut-off day (14 by default) and the window starts the day after the previous
cut-off, so `2026` is 15/12/2025-14/12/2026, `2026-H1` 15/12/2025-14/6/2026, `2026-H2`
15/6-14/12/2026 and `2026-Q1` 15/12/2025-14/3/2026. `calendar=True` gives calendar periods
(1/1-31/12, 1/1-30/6, ...), for analysis only.

Each report kind has a due date, set per deployment (FIELDCASE_REPORT_DUE_DATES): a `MM-DD`
in the year the period ends (`+MM-DD`: the year after).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

_PERIOD = re.compile(r"^(\d{4})(?:-(H[12]|Q[1-4]))?$")
_DUE = re.compile(r"^(\+)?(\d{2})-(\d{2})$")
DEFAULT_CUTOFF_DAY = 14
# Report part -> due date (MM-DD in the period's end year): the seeds' province plan
# (6-month report by 10/6, annual by 10/12); quarters by the 10th of their last month.
DEFAULT_DUE_DATES = {
    "Y": "12-10",
    "H1": "06-10",
    "H2": "12-10",
    "Q1": "03-10",
    "Q2": "06-10",
    "Q3": "09-10",
    "Q4": "12-10",
}
KIND_NAMES = {
    "year": ("Báo cáo năm", "Annual report"),
    "half": ("Báo cáo 6 tháng", "Six-month report"),
    "quarter": ("Báo cáo quý", "Quarterly report"),
}


@dataclass(frozen=True)
class Period:
    """An inclusive date range with the name it was asked by."""

    name: str
    start: date
    end: date
    calendar: bool = False

    def contains(self, day: date | None) -> bool:
        """True when `day` falls in the period."""
        return day is not None and self.start <= day <= self.end

    @property
    def part(self) -> str:
        """`Y`, `H1`, `H2` or `Q1`..`Q4`."""
        return self.name.split("-")[1] if "-" in self.name else "Y"

    @property
    def kind(self) -> str:
        """`year`, `half` or `quarter`."""
        return {"Y": "year", "H": "half", "Q": "quarter"}[self.part[0]]

    @property
    def year(self) -> int:
        """The year the period is named by (the year it ends in)."""
        return int(self.name[:4])

    def line_vi(self) -> str:
        """`Kỳ báo cáo: từ 15/12/2025 đến 14/6/2026`, as the report's heading says it."""
        return f"Kỳ báo cáo: từ {day_vi(self.start)} đến {day_vi(self.end)}"

    def line_en(self) -> str:
        """`Reporting period: 15/12/2025 to 14/6/2026`."""
        return f"Reporting period: {day_vi(self.start)} to {day_vi(self.end)}"


def day_vi(day: date) -> str:
    """A date as Vietnamese documents write it: 14/6/2026 (no leading zeros)."""
    return f"{day.day}/{day.month}/{day.year}"


def _month_end(year: int, month: int) -> date:
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def _cutoff(year: int, month: int, cutoff_day: int) -> date:
    """The cut-off day of a month (the month's last day when it is shorter)."""
    return min(date(year, month, 1) + timedelta(days=cutoff_day - 1), _month_end(year, month))


def check_cutoff_day(cutoff_day: int) -> int:
    """The cut-off day when it is 1..28; ValueError otherwise."""
    if not 1 <= cutoff_day <= 28:
        raise ValueError(f"the report cut-off day must be 1 to 28, not {cutoff_day}")
    return cutoff_day


def parse_period(
    text: str, *, calendar: bool = False, cutoff_day: int = DEFAULT_CUTOFF_DAY
) -> Period:
    """`2026`, `2026-H1`, `2026-H2` or `2026-Q1`..`Q4` as the state window (or the calendar
    period with `calendar=True`); ValueError otherwise."""
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
    name = text.strip().upper()
    if calendar:
        return Period(name, date(year, first, 1), _month_end(year, last), calendar=True)
    check_cutoff_day(cutoff_day)
    before_year, before_month = (year - 1, 12) if first == 1 else (year, first - 1)
    start = _cutoff(before_year, before_month, cutoff_day) + timedelta(days=1)
    return Period(name, start, _cutoff(year, last, cutoff_day))


def parse_due_dates(raw: str | None) -> dict[str, str]:
    """`"H1=06-20, Y=+01-05"` over the defaults; ValueError naming the bad item."""
    due = dict(DEFAULT_DUE_DATES)
    for item in (raw or "").replace(";", ",").split(","):
        if not item.strip():
            continue
        part, _, when = (piece.strip().upper() for piece in item.partition("="))
        if part not in DEFAULT_DUE_DATES:
            raise ValueError(f"{part!r} is not a report part (Y, H1, H2, Q1..Q4)")
        found = _DUE.match(when)
        if not found:
            raise ValueError(f"{when!r} ({part}) is not a due date written MM-DD or +MM-DD")
        try:
            date(2024, int(found.group(2)), int(found.group(3)))
        except ValueError:
            raise ValueError(f"{when!r} ({part}) is not a day of the year") from None
        due[part] = when
    return due


@dataclass(frozen=True)
class ReportCalendar:
    """A deployment's reporting windows and due dates."""

    cutoff_day: int = DEFAULT_CUTOFF_DAY
    due_dates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DUE_DATES))

    def period(self, text: str, *, calendar: bool = False) -> Period:
        """The period written `text` (see `parse_period`)."""
        return parse_period(text, calendar=calendar, cutoff_day=self.cutoff_day)

    def due_date(self, period: Period) -> date:
        """When the report of `period` is due."""
        found = _DUE.match(self.due_dates.get(period.part, DEFAULT_DUE_DATES[period.part]))
        assert found is not None  # checked by parse_due_dates
        year = period.year + (1 if found.group(1) else 0)
        return date(year, int(found.group(2)), int(found.group(3)))

    def current(self, today: date, kind: str = "half") -> Period:
        """The window of `kind` that `today` falls in."""
        for year in (today.year, today.year + 1):
            for name in _names(year, kind):
                span = self.period(name)
                if span.contains(today):
                    return span
        raise AssertionError("every day is in a window")  # pragma: no cover

    def schedule(self, today: date) -> list[tuple[Period, date]]:
        """Every report (quarter, half, year) whose window has started by `today` and whose
        due date is from 100 days ago on (so the last quarter's is always there): (period,
        due date), by due date."""
        found = []
        for year in (today.year - 1, today.year, today.year + 1):
            for kind in ("quarter", "half", "year"):
                for name in _names(year, kind):
                    span = self.period(name)
                    due = self.due_date(span)
                    if span.start <= today and (today - due).days <= 100:
                        found.append((span, due))
        return sorted(found, key=lambda item: (item[1], item[0].end))


def _names(year: int, kind: str) -> list[str]:
    if kind == "year":
        return [str(year)]
    if kind == "half":
        return [f"{year}-H1", f"{year}-H2"]
    return [f"{year}-Q{q}" for q in range(1, 5)]


def current_half(today: date, cutoff_day: int = DEFAULT_CUTOFF_DAY) -> Period:
    """The six-month window `today` falls in."""
    return ReportCalendar(cutoff_day).current(today, "half")


def completed_periods(today: date, cutoff_day: int = DEFAULT_CUTOFF_DAY) -> list[Period]:
    """The latest finished quarter, half-year and year before `today` (what is due)."""
    calendar = ReportCalendar(cutoff_day)
    found = []
    for kind in ("quarter", "half", "year"):
        current = calendar.current(today, kind)
        found.append(calendar.current(current.start - timedelta(days=1), kind))
    return found


def report_calendar(cutoff_day: int, due_dates: str | None) -> ReportCalendar:
    """The calendar of FIELDCASE_REPORT_CUTOFF_DAY and FIELDCASE_REPORT_DUE_DATES."""
    return ReportCalendar(check_cutoff_day(cutoff_day), parse_due_dates(due_dates))
