"""The admin units list the forms attach, read as the server needs it."""

from __future__ import annotations

import csv

import pytest

from forms import admin_units
from forms.admin_units import DEFAULT_PATH, AdminUnitsError, parse


def test_the_shipped_list_holds_every_province_and_commune_of_2025() -> None:
    units = admin_units.shipped()
    assert len(units.provinces) == 34  # the provincial units of 2025
    assert len(units.commune_province) == 3321  # 2,621 xã, 687 phường, 13 đặc khu
    assert set(units.commune_province.values()) <= units.provinces  # every province exists
    assert units.province_of("00004") == "01"
    assert units.province_of("00070") == "01"
    assert units.province_of("06712") == "22"
    assert units.province_of("26740") == "79"
    assert units.province_of("00091") == "01"  # Phú Thượng (once mislabelled Hoàn Kiếm)
    assert units.province_of("28966") is None  # not a commune: unknown, never guessed
    assert units.knows("01")
    assert units.knows("00004")
    assert not units.knows("02")  # merged in 2025


def test_the_shipped_list_names_and_levels_as_the_forms_use_them() -> None:
    with DEFAULT_PATH.open(encoding="utf-8", newline="") as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle)}
    assert rows["00004"]["label"] == "Phường Ba Đình"
    assert rows["00070"]["label"] == "Phường Hoàn Kiếm"
    assert rows["06712"]["label"] == "Phường Móng Cái 1"
    assert rows["01"] == {
        "name": "01",
        "label": "Thành phố Hà Nội",
        "level": "province",
        "province_code": "",
        "unit_type": "thanh_pho",
    }
    assert rows["00004"]["level"] == "commune"
    levels = [row["level"] for row in rows.values()]
    assert levels.count("province") == 34
    assert levels.count("commune") == 3321
    types = [row["unit_type"] for row in rows.values() if row["level"] == "commune"]
    assert (types.count("xa"), types.count("phuong"), types.count("dac_khu")) == (2621, 687, 13)


def test_only_the_code_and_province_columns_are_read() -> None:
    text = "\ufefflevel,name,extra,province_code,label\n1,01,x,,Hà Nội\n2,00004,y,01,Ba Đình\n"
    units = parse(text)
    assert units.provinces == frozenset({"01"})
    assert units.commune_province == {"00004": "01"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,label,province_code\n01,Hà Nội,\n", "no column 'name'"),
        ("name,label\n01,Hà Nội\n", "no column 'province_code'"),
        ("name,province_code\n00004,01\n00004,04\n", "listed in two provinces"),
        ("name,province_code\nHN,\n", "neither a province nor a commune"),
        ("name,province_code\n00004,\n", "neither a province nor a commune"),
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
