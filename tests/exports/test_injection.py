"""No cell of any export can be read as a formula, whatever the phone sent."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exports.csvsafe import csv_text, neutralise
from exports.register import write_register
from exports.submissions import ExportOptions, export_form
from server.store.db import Store
from server.store.scope import UnitScope
from tests.factories import simple_xform, store_decrypted

HOSTILE = [
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=evil",
    "\r=evil",
    '=HYPERLINK("http://x","y")',
    "=cmd|'/c calc'!A1",
]


def _is_formula(cell: str) -> bool:
    return (
        cell[:1] in ("=", "+", "-", "@", "\t", "\r")
        and not cell.lstrip("+-").replace(".", "", 1).isdigit()
    )


@given(st.text(min_size=1, max_size=30))
def test_neutralised_text_never_starts_like_a_formula(text: str) -> None:
    cell = neutralise(text)
    assert not _is_formula(cell) or cell.strip().lstrip("+-").replace(".", "").isdigit()


def test_plain_numbers_stay_numbers() -> None:
    assert neutralise("-5") == "-5"
    assert neutralise(-5) == -5
    assert neutralise("+84 912") == "'+84 912"  # not a plain number: could be a formula
    assert csv_text([["=1+1", "ok"]]) == "\ufeff'=1+1,ok\r\n"


@given(st.lists(st.text(max_size=12), min_size=1, max_size=8))
def test_a_written_row_is_the_neutralised_cells(row: list[str]) -> None:
    assert list(csv.reader(io.StringIO(csv_text([row]).lstrip("\ufeff")))) == [
        [neutralise(cell) for cell in row]
    ]


def test_cells_that_are_not_text() -> None:
    # None and a nested structure (data that does not fit the layout) are empty cells.
    row = [None, 3, -2.5, True, {"a": "=1+1"}, ["x"], "=1+1", -1e-05, float("-inf")]
    assert csv_text([row]) == "\ufeff,3,-2.5,True,,,'=1+1,-1e-05,'-inf\r\n"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_every_text_field_of_every_export(store: Store, tmp_path: Path, hostile: str) -> None:
    from server.blobs import FileBlobStore
    from server.services.forms import publish_xform

    data = {
        "case_code": hostile,
        "reception_date": hostile,
        "sex": hostile,
        "full_name": hostile,
        "minors": [{"minor_sex": hostile, "minor_age_years": hostile}],
        "meta": {"instanceID": "uuid:h"},
    }
    store_decrypted(store, "vt_test", data, "uuid:h")
    with store.session() as session:  # the published XForm is the current version
        publish_xform(session, FileBlobStore(tmp_path / "blobs"), simple_xform(), {}, "test")
    out = io.BytesIO()
    export_form(
        store,
        "vt_test",
        out,
        scope=UnitScope.all_units(),
        options=ExportOptions(include_identifiers=True),
    )
    cells: list[str] = []
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        for name in archive.namelist():
            text = archive.read(name).decode("utf-8-sig")
            cells += [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    register = tmp_path / "cases.csv"
    write_register(store, register, scope=UnitScope.all_units(), include_identifiers=True)
    cells += [
        cell for row in csv.reader(io.StringIO(register.read_text("utf-8-sig"))) for cell in row
    ]
    assert any(hostile in cell for cell in cells)
    assert [cell for cell in cells if _is_formula(cell)] == []
