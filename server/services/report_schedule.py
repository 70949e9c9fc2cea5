"""The reporting calendar as the dashboard and the Exports page show it: the window today is
in, the next due date, and which reports are due or late.

A report counts as made once someone has written or downloaded it for its period (an
`export.report` entry in the audit log): the system cannot know that it was signed and sent,
so "late" means "due date passed and nobody has produced it here".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from exports.periods import KIND_NAMES, Period, ReportCalendar, report_calendar
from server.config import Config
from server.store import audit


@dataclass(frozen=True)
class ReportDue:
    """One report of the calendar."""

    period: Period
    due: date
    made: bool
    state: str  # "made", "late" or "due"

    @property
    def kind_vi(self) -> str:
        """The report's kind in Vietnamese (Báo cáo 6 tháng, ...)."""
        return KIND_NAMES[self.period.kind][0]

    @property
    def kind_en(self) -> str:
        """The report's kind in English."""
        return KIND_NAMES[self.period.kind][1]


@dataclass(frozen=True)
class Schedule:
    """What the pages show."""

    current: Period
    next_due: ReportDue | None
    reports: list[ReportDue]

    @property
    def late(self) -> list[ReportDue]:
        """Reports past their due date that nobody has made."""
        return [r for r in self.reports if r.state == "late"]


def calendar_of(config: Config) -> ReportCalendar:
    """The deployment's windows and due dates (FIELDCASE_REPORT_CUTOFF_DAY, _DUE_DATES)."""
    return report_calendar(config.report_cutoff_day, config.report_due_dates)


def schedule(session: Session, config: Config, today: date) -> Schedule:
    """The current six-month window, the next due report and every report due or late."""
    calendar = calendar_of(config)
    planned = calendar.schedule(today)
    made = audit.targets_recorded(
        session, "export.report", [f"period:{span.name}" for span, _ in planned]
    )
    reports = []
    for span, due in planned:
        done = f"period:{span.name}" in made
        state = "made" if done else ("late" if due < today else "due")
        reports.append(ReportDue(span, due, done, state))
    upcoming = [r for r in reports if r.due >= today]
    return Schedule(calendar.current(today, "half"), upcoming[0] if upcoming else None, reports)
