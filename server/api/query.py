"""The OData system query options of a data request, read and checked before any row is.

`$filter` takes what ODK Central takes on submission metadata — `__system/submissionDate`
and `__system/reviewState` (also as `$root/Submissions/__system/...` on a repeat set), with
eq ne lt le gt ge, and, or, not and parentheses — and nothing else: a field of the form is
501.1, as on Central. The parsed filter is written back in a normal form for the audit log,
so what is logged is only what was understood (never a typed value that was refused).
`$skiptoken` is the cursor of a page's last row (keyset paging), opaque to clients.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from server import errors
from server.services.analyst_api import (
    REVIEW_STATES_BY_NAME,
    Cursor,
    FeedQuery,
    MetaCondition,
    MetaLogic,
    MetaTest,
)
from server.urls import MAX_ID

MAX_TOP = 1_000_000
MAX_DEPTH = 32  # parentheses and `not`s inside one another
FIELDS = {"submissionDate": "received_at", "reviewState": "review_state"}
OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge")
KNOWN_OPTIONS = {
    "$top",
    "$skip",
    "$count",
    "$filter",
    "$expand",
    "$select",
    "$skiptoken",
    "$wkt",
    "$format",
}
TOKEN = re.compile(r"\s*(\(|\)|'(?:[^']|'')*'|[^\s()']+)")
SKIPTOKEN_PREFIX = "01"


def _tokens(text: str) -> list[str]:
    found: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None:
            raise errors.bad_request("$filter could not be read.")
        found.append(match.group(1))
        position = match.end()
    return found


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.at = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise errors.bad_request("$filter ends too early.")
        self.at += 1
        return token

    def expression(self) -> MetaCondition:
        operands = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else MetaLogic("or", tuple(operands))

    def conjunction(self) -> MetaCondition:
        operands = [self.unary()]
        while self.peek() == "and":
            self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else MetaLogic("and", tuple(operands))

    def unary(self) -> MetaCondition:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise errors.bad_request("$filter nests too deeply.")
        try:
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> MetaCondition:
        if self.peek() == "not":
            self.take()
            return MetaLogic("not", (self.unary(),))
        if self.peek() == "(":
            self.take()
            inner = self.expression()
            if self.take() != ")":
                raise errors.bad_request("$filter has an unclosed parenthesis.")
            return inner
        return self.comparison()

    def comparison(self) -> MetaCondition:
        name = self.take()
        field = _field(name)
        op = self.take()
        if op not in OPERATORS:
            raise errors.not_supported(f"$filter operator {op[:20]!r}")
        literal = self.take()
        if field == "review_state":
            if op not in ("eq", "ne"):
                raise errors.bad_request("__system/reviewState is compared with eq or ne.")
            return MetaTest(field, op, _review_state(literal))
        return MetaTest(field, op, _moment(literal))


def _field(name: str) -> str:
    for prefix in ("$root/Submissions/__system/", "__system/"):
        if name.startswith(prefix) and name[len(prefix) :] in FIELDS:
            return FIELDS[name[len(prefix) :]]
    # Never echo what was typed: it may be anything.
    raise errors.not_supported(
        "$filter on anything but __system/submissionDate and __system/reviewState"
    )


def _review_state(literal: str) -> str:
    if literal == "null":
        return "received"
    if len(literal) >= 2 and literal[0] == literal[-1] == "'":
        state = REVIEW_STATES_BY_NAME.get(literal[1:-1].replace("''", "'"))
        if state is not None:
            return state
    raise errors.bad_request(
        "__system/reviewState is null, 'hasIssues', 'edited', 'approved' or 'rejected'."
    )


def _moment(literal: str) -> datetime:
    try:
        value = datetime.fromisoformat(literal.replace("Z", "+00:00"))
    except ValueError:
        raise errors.bad_request(
            "__system/submissionDate is compared with a date or a date and time, "
            "such as 2026-01-31 or 2026-01-31T23:59:59.999Z."
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_filter(text: str) -> MetaCondition:
    """A `$filter` as a condition on submission metadata; 400.1 or 501.1 when refused."""
    if len(text) > 2000:
        raise errors.bad_request("$filter is too long.")
    parser = _Parser(_tokens(text))
    condition = parser.expression()
    if parser.peek() is not None:
        raise errors.bad_request("$filter has more after its end.")
    return condition


def filter_text(condition: MetaCondition) -> str:
    """A parsed filter written back (for the audit log): only what was understood."""
    if isinstance(condition, MetaLogic):
        if condition.op == "not":
            return f"not ({filter_text(condition.operands[0])})"
        return f" {condition.op} ".join(f"({filter_text(o)})" for o in condition.operands)
    name = "reviewState" if condition.field == "review_state" else "submissionDate"
    value = condition.value
    if isinstance(value, datetime):
        shown = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    elif value == "received":
        shown = "null"
    else:
        shown = f"'{value}'"
    return f"__system/{name} {condition.op} {shown}"


def _count(raw: str | None, name: str, limit: int) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise errors.bad_request(f"{name} is a whole number of rows.")
    return min(int(raw), limit)


def encode_skiptoken(cursor: Cursor) -> str:
    """The `$skiptoken` of a page that ends at `cursor`."""
    body = json.dumps({"s": cursor.submission_id, "o": cursor.ordinal}).encode()
    return SKIPTOKEN_PREFIX + base64.urlsafe_b64encode(body).decode()


def decode_skiptoken(token: str) -> Cursor:
    """The cursor of a `$skiptoken`; 400.1 when it is not one of ours."""
    try:
        if not token.startswith(SKIPTOKEN_PREFIX) or len(token) > 200:
            raise ValueError
        data: Any = json.loads(base64.urlsafe_b64decode(token[len(SKIPTOKEN_PREFIX) :]))
        submission_id, ordinal = data["s"], data["o"]
        if type(submission_id) is not int or type(ordinal) is not int:
            raise ValueError
        if not 0 <= submission_id <= MAX_ID or not 0 <= ordinal <= MAX_ID:
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.bad_request("$skiptoken is not one this server gave.") from None
    return Cursor(submission_id, ordinal)


def parse_select(raw: str | None) -> list[str] | None:
    """The paths of `$select`, or None for all."""
    if raw is None:
        return None
    paths = [part.strip() for part in raw.split(",") if part.strip()]
    if not paths or any(len(p) > 300 for p in paths):
        raise errors.bad_request("$select names properties, separated by commas.")
    return paths


def parse_query(args: MultiDict[str, str]) -> tuple[FeedQuery, list[str] | None]:
    """The options of a data request; 400.1 for a malformed one, 501.1 for one not offered."""
    for name in args:
        if name.startswith("$") and name not in KNOWN_OPTIONS:
            raise errors.not_supported(name[:30])
    if args.get("$format", "json") not in ("json", "application/json"):
        raise errors.not_supported("$format other than json")
    expand = args.get("$expand")
    if expand is not None and expand != "*":
        raise errors.not_supported("$expand of anything but *")
    select = parse_select(args.get("$select"))
    if select is not None and expand is not None:
        raise errors.bad_request("$select and $expand cannot be used together.")
    count = args.get("$count", "false").lower()
    if count not in ("true", "false"):
        raise errors.bad_request("$count is true or false.")
    raw_filter = args.get("$filter")
    meta = parse_filter(raw_filter) if raw_filter and raw_filter.strip() else None
    token = args.get("$skiptoken")
    query = FeedQuery(
        meta=meta,
        filter_text=filter_text(meta) if meta is not None else None,
        top=_count(args.get("$top"), "$top", MAX_TOP),
        skip=_count(args.get("$skip"), "$skip", MAX_TOP) or 0,
        after=decode_skiptoken(token) if token else None,
        count=count == "true",
        expand=expand == "*",
    )
    return query, select
