"""Ids and keyset cursors read from URLs, bounded to what the database can hold.

Every id column is a 32-bit integer on PostgreSQL (SQLite's are 64-bit), so a larger number in
a URL would reach the database and fail there as a 500 (integer out of range, or Python's
OverflowError on SQLite). Route ids go through `BoundedIntConverter`, registered in place of
Werkzeug's `int` converter so every `<int:...>` rule is bounded without each route saying so:
an id out of range matches no rule and answers 404. Cursors in query strings and form fields
go through `query_id`; one present but malformed answers 400.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from server import errors

MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER


class BoundedIntConverter(IntegerConverter):
    """Werkzeug's `int` converter with ids from 1 to MAX_ID unless a rule says otherwise."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def register_converters(app: Flask) -> None:
    """Bound every `<int:...>` rule; call before any blueprint is registered."""
    app.url_map.converters["int"] = BoundedIntConverter


def parse_id(raw: str | None) -> int | None:
    """An id written in ASCII digits, from 1 to MAX_ID, else None."""
    text = (raw or "").strip()
    if not text or len(text) > len(str(MAX_ID)) or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def query_id(raw: str | None) -> int | None:
    """An id or keyset cursor from a query string or form field: None when absent; a Problem
    (400.1) when present but not an id."""
    if raw is None or not raw.strip():
        return None
    value = parse_id(raw)
    if value is None:
        raise errors.bad_request("A number in this link is not valid.")
    return value
