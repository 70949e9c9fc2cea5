"""Case codes: made on the phone at intake, checked on every later form.

Shape `PP-YYYY-NNNNN-CC`: the receiving office's province code, the year of reception, five
random digits, and two check digits by ISO 7064 MOD 97-10 (as in IBANs) over the eleven digits
before them. Digits only, so nothing is ambiguous on a phone keypad or when read aloud; the
check catches every single wrong digit and every swap of two neighbouring digits.

The XPath in the forms computes the same thing; `CHECK_XPATH` is the constraint used on every
later form, and the tests compare both implementations on many codes.
"""

from __future__ import annotations

import re
import secrets

PATTERN = re.compile(r"^([0-9]{2})-([0-9]{4})-([0-9]{5})-([0-9]{2})$")
_PREFIX = re.compile(r"([0-9]{2})-")

# The constraint on the case_code field of vt02-vt05 (`.` is the typed code).
CHECK_XPATH = (
    "regex(., '^[0-9]{2}-[0-9]{4}-[0-9]{5}-[0-9]{2}$') and "
    "((number(concat(substr(., 0, 2), substr(., 3, 7), substr(., 8, 13))) * 100 "
    "+ number(substr(., 14, 16))) mod 97) = 1"
)


def check_digits(province: str, year: str, serial: str) -> str:
    """The two MOD 97-10 check digits for the eleven digits province + year + serial."""
    number = int(province + year + serial)
    return f"{98 - (number * 100) % 97:02d}"


def make(province: str, year: int, serial: str | None = None) -> str:
    """A new case code (the phone does this in XPath; this is for tools and tests)."""
    serial = serial if serial is not None else f"{secrets.randbelow(100_000):05d}"
    if not (re.fullmatch(r"[0-9]{2}", province) and re.fullmatch(r"[0-9]{5}", serial)):
        raise ValueError("province must be 2 digits and serial 5 digits")
    year_text = f"{year:04d}"
    return f"{province}-{year_text}-{serial}-{check_digits(province, year_text, serial)}"


def province_of(code: str | None) -> str | None:
    """The province code a case code starts with (`PP-`), or None when it does not.

    Only the prefix is read: the server checks it against the collector's unit, and codes
    made by older forms or typed by hand need not carry valid check digits for that.
    """
    match = _PREFIX.match(code or "")
    return match.group(1) if match else None


def is_valid(code: str) -> bool:
    """True when `code` has the shape and its check digits match."""
    match = PATTERN.match(code)
    if not match:
        return False
    province, year, serial, check = match.groups()
    return int(province + year + serial + check) % 97 == 1
