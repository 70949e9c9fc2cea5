"""The dashboard's key figures for a reporting period, within the user's units.

Counting follows the report tables (domain/FORMS.md): persons are the main person and the
accompanying minors of cases received in the period; channel, purpose and destination are the
case's (from its main person), sex and age group each person's own. Only counts leave this
module: no identifier, no case code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from exports import periods
from exports.age_groups import AGE_GROUPS, age_group
from exports.periods import Period
from server import errors
from server.config import Config
from server.store import cases as case_store
from server.store import forms as form_store
from server.store import submissions as submission_store
from server.store.scope import UnitScope

OUTREACH_FORM = "vt06_outreach"


def _calendar(config: Config | None) -> periods.ReportCalendar:
    if config is None:
        return periods.ReportCalendar()
    return periods.report_calendar(config.report_cutoff_day, config.report_due_dates)


def parse_period(text: str, config: Config | None = None) -> Period:
    """`2026`, `2026-H1` or `2026-Q3` as the reporting window's dates; a clear Problem
    otherwise."""
    try:
        return _calendar(config).period(text)
    except ValueError:
        raise errors.validation_failed("A period is written 2025, 2025-H1 or 2025-Q3.") from None


def current_period(today: date, config: Config | None = None) -> Period:
    """The six-month window `today` falls in (the 6-monthly report)."""
    return _calendar(config).current(today, "half")


@dataclass
class Figures:
    """What the dashboard shows; each breakdown is [(code, count)], biggest first."""

    period: Period
    persons: int = 0
    cases: int = 0
    by_channel: list[tuple[str, int]] = field(default_factory=list)
    by_sex: list[tuple[str, int]] = field(default_factory=list)
    by_age_group: list[tuple[str, int]] = field(default_factory=list)
    by_purpose: list[tuple[str, int]] = field(default_factory=list)
    by_destination: list[tuple[str, int]] = field(default_factory=list)
    supports: list[tuple[str, int]] = field(default_factory=list)
    supports_total: int = 0
    outreach_sessions: int = 0
    outreach_participants: int = 0


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value)))
    except (TypeError, ValueError):
        return 0


def figures(session: Session, scope: UnitScope, period: Period) -> Figures:
    """Count the period's persons, supports and outreach within `scope`."""
    result = Figures(period)
    rows = case_store.received_persons(session, scope, period.start, period.end)
    main_facts: dict[int, dict[str, Any]] = {}
    persons_of: Counter[int] = Counter()
    sex: Counter[str] = Counter()
    ages: Counter[str] = Counter()
    for case_id, person_index, person_sex, age_years, facts in rows:
        persons_of[case_id] += 1
        sex[person_sex or "unknown"] += 1
        band = (facts or {}).get("age_band_vn") if person_index == 0 else None
        ages[band if band in AGE_GROUPS else age_group(age_years)] += 1
        if person_index == 0:
            main_facts[case_id] = facts or {}
    channel: Counter[str] = Counter()
    purpose: Counter[str] = Counter()
    destination: Counter[str] = Counter()
    for case_id, persons in persons_of.items():
        facts = main_facts.get(case_id, {})
        channel[str(facts.get("reception_channel") or "unknown")] += persons
        destination[str(facts.get("destination_country") or "UNKNOWN")] += persons
        for code in str(facts.get("purpose") or "unknown").split():
            purpose[code] += persons
    result.persons = sum(persons_of.values())
    result.cases = len(persons_of)
    result.by_channel = _ranked(channel)
    result.by_sex = _ranked(sex)
    result.by_age_group = [(band, ages[band]) for band in AGE_GROUPS if ages[band]]
    result.by_purpose = _ranked(purpose)
    result.by_destination = _ranked(destination)

    supports: Counter[str] = Counter()
    for summary in case_store.events_in_period(session, scope, "support", period.start, period.end):
        for code in (summary or {}).get("supports") or []:
            supports[str(code)] += 1
    result.supports = _ranked(supports)
    result.supports_total = sum(supports.values())

    outreach = form_store.by_xml_form_id(session, OUTREACH_FORM)
    if outreach is not None:
        for data in submission_store.data_in_period(
            session, scope, outreach.id, period.start, period.end
        ):
            result.outreach_sessions += 1
            found = _find_counts(data or {})
            result.outreach_participants += found.get("n_male", 0) + found.get("n_female", 0)
    return result


def _find_counts(data: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for inner_key, inner_value in _find_counts(value).items():
                counts.setdefault(inner_key, inner_value)
        elif key in ("n_male", "n_female"):
            counts[key] = _int(value)
    return counts
