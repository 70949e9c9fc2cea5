"""JSON columns are decoded with orjson, and read what the standard library wrote."""

from __future__ import annotations

import json
import math

import pytest

from server.store.db import json_loads

DOCUMENTS = [
    {"case_code": "01-2025-aaaaaa", "full_name": "Nguyễn Thị Lan", "meta": {"instanceID": "x"}},
    {"minors": [{"minor_age_years": "5"}, {"minor_age_years": 7}], "amount": -12.5},
    {"empty": {}, "none": None, "flag": True, "text": '=HYPERLINK("x")'},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_reads_what_the_standard_library_wrote(document: dict[str, object]) -> None:
    text = json.dumps(document)
    assert json_loads(text) == document
    assert json_loads(text.encode()) == document


def test_what_orjson_refuses_is_still_read() -> None:
    value = json_loads('{"big": 123456789012345678901234567890, "odd": NaN}')
    assert value["big"] == 123456789012345678901234567890
    assert math.isnan(value["odd"])


def test_invalid_json_is_an_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        json_loads('{"a": ')
