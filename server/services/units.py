"""The unit rule: a submission acts only inside its collector's unit.

What the phone answers never decides where a submission acts: the collector's unit does
(`submissions.unit_code`, copied from the collector when the submission is received). The
answers are only checked against it. This module holds the rule as pure functions; the case
projection (`server/services/cases.py`) applies it every time a case is projected, so it holds
whatever order submissions arrive in and however often a case is projected again.

- An intake (vt01) must say it was received in the collector's unit: its office province (and
  office commune, for a commune-level collector) and the case code's `PP-` prefix. The first
  intake of a case code that passes holds the case in that unit (`case_holdings`); a later
  intake of the same code from a unit that does not contain the holding changes nothing.
- Any other submission naming a case code acts on that case only if the unit holding it lies
  inside the collector's unit; a case code not held yet waits (`awaiting_intake`) until its
  intake arrives.
- A submission that names a unit (vt06 outreach, vt07 screening, vt08 contact) must name one
  inside the collector's unit.
- An edit (deprecatedID) replaces only a submission received from the same unit
  (`server/services/edits.py`).

A submission that breaks the rule is kept exactly as received, flagged, and projects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from forms import case_code as case_codes
from forms.admin_units import AdminUnits, is_commune_code, is_province_code

ACCEPTED = "accepted"
AWAITING_INTAKE = "awaiting_intake"
# Flags: the submission is kept but acts nowhere; admins see them in the unit queue.
NO_UNIT = "no_unit"  # its collector has no unit
UNIT_UNKNOWN = "unit_unknown"  # its collector's commune is not in the admin units list
UNIT_MISMATCH = "unit_mismatch"  # its answers name a unit outside its collector's
FOREIGN_CASE = "foreign_case"  # its case code is held by a unit outside its collector's
FOREIGN_EDIT = "foreign_edit"  # it edits a submission received from another unit
FLAGS = (NO_UNIT, UNIT_UNKNOWN, UNIT_MISMATCH, FOREIGN_CASE, FOREIGN_EDIT)
# Set once, when the edit is linked; judging the submission again keeps it.
LASTING_FLAGS = frozenset({FOREIGN_EDIT})


@dataclass(frozen=True)
class Unit:
    """A place records belong to: a province, or a commune inside its province.

    `province` is None only for a commune the admin units list does not know.
    """

    province: str | None
    commune: str | None = None

    def contains(self, other: Unit) -> bool:
        """True when everything in `other` lies inside this unit."""
        if self.province is None or other.province != self.province:
            return False
        return self.commune is None or self.commune == other.commune

    @property
    def columns(self) -> tuple[str | None, str | None]:
        """(province_code, commune_code) as the scope columns hold them."""
        return self.province, self.commune

    @property
    def code(self) -> str:
        """The unit as people write it: `01` or `01/00004`."""
        return "/".join(part for part in (self.province or "?", self.commune) if part)


NOWHERE = Unit(None, None)


def acting_unit(unit_code: str | None, units: AdminUnits) -> Unit | None:
    """The unit a collector with this unit code acts in; None when it has no unit.

    A commune-level collector acts in its commune, which lies in its province; the province
    comes from the admin units list, and stays None when the list does not hold the commune.
    A code that is neither 2 nor 5 digits acts nowhere.
    """
    code = (unit_code or "").strip()
    if not code:
        return None
    if is_province_code(code):
        return Unit(code)
    if is_commune_code(code):
        return Unit(units.province_of(code), code)
    return NOWHERE


def columns_of(acting: Unit | None) -> tuple[str | None, str | None]:
    """The scope columns of a submission that acts nowhere beyond its collector's unit."""
    return acting.columns if acting is not None else (None, None)


def same_unit(first: str | None, second: str | None) -> bool:
    """True when two unit codes are one and the same unit (none is no unit)."""
    return bool(first and first.strip()) and (first or "").strip() == (second or "").strip()


@dataclass(frozen=True)
class Answered:
    """The units a submission's answers name, and its case code."""

    province: str | None
    commune: str | None
    case_code: str | None


def place(
    acting: Unit | None, answered: Answered, units: AdminUnits, *, intake: bool
) -> Unit | str:
    """The unit a submission is about, inside its collector's unit; or the flag saying why
    it is not.

    `intake`: the submission opens a case, so its office province and its case code's prefix
    must both be the collector's province. A province-level collector may name a commune of
    its province; a commune the list does not know is not kept (the submission is about the
    province), one the list puts in another province is a mismatch.
    """
    if acting is None:
        return NO_UNIT
    if acting.province is None:
        return UNIT_UNKNOWN
    if intake and (
        answered.province is None or case_codes.province_of(answered.case_code) != acting.province
    ):
        return UNIT_MISMATCH
    if answered.province is not None and answered.province != acting.province:
        return UNIT_MISMATCH
    commune = answered.commune
    if acting.commune is not None:
        return UNIT_MISMATCH if commune not in (None, acting.commune) else acting
    if commune is None:
        return acting
    parent = units.province_of(commune)
    if parent is None:
        return acting
    if parent != acting.province:
        return UNIT_MISMATCH
    return Unit(acting.province, commune)


@dataclass(frozen=True)
class Period:
    """One period of a case code's holding."""

    seq: int
    unit: Unit
    started_at: datetime


def as_utc(moment: datetime) -> datetime:
    """A datetime comparable with others (SQLite hands back naive UTC ones)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def holding_at(periods: list[Period], moment: datetime) -> Unit | None:
    """The unit that held the case when a submission was received; None if never held.

    The first period covers everything received before it too: a phone offline for a week
    sends its follow-up before the office's intake, and the follow-up belongs to that intake.
    A later period (a transfer) covers what was received from its start on.
    """
    if not periods:
        return None
    found = periods[0].unit
    at = as_utc(moment)
    for period in periods[1:]:
        if as_utc(period.started_at) <= at:
            found = period.unit
    return found
