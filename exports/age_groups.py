"""The age groups of the report tables and the dashboard (domain/FORMS.md), by age in years."""

from __future__ import annotations

AGE_GROUPS = ("u16", "16_17", "18_29", "30_44", "45_59", "60p", "unk")


def age_group(age: int | None) -> str:
    """The report's age band of an age in years."""
    if age is None:
        return "unk"
    for limit, band in ((16, "u16"), (18, "16_17"), (30, "18_29"), (45, "30_44"), (60, "45_59")):
        if age < limit:
            return band
    return "60p"
