"""Case codes: the Python mirror of the XPath, and the check that catches typing errors."""

from __future__ import annotations

import itertools
import re

from hypothesis import given
from hypothesis import strategies as st

from forms import case_code


@given(
    st.from_regex(r"[0-9]{2}", fullmatch=True),
    st.integers(2000, 2099),
    st.from_regex(r"[0-9]{5}", fullmatch=True),
)
def test_made_codes_are_valid(province: str, year: int, serial: str) -> None:
    code = case_code.make(province, year, serial)
    assert re.fullmatch(r"[0-9]{2}-[0-9]{4}-[0-9]{5}-[0-9]{2}", code)
    assert case_code.is_valid(code)


def test_known_code() -> None:
    # 120250483100 mod 97 = 6, so the check digits are 98 - 6 = 92; and
    # 0120250483192 mod 97 = 1, which is what the forms' constraint tests.
    assert case_code.make("01", 2025, "04831") == "01-2025-04831-92"


def test_every_single_digit_error_and_neighbour_swap_is_caught() -> None:
    code = case_code.make("79", 2025, "10357")
    digits = [i for i, ch in enumerate(code) if ch.isdigit()]
    for position, wrong in itertools.product(digits, "0123456789"):
        if code[position] != wrong:
            typo = code[:position] + wrong + code[position + 1 :]
            assert not case_code.is_valid(typo), typo
    for a, b in itertools.pairwise(digits):
        if b == a + 1 and code[a] != code[b]:
            swapped = code[:a] + code[b] + code[a] + code[b + 1 :]
            assert not case_code.is_valid(swapped), swapped


def test_shape_errors() -> None:
    for bad in ("", "01-2025-04831", "01-2025-04831-6", "0l-2025-04831-62", "01/2025/04831/62"):
        assert not case_code.is_valid(bad)


def test_the_province_a_case_code_starts_with() -> None:
    assert case_code.province_of(case_code.make("79", 2025, "00001")) == "79"
    assert case_code.province_of("01-2025-aaaaaa") == "01"  # older test codes: the prefix only
    assert case_code.province_of("1-2025-00001-00") is None
    assert case_code.province_of("012-2025") is None
    assert case_code.province_of("") is None
    assert case_code.province_of(None) is None
