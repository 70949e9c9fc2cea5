"""Reporting windows (ND 09/2019: data cut off on the 14th) and calendar periods."""

from __future__ import annotations

from datetime import date

import pytest

from exports.periods import ReportCalendar, parse_due_dates, parse_period


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-H1", date(2025, 12, 15), date(2026, 6, 14)),
        ("2026-H2", date(2026, 6, 15), date(2026, 12, 14)),
        ("2026", date(2025, 12, 15), date(2026, 12, 14)),
        ("2026-Q1", date(2025, 12, 15), date(2026, 3, 14)),
        ("2026-Q2", date(2026, 3, 15), date(2026, 6, 14)),
        ("2026-Q3", date(2026, 6, 15), date(2026, 9, 14)),
        ("2026-Q4", date(2026, 9, 15), date(2026, 12, 14)),
    ],
)
def test_state_windows(text: str, start: date, end: date) -> None:
    period = parse_period(text)
    assert (period.start, period.end, period.calendar) == (start, end, False)


def test_calendar_periods_on_request_and_the_heading_line() -> None:
    half = parse_period("2026-H1", calendar=True)
    assert (half.start, half.end, half.calendar) == (date(2026, 1, 1), date(2026, 6, 30), True)
    assert parse_period("2026-H1").line_vi() == "Kỳ báo cáo: từ 15/12/2025 đến 14/6/2026"
    with pytest.raises(ValueError, match="cut-off day"):
        parse_period("2026", cutoff_day=29)
    with pytest.raises(ValueError, match="is not YYYY"):
        parse_period("2026-H3")


def test_windows_cover_every_day_once() -> None:
    calendar = ReportCalendar()
    for day in (date(2025, 12, 14), date(2025, 12, 15), date(2026, 6, 14), date(2026, 6, 15)):
        halves = [p for p in ("2025-H2", "2026-H1", "2026-H2") if calendar.period(p).contains(day)]
        assert len(halves) == 1
    assert calendar.current(date(2025, 12, 15), "half").name == "2026-H1"
    assert calendar.current(date(2025, 12, 14), "half").name == "2025-H2"
    assert calendar.current(date(2025, 12, 20), "year").name == "2026"


def test_due_dates_and_what_is_due() -> None:
    calendar = ReportCalendar()
    assert calendar.due_date(parse_period("2026-H1")) == date(2026, 6, 10)
    assert calendar.due_date(parse_period("2026")) == date(2026, 12, 10)
    planned = {p.name: due for p, due in calendar.schedule(date(2026, 12, 2))}
    # Q3 was due 10/9 (within the last 100 days); Q4, H2 and the year are due 10/12;
    # 2027-Q1 has not started.
    assert planned == {
        "2026-Q3": date(2026, 9, 10),
        "2026-Q4": date(2026, 12, 10),
        "2026-H2": date(2026, 12, 10),
        "2026": date(2026, 12, 10),
    }
    assert parse_due_dates("q1=+01-02")["Q1"] == "+01-02"
    with pytest.raises(ValueError, match="not a day"):
        parse_due_dates("H1=02-30")
