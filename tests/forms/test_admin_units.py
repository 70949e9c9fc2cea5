"""The admin units list the forms attach, read as the server needs it."""

from __future__ import annotations

import pytest

from forms import admin_units
from forms.admin_units import AdminUnitsError, parse


def test_the_shipped_list_gives_each_commune_its_province() -> None:
    units = admin_units.shipped()
    assert len(units.provinces) == 34  # the provincial units of 2025
    assert units.province_of("00004") == "01"
    assert units.province_of("28966") == "79"
    assert units.province_of("00007") is None  # not in the sample list: unknown, never guessed
    assert units.knows("01")
    assert units.knows("00004")
    assert not units.knows("02")  # merged in 2025


def test_only_the_code_and_parent_columns_are_read() -> None:
    text = "\ufefflevel,name,extra,parent,label\n1,01,x,,Hà Nội\n2,00004,y,01,Ba Đình\n"
    units = parse(text)
    assert units.provinces == frozenset({"01"})
    assert units.commune_province == {"00004": "01"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,label,parent\n01,Hà Nội,\n", "no column 'name'"),
        ("name,label\n01,Hà Nội\n", "no column 'parent'"),
        ("name,parent\n00004,01\n00004,04\n", "listed in two provinces"),
        ("name,parent\nHN,\n", "neither a province nor a commune"),
        ("name,parent\n00004,\n", "neither a province nor a commune"),
    ],
)
def test_a_list_that_cannot_be_read_says_why(text: str, message: str) -> None:
    with pytest.raises(AdminUnitsError, match=message):
        parse(text)


def test_code_shapes() -> None:
    assert admin_units.is_province_code("01")
    assert not admin_units.is_province_code("1")
    assert not admin_units.is_province_code("0a")
    assert admin_units.is_commune_code("00004")
    assert not admin_units.is_commune_code("0004")
    assert not admin_units.is_commune_code(None)
