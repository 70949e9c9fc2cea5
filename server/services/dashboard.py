"""The dashboard's key figures for a reporting period, within the user's units.

Persons are counted as the statutory report counts them (exports/reports.py, `population`),
so the dashboard and the signed report agree: the main person and the accompanying minors of
cases received in the period by a unit in scope, each person's status as of the period's end,
and purpose and destination among victims and persons being identified. Only counts leave this
module: no identifier, no case code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from exports import periods, reports
from exports.age_groups import AGE_GROUPS, age_group
from exports.periods import Period
from server import errors
from server.config import Config
from server.store import cases as case_store
from server.store import forms as form_store
from server.store import submissions as submission_store
from server.store.db import Store
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
    """What the dashboard shows; each breakdown is [(code, count)], biggest first.

    Counted as the statutory report counts (exports/reports.py): persons of the cases received
    in the period by a unit in scope (the unit of reception, the case's first holding), a
    person linked across cases once, and their status as of the period's end from the latest
    verification. Purpose and destination count victims and persons being identified (as T2
    and T3), not persons found not to be victims, nor accompanying minors.
    """

    period: Period
    persons: int = 0
    cases: int = 0
    victims: int = 0  # identified victims among the main persons received (minors apart)
    being_identified: int = 0
    not_victims: int = 0
    minors_accompanying: int = 0
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


def figures(store: Store, scope: UnitScope, period: Period) -> Figures:
    """Count the period's persons (with their status), supports and outreach within `scope`,
    by the statutory report's rules."""
    result = Figures(period)
    persons = reports.population(store, scope, period, received_only=True).received()
    main = [p for p in persons if not p.is_minor_companion]
    statuses = Counter(p.status for p in main)
    result.persons = len(persons)
    result.cases = len({p.case_id for p in persons})
    result.victims = statuses["victim"]
    result.being_identified = statuses["being_identified"]
    result.not_victims = statuses["not_victim"]
    result.minors_accompanying = len(persons) - len(main)
    result.by_channel = _ranked(Counter(p.channel or "unknown" for p in persons))
    result.by_sex = _ranked(Counter(p.sex or "unknown" for p in persons))
    ages = Counter(age_group(p.age) for p in persons)
    result.by_age_group = [(band, ages[band]) for band in AGE_GROUPS if ages[band]]
    counted = [p for p in main if p.status != "not_victim"]
    result.by_purpose = _ranked(Counter(code for p in counted for code in p.purposes))
    result.by_destination = _ranked(Counter(p.destination or "unknown" for p in counted))

    with store.reader() as session:
        supports: Counter[str] = Counter()
        for summary in case_store.events_in_period(
            session, scope, "support", period.start, period.end
        ):
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
