"""Building forms/media/admin_units.csv from the official list, by project code only."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from forms.admin_units import DEFAULT_PATH, AdminUnitsError, parse
from forms.admin_units_source import build, read_official, render
from server.cli import main

OFFICIAL = Path(__file__).resolve().parents[2].parent / "shared" / "domain"
OFFICIAL_LIST = OFFICIAL / "admin_units_2025.csv"
HEADER = "level,code,type,name,province_code\r\n"
SMALL = (
    HEADER + "province,22,Tỉnh,Quảng Ninh,\r\n"
    "commune,06712,Phường,Móng Cái 1,22\r\n"
    "province,01,Thành phố,Hà Nội,\r\n"
    "commune,00004,Phường,Ba Đình,01\r\n"
    "commune,07192,Đặc khu,Vân Đồn,22\r\n"
)


def test_the_attachment_is_the_official_list_in_the_forms_columns() -> None:
    text = render(read_official(SMALL))
    assert text == (
        "name,label,level,province_code,unit_type\n"
        "01,Thành phố Hà Nội,province,,thanh_pho\n"
        "22,Tỉnh Quảng Ninh,province,,tinh\n"
        "00004,Phường Ba Đình,commune,01,phuong\n"
        "06712,Phường Móng Cái 1,commune,22,phuong\n"
        "07192,Đặc khu Vân Đồn,commune,22,dac_khu\n"
    )
    units = parse(text)  # the server's loader reads what the builder writes
    assert units.province_of("07192") == "22"


@pytest.mark.skipif(not OFFICIAL_LIST.is_file(), reason="the official list is not beside")
def test_the_shipped_attachment_is_built_from_the_official_list(tmp_path: Path) -> None:
    out = tmp_path / "admin_units.csv"
    summary = build(OFFICIAL_LIST, out)
    assert (summary.provinces, summary.communes) == (34, 3321)
    assert summary.commune_types == {"Xã": 2621, "Phường": 687, "Đặc khu": 13}
    assert out.read_bytes() == DEFAULT_PATH.read_bytes(), (
        "forms/media/admin_units.csv was edited by hand: run `make units`"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("commune,00099,Phường,Mồ Côi,02\r\n", "line 7: commune 00099 is in province '02'"),
        ("commune,0009,Phường,Ngắn,01\r\n", "line 7: a commune code has 5 digits, not '0009'"),
        ("province,2,Tỉnh,Ngắn,\r\n", "line 7: a province code has 2 digits"),
        ("commune,00004,Phường,Hai Lần,01\r\n", "code 00004 is listed twice .first on line 5"),
        ("commune,00099,Quận,Cũ,01\r\n", "has the type 'Quận'; a commune is one of Xã, Phường"),
        ("district,001,Quận,Ba Đình,01\r\n", "level 'district' is neither"),
        ("commune,00099,Xã,,01\r\n", "00099 has no name"),
    ],
)
def test_a_wrong_official_list_is_refused_with_its_line(
    tmp_path: Path, line: str, message: str
) -> None:
    source = tmp_path / "list.csv"
    source.write_text(SMALL + line, encoding="utf-8")
    out = tmp_path / "admin_units.csv"
    out.write_text("kept\n", encoding="utf-8")
    with pytest.raises(AdminUnitsError, match=message):
        build(source, out)
    assert out.read_text(encoding="utf-8") == "kept\n"  # nothing written


def test_a_list_without_its_columns_is_refused() -> None:
    with pytest.raises(AdminUnitsError, match="no column 'province_code'"):
        read_official("level,code,type,name\nprovince,01,Thành phố,Hà Nội\n")


def test_the_command_builds_the_attachment_and_says_what_it_holds(tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    source.write_text(SMALL, encoding="utf-8")
    out = tmp_path / "media" / "admin_units.csv"
    result = CliRunner().invoke(main, ["forms", "units", "--from", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 tỉnh, thành phố; 3 xã, phường, đặc khu (0 xã, 2 phường, 1 đặc khu)" in result.output
    assert parse(out.read_text(encoding="utf-8")).province_of("06712") == "22"
    bad = tmp_path / "bad.csv"
    bad.write_text(SMALL + "commune,00099,Phường,Mồ Côi,02\r\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["forms", "units", "--from", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    assert "không hợp lệ / the list is not valid: line 7" in result.output
    assert parse(out.read_text(encoding="utf-8")).province_of("06712") == "22"  # unchanged
