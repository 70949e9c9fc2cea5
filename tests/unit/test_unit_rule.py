"""The unit rule's pure parts: which unit a collector acts in, where a submission is about,
which unit held a case when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from forms.admin_units import parse
from server.services import units
from server.services.units import Answered, Period, Unit

LIST = parse("name,province_code\n01,\n79,\n00004,01\n00008,01\n26740,79\n")


def test_the_unit_a_collector_acts_in() -> None:
    assert units.acting_unit("01", LIST) == Unit("01")
    assert units.acting_unit(" 00004 ", LIST) == Unit("01", "00004")
    assert units.acting_unit("77777", LIST) == Unit(None, "77777")  # commune not in the list
    assert units.acting_unit("HN", LIST) == units.NOWHERE
    assert units.acting_unit(None, LIST) is None
    assert units.acting_unit("  ", LIST) is None


def test_a_unit_contains_itself_and_its_communes_only() -> None:
    assert Unit("01").contains(Unit("01", "00004"))
    assert Unit("01").contains(Unit("01"))
    assert Unit("01", "00004").contains(Unit("01", "00004"))
    assert not Unit("01", "00004").contains(Unit("01"))
    assert not Unit("01", "00004").contains(Unit("01", "00008"))
    assert not Unit("01").contains(Unit("79", "26740"))
    assert not Unit(None, "77777").contains(Unit(None, "77777"))  # an unknown place holds nothing


CODE_01 = "01-2025-00042-06"


@pytest.mark.parametrize(
    ("acting", "answered", "intake", "expected"),
    [
        # intakes: the office province and the case code's province are the collector's
        (Unit("01"), Answered("01", None, CODE_01), True, Unit("01")),
        (Unit("01"), Answered("01", "00004", CODE_01), True, Unit("01", "00004")),
        (Unit("01"), Answered(None, None, CODE_01), True, units.UNIT_MISMATCH),
        (Unit("01"), Answered("02", None, CODE_01), True, units.UNIT_MISMATCH),
        (Unit("02"), Answered("02", None, CODE_01), True, units.UNIT_MISMATCH),
        (Unit("01"), Answered("01", None, "X"), True, units.UNIT_MISMATCH),
        (Unit("01"), Answered("01", "26740", CODE_01), True, units.UNIT_MISMATCH),
        (Unit("01"), Answered("01", "00007", CODE_01), True, Unit("01")),  # unknown: dropped
        (Unit("01", "00004"), Answered("01", "00004", CODE_01), True, Unit("01", "00004")),
        (Unit("01", "00004"), Answered("01", None, CODE_01), True, Unit("01", "00004")),
        (Unit("01", "00004"), Answered("01", "00008", CODE_01), True, units.UNIT_MISMATCH),
        (Unit(None, "77777"), Answered("01", "77777", CODE_01), True, units.UNIT_UNKNOWN),
        (None, Answered("01", None, CODE_01), True, units.NO_UNIT),
        (units.NOWHERE, Answered("01", None, CODE_01), True, units.UNIT_UNKNOWN),
        # other forms: nothing is required, what is named must fit
        (Unit("01"), Answered(None, None, CODE_01), False, Unit("01")),
        (Unit("02"), Answered(None, None, CODE_01), False, Unit("02")),  # the holding decides
        (Unit("01"), Answered("02", None, None), False, units.UNIT_MISMATCH),
        (Unit("01", "00004"), Answered("01", "00008", None), False, units.UNIT_MISMATCH),
    ],
)
def test_where_a_submission_is_about(
    acting: Unit | None, answered: Answered, intake: bool, expected: Unit | str
) -> None:
    assert units.place(acting, answered, LIST, intake=intake) == expected


def test_which_unit_held_the_case_when() -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    periods = [
        Period(1, Unit("01"), start),
        Period(2, Unit("02"), start + timedelta(days=10)),
    ]
    assert units.holding_at([], start) is None
    # before the first period (a follow-up sent before its intake): the first holder
    assert units.holding_at(periods, start - timedelta(days=5)) == Unit("01")
    assert units.holding_at(periods, start + timedelta(days=9)) == Unit("01")
    assert units.holding_at(periods, start + timedelta(days=10)) == Unit("02")
    # SQLite hands back naive UTC datetimes
    assert units.holding_at(periods, datetime(2025, 3, 20)) == Unit("02")


def test_same_unit() -> None:
    assert units.same_unit("01", "01")
    assert units.same_unit("01", " 01 ")
    assert not units.same_unit("01", "00004")
    assert not units.same_unit(None, None)
    assert not units.same_unit("", "")
