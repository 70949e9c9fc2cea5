"""What a submission of each form says about its case: the case code, the units it names, the
event date, and the kind of timeline entry it makes.

Field names are those of the forms in forms/xlsforms/ (domain/FORMS.md). Used when a submission
is recorded (its columns), by the unit rule and by the case projection.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from forms.instance import get_path, parse_date

# Which kind of timeline entry each form makes, and the field holding its date.
FORM_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "vt01_intake": ("intake", ("reception_date",)),
    "vt02_verification": ("verification", ("decision_date", "verif_start_date")),
    "vt03_needs_plan": ("plan", ("assess_date",)),
    "vt04_support": ("support", ("support_date",)),
    "vt05_followup": ("followup", ("visit_date",)),
    "vt06_outreach": ("outreach", ("session_date",)),
    "vt07_screening": ("screening", ("screen_date",)),
    "vt08_contact": ("contact", ("contact_date",)),
}
# Forms that never belong to a case (aggregate counts, anonymous contacts: no identity).
NON_CASE_FORMS = {"vt06_outreach", "vt08_contact"}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_repeat_date(data: dict[str, Any], field: str) -> date | None:
    """The earliest date of `field` inside any repeat (support items carry their own dates)."""
    found: list[date] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == field:
                    parsed = parse_date(value)
                    if parsed:
                        found.append(parsed)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return min(found) if found else None


def describe(form_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Columns a submission gets from its data: case_code, units and the event date."""
    kind, date_fields = FORM_KINDS.get(form_id, ("other", ()))
    event_date = None
    for field in date_fields:
        event_date = parse_date(get_path(data, field)) or _first_repeat_date(data, field)
        if event_date:
            break
    if event_date is None:
        event_date = parse_date(get_path(data, "today"))
    province = _text(get_path(data, "office_province")) or _text(get_path(data, "province"))
    commune = _text(get_path(data, "office_commune")) or _text(get_path(data, "commune"))
    return {
        "kind": kind,
        "case_code": None if form_id in NON_CASE_FORMS else _text(get_path(data, "case_code")),
        "province_code": province,
        "commune_code": commune,
        "event_date": event_date,
    }
