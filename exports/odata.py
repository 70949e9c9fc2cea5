"""A form's OData feed: its entity sets, its CSDL metadata and its rows, as ODK Central gives
them to pyodk, ruODK, Excel and Power BI (docs/api.md).

Built on the CSV export's layout (exports/layout.py) and batches, so the feed and the CSV zip
never disagree: the same columns (identifying P3 columns left out, always), the same
submissions (decrypted, not superseded, inside the caller's units, in id order). Rows are read
a batch at a time and yielded one by one, so memory stays flat however many there are.

One entity set per table: `Submissions` for the form, and one per repeat named as Central
names it in URLs (`Submissions.group.repeat`). A repeat row's `__id` is its KEY in the CSV
export (`uuid:…/minors[2]`) and `__Submissions-id` (or `__Submissions-<parent>-id` for a nested
repeat) its PARENT_KEY, so the two exports join the same way.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import orjson

from exports.layout import Column, Table, build_layout, drop_columns
from exports.submissions import BATCH, iso_utc, minor_kept
from forms.identifying import identifying_fields
from forms.instance import bind_types_of_xform
from server.store import forms as form_store
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.scope import UnitScope
from server.store.submissions import SubmissionFilter

SUBMISSIONS = "Submissions"
MINORS = "minors"  # the repeat of accompanying minors: each item is a person of the case
SYSTEM = "__system"
SYSTEM_NAMESPACE = "org.opendatakit.submission"
# Our review states as Central names them (Central has no name for "received": null).
REVIEW_STATE_NAMES = {
    "received": None,
    "has_issues": "hasIssues",
    "edited": "edited",
    "approved": "approved",
    "rejected": "rejected",
}
EDM_TYPES = {
    "int": "Edm.Int64",
    "decimal": "Edm.Decimal",
    "date": "Edm.Date",
    "dateTime": "Edm.DateTimeOffset",
}
SYSTEM_FIELDS = (
    ("submissionDate", "Edm.DateTimeOffset"),
    ("updatedAt", "Edm.DateTimeOffset"),
    ("submitterId", "Edm.String"),
    ("submitterName", "Edm.String"),
    ("attachmentsPresent", "Edm.Int64"),
    ("attachmentsExpected", "Edm.Int64"),
    ("status", "Edm.String"),
    ("reviewState", "Edm.String"),
    ("deviceId", "Edm.String"),
    ("edits", "Edm.Int64"),
    ("formVersion", "Edm.String"),
)


@dataclass
class Node:
    """A property of a row: a field (column), a group (children) or a repeat (entity set)."""

    name: str
    column: Column | None = None
    children: list[Node] = field(default_factory=list)
    repeat: FeedTable | None = None
    path: str = ""  # slash path from the instance root


@dataclass
class FeedTable:
    """One entity set."""

    name: str  # the URL name, as Central: Submissions, Submissions.group.repeat
    type_name: str  # the CSDL name of its entity type and set (a simple identifier)
    table: Table
    parent: FeedTable | None
    relative: str  # for a repeat: its path below the parent table's row
    nodes: list[Node] = field(default_factory=list)

    @property
    def parent_key(self) -> str:
        """The property naming the parent row, as Central names it."""
        assert self.parent is not None
        return f"__{self.parent.name.replace('.', '-')}-id"


@dataclass
class FeedForm:
    """What the feed of one form needs, read once per request."""

    form_pk: int
    form_id: str
    title: str
    version_names: dict[int, str]
    types: dict[str, str]
    tables: dict[str, FeedTable]
    # The digest of everything a stored `Submissions` body depends on (`layout_digest`).
    layout: str = ""

    @property
    def main(self) -> FeedTable:
        """The `Submissions` entity set."""
        return self.tables[SUBMISSIONS]

    def table(self, name: str) -> FeedTable | None:
        """The entity set of a URL name (`Submissions.g.rep`) or its CSDL name (with `_`)."""
        found = self.tables.get(name)
        if found is None:
            found = next((t for t in self.tables.values() if t.type_name == name), None)
        return found


def load_feed(store: Store, form_id: str) -> FeedForm:
    """The feed of a published form's current version; LookupError when there is none.

    Read per request (a publish takes effect at the next one); the layout built from the XML
    (110 ms for the 500-field bench form, 55 us a row on a page of 2,000) is kept per form
    version, XML, title, version names and identifying list, so a page only reads the form.
    The feed given is shared between requests: never change it.
    """
    with store.read() as connection:
        versions = form_store.feed_versions(connection, form_id)
        current = versions[-1] if versions else None
        source = form_store.version_source(connection, current.version_id) if current else None
    if current is None or source is None:
        raise LookupError(f"no form {form_id!r} is published")
    version_names = tuple((v.version_id, v.version) for v in versions)
    identifying = identifying_fields(source.fields)
    form_pk, title, xml, version_id = current.id, current.title, source.xml, current.version_id
    return _built_feed(form_pk, form_id, title, version_names, xml, version_id, identifying)


@functools.lru_cache(maxsize=16)
def _built_feed(
    form_pk: int,
    form_id: str,
    title: str,
    version_names: tuple[tuple[int, str], ...],
    xml: str,
    version_id: int,
    identifying: frozenset[str],
) -> FeedForm:
    layout = build_layout(xml, form_id)
    drop_columns(layout, lambda column: column.path.rsplit("/", 1)[-1] in identifying)
    tables: dict[str, FeedTable] = {}
    _add_table(tables, layout, None, "")
    feed = FeedForm(form_pk, form_id, title, dict(version_names), bind_types_of_xform(xml), tables)
    feed.layout = layout_digest(feed, version_id, sorted(identifying))
    return feed


# Submissions rendered (and their bodies stored) per write transaction: the write lock is held
# for about this many renders, and only this many rows of decoded answers are held at once.
RENDER_CHUNK = 100
# Bumped whenever RowRenderer writes a `Submissions` row differently: every stored body is then
# rendered again (their digest no longer matches).
RENDERER_VERSION = 1


def layout_digest(feed: FeedForm, version_id: int, identifying: list[str]) -> str:
    """The digest of what a `Submissions` row's answers are rendered from: the renderer, the
    form and its current version, the identifying (P3) fields left out, and the tree of the
    row's properties with each field's type. A stored body rendered for another digest is
    stale: it is never sent, only rendered again (exports/odata.py `row_bodies`)."""

    def tree(nodes: list[Node]) -> list[Any]:
        return [
            [
                node.name,
                node.path,
                feed.types.get(node.path) if node.column is not None else None,
                node.repeat.name if node.repeat is not None else None,
                node.repeat.relative if node.repeat is not None else None,
                tree(node.children),
            ]
            for node in nodes
        ]

    described = [
        RENDERER_VERSION,
        feed.form_pk,
        feed.form_id,
        version_id,
        identifying,
        feed.main.name,
        tree(feed.main.nodes),
    ]
    return hashlib.sha256(orjson.dumps(described)).hexdigest()


def _add_table(
    tables: dict[str, FeedTable], table: Table, parent: FeedTable | None, relative: str
) -> FeedTable:
    name = SUBMISSIONS if parent is None else f"{SUBMISSIONS}.{table.path.replace('/', '.')}"
    feed = FeedTable(name, name.replace(".", "_"), table, parent, relative)
    tables[name] = feed
    root: list[Node] = feed.nodes
    prefix = f"{table.path}/" if table.path else ""

    def place(parts: list[str], node: Node) -> None:
        level = root
        for depth, part in enumerate(parts[:-1]):
            group = next((n for n in level if n.name == part and n.column is None), None)
            if group is None or group.repeat is not None:
                group = Node(part, path=prefix + "/".join(parts[: depth + 1]))
                level.append(group)
            level = group.children
        level.append(node)

    for column in table.columns:
        place(list(column.parts), Node(column.leaf, column=column, path=column.path))
    for child in table.children:
        child_relative = child.path[len(prefix) :]
        sub = _add_table(tables, child, feed, child_relative)
        place(child_relative.split("/"), Node(child.path.rsplit("/", 1)[-1], repeat=sub))
    return feed


# Rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the submission and, in a repeat set, the row's ordinal in it."""

    submission_id: int
    ordinal: int = 0


def _value(raw: Any, kind: str | None) -> Any:
    if raw is None or isinstance(raw, dict | list):
        return None
    text = raw if type(raw) is str else str(raw)
    if text == "":
        return None
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            return None
    if kind == "decimal":
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        return float(number) if number.is_finite() else None
    return text


_TEXT_OR_NONE = frozenset({str, type(None)})
_TEXT = {str}


@dataclass(frozen=True)
class _Plan:
    """How one level of a row is rendered: its text fields, its typed fields, the rest."""

    text: tuple[str, ...]
    typed: tuple[tuple[str, str], ...]
    others: tuple[Node, ...]
    text_set: frozenset[str]


class RowRenderer:
    """Turns a submission's data into the rows of one entity set."""

    def __init__(
        self,
        feed: FeedForm,
        table: FeedTable,
        expand: bool,
        persons: frozenset[tuple[str, int]] | None = None,
    ) -> None:
        self.feed = feed
        self.table = table
        self.expand = expand
        self.types = feed.types
        self.persons = persons  # None: every person; else only these (case code, index)
        self.case_code: str | None = None  # of the submission being rendered
        self._plans: dict[int, _Plan] = {}

    def _kept(self, name: str, items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """A repeat's items, less the accompanying minors who are not among `persons`."""
        if name != MINORS:
            return items
        return [
            (key, item)
            for position, (key, item) in enumerate(items, start=1)
            if minor_kept(self.persons, self.case_code, position, item)
        ]

    def _plan(self, nodes: list[Node]) -> _Plan:
        plan = self._plans.get(id(nodes))
        if plan is None:
            text, typed, others = [], [], []
            for node in nodes:
                if node.column is None:
                    others.append(node)
                    continue
                kind = self.types.get(node.path)
                if kind in ("int", "decimal"):
                    typed.append((node.name, kind))
                else:
                    text.append(node.name)
            plan = self._plans[id(nodes)] = _Plan(
                tuple(text), tuple(typed), tuple(others), frozenset(text)
            )
        return plan

    def _render(self, nodes: list[Node], data: Any, key: str, out: dict[str, Any]) -> None:
        node_data = data if type(data) is dict else {}
        get = node_data.get
        plan = self._plan(nodes)
        # Text fields in one pass (wide forms have hundreds): a string as it is, an empty
        # one or anything that is not a string (data that does not fit the form) as null.
        values = list(map(get, plan.text))
        if "" in values or not set(map(type, values)) <= _TEXT_OR_NONE:
            values = [v if type(v) is str and v else None for v in values]
        out.update(zip(plan.text, values, strict=True))
        for name, kind in plan.typed:
            out[name] = _value(get(name), kind)
        for node in plan.others:
            if node.repeat is not None:
                if self.expand:
                    out[node.name] = [
                        self._item(node.repeat, item, item_key)
                        for item_key, item in self._kept(
                            node.name, _items(node_data, node.name, key)
                        )
                    ]
                else:
                    link = f"{self.table.name}('{quote(key, safe='')}')/{node.repeat.relative}"
                    out[f"{node.name}@odata.navigationLink"] = link
            else:
                child = get(node.name)
                if self._as_stored(node.children, child):
                    out[node.name] = child  # already the row's shape: no copy
                    continue
                group: dict[str, Any] = {}
                self._render(node.children, child, key, group)
                out[node.name] = group

    def _as_stored(self, nodes: list[Node], data: Any) -> bool:
        """True when a group's stored answers are exactly its row: text fields only, every
        one present and a non-empty string, nothing else (no identifying field, no repeat)."""
        if type(data) is not dict:
            return False
        plan = self._plan(nodes)
        return (
            not plan.typed
            and not plan.others
            and data.keys() == plan.text_set
            and "" not in data.values()
            and set(map(type, data.values())) == _TEXT
        )

    def _item(self, table: FeedTable, data: Any, key: str) -> dict[str, Any]:
        row: dict[str, Any] = {"__id": key}
        inner = RowRenderer(self.feed, table, self.expand, self.persons)
        inner.case_code = self.case_code
        inner._render(table.nodes, data, key, row)
        return row

    def submission_row(self, row: Any) -> dict[str, Any]:
        """The `Submissions` row of one submission."""
        self.case_code = row.case_code
        out: dict[str, Any] = {"__id": row.instance_id}
        self._render(self.table.nodes, row.data or {}, row.instance_id, out)
        out[SYSTEM] = self.system(row)
        return out

    def answers_body(self, instance_id: str, data: Any) -> bytes:
        """The JSON of a `Submissions` row's answers without `$expand`: the members between
        `__id` and `__system`, without braces (what `feed_bodies` stores)."""
        out: dict[str, Any] = {}
        self._render(self.table.nodes, data or {}, instance_id, out)
        return orjson.dumps(out)[1:-1]

    def system(self, row: Any) -> dict[str, Any]:
        """A submission's `__system` (its metadata: never stored, always read anew)."""
        return {
            "submissionDate": iso_utc(row.received_at),
            "updatedAt": None,
            "submitterId": str(row.collector_id) if row.collector_id is not None else None,
            "submitterName": row.collector_name or None,
            "attachmentsPresent": 0,
            "attachmentsExpected": 0,
            "status": None,
            "reviewState": REVIEW_STATE_NAMES.get(row.review_state, row.review_state),
            "deviceId": None,
            "edits": 0,
            "formVersion": self.feed.version_names.get(row.form_version_id, ""),
        }

    def repeat_rows(self, row: Any) -> Iterator[dict[str, Any]]:
        """The rows of this repeat set in one submission, in the CSV export's order."""
        self.case_code = row.case_code
        chain: list[FeedTable] = []
        table: FeedTable | None = self.table
        while table is not None and table.parent is not None:
            chain.append(table)
            table = table.parent
        chain.reverse()

        def walk(depth: int, data: Any, parent_key: str) -> Iterator[dict[str, Any]]:
            level = chain[depth]
            name = level.relative.rsplit("/", 1)[-1]
            for key, item in self._kept(name, _items_at(data, level.relative, parent_key)):
                if depth + 1 < len(chain):
                    yield from walk(depth + 1, item, key)
                    continue
                out: dict[str, Any] = {"__id": key}
                self._render(level.nodes, item, key, out)
                out[level.parent_key] = parent_key
                yield out

        yield from walk(0, row.data or {}, row.instance_id)


def _items(container: Mapping[str, Any], name: str, parent_key: str) -> list[tuple[str, Any]]:
    items = container.get(name, [])
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return []
    return [(f"{parent_key}/{name}[{n}]", item) for n, item in enumerate(items, start=1)]


def _items_at(data: Any, relative: str, parent_key: str) -> list[tuple[str, Any]]:
    """A repeat's items below a row, each with its key (as the CSV export's KEY)."""
    *groups, name = relative.split("/")
    container: Any = data
    for part in groups:
        container = container.get(part, {}) if isinstance(container, dict) else {}
    return _items(container, name, parent_key) if isinstance(container, dict) else []


def rows(
    store: Store,
    scope: UnitScope,
    feed: FeedForm,
    table: FeedTable,
    filters: SubmissionFilter,
    *,
    after: Cursor | None = None,
    skip: int = 0,
    expand: bool = False,
    persons: frozenset[tuple[str, int]] | None = None,
    limit: int | None = None,
) -> Iterator[tuple[Cursor, dict[str, Any]]]:
    """The rows of one entity set in order, each with the cursor a next page starts after.

    `after` resumes after a cursor (keyset paging, the $skiptoken); `skip` leaves out that many
    rows first (on `Submissions` found with one query of ids, without reading their data).
    `persons`, when given, keeps only the accompanying minors among them (the submissions
    themselves are chosen by `filters`). `limit`: at most that many rows (on `Submissions`,
    no submission past them is read).
    """
    if limit is not None and limit <= 0:
        return
    left = limit
    renderer = RowRenderer(feed, table, expand, persons)
    main = table.parent is None
    after_id = 0
    if after is not None:
        after_id = after.submission_id if main else after.submission_id - 1
    if main and skip:
        with store.reader() as session:
            found = submission_store.export_id_before(
                session, scope, feed.form_pk, filters, skip, after_id
            )
        if found is None:
            return
        after_id, skip = found, 0
    while True:
        size = BATCH if left is None or not main else min(BATCH, left)
        with store.reader() as session:
            batch = submission_store.export_batch(
                session, scope, feed.form_pk, filters, after_id, size
            )
        if not batch:
            return
        for row in batch:
            if main:
                yield Cursor(row.id), renderer.submission_row(row)
                if left is not None:
                    left -= 1
                    if left <= 0:
                        return
                continue
            for ordinal, item in enumerate(renderer.repeat_rows(row), start=1):
                if after is not None and row.id == after.submission_id and ordinal <= after.ordinal:
                    continue
                if skip:
                    skip -= 1
                    continue
                yield Cursor(row.id, ordinal), item
                if left is not None:
                    left -= 1
                    if left <= 0:
                        return
        if len(batch) < size:
            return
        after_id = batch[-1].id
        del batch  # not held while the next batch is read: one batch of decoded rows at most


def row_bodies(
    store: Store,
    scope: UnitScope,
    feed: FeedForm,
    filters: SubmissionFilter,
    *,
    after: Cursor | None = None,
    skip: int = 0,
    limit: int | None = None,
) -> Iterator[tuple[Cursor, bytes]]:
    """The `Submissions` rows (whole, without `$expand`) as `rows` gives them, each already
    encoded as JSON: the same submissions, chosen by the same query (scope, consent,
    superseded and undecrypted left out), the same bytes as `orjson.dumps` of its row.

    A row's answers are rendered once per feed layout and stored (`feed_bodies`); the rows
    after that are the stored bytes between a fresh `__id` and `__system`, so a page costs
    neither decoding the stored answers nor rendering them. A submission without a body for
    this layout (new, its data changed, or the layout changed) is rendered from its data,
    read locked in a write transaction so that no body outlives the data it came from.
    """
    if limit is not None and limit <= 0:
        return
    renderer = RowRenderer(feed, feed.main, expand=False)
    after_id = after.submission_id if after is not None else 0
    if skip:
        with store.reader() as session:
            found = submission_store.export_id_before(
                session, scope, feed.form_pk, filters, skip, after_id
            )
        if found is None:
            return
        after_id = found
    left = limit
    while True:
        size = BATCH if left is None else min(BATCH, left)
        with store.reader() as session:
            batch = submission_store.export_body_batch(
                session, scope, feed.form_pk, filters, after_id, size, feed.layout
            )
        if not batch:
            return
        missing = [row.id for row in batch if row.body is None]
        rendered = _render_bodies(store, scope, feed, filters, renderer, missing)
        for row in batch:
            body = submission_store.feed_body(row.body)
            if body is None:
                body = rendered.get(row.id)
            if body is None:
                continue  # it left the feed (consent, an edit) since the batch was read
            head = b'{"__id":' + orjson.dumps(row.instance_id)
            system = b'"__system":' + orjson.dumps(renderer.system(row)) + b"}"
            yield Cursor(row.id), b",".join((head, body, system)) if body else head + b"," + system
            if left is not None:
                left -= 1
                if left <= 0:
                    return
        if len(batch) < size:
            return
        after_id = batch[-1].id
        del batch, rendered


@dataclass(frozen=True)
class Rendered:
    """What a `render_missing` pass did: the bodies it stored, the last submission it looked
    at (the next pass may start after it), and whether it reached the form's last one."""

    stored: int
    last_id: int
    finished: bool


# Current submissions looked at per query of the rows without a body (ids only).
SCAN = 2000


def render_missing(
    store: Store, feed: FeedForm, *, after_id: int = 0, limit: int | None = None
) -> Rendered:
    """Render and store now the bodies of the form's submissions the feed could give
    (decrypted, current; in any unit, of any consent: a body is only ever sent to rows the
    request's own query chose) that have none for the current layout, after `after_id`.
    Only the rows without a body are found and read (index queries: `missing_body_ids`),
    never the data of the others. With `limit`, one step: at most `limit` rendered, of the
    next `SCAN` submissions looked at."""
    every = UnitScope.all_units()
    renderer = RowRenderer(feed, feed.main, expand=False)
    done = 0
    while True:
        with store.reader() as session:
            missing, last = submission_store.missing_body_ids(
                session, feed.form_pk, feed.layout, after_id, SCAN
            )
        if last is None:
            return Rendered(done, after_id, True)
        if limit is not None and len(missing) > limit:
            missing = missing[:limit]
            last = missing[-1]
        if missing:
            done += len(_render_bodies(store, every, feed, SubmissionFilter(), renderer, missing))
        after_id = last
        if limit is not None:
            return Rendered(done, after_id, False)


def render_bodies_of(
    store: Store, feed: FeedForm, ids: list[int], without_body: Collection[int] = ()
) -> int:
    """Render and store the bodies of those of these submissions of the form (just
    decrypted, say) that the feed could give and that have none for its layout; returns how
    many were stored.

    `without_body`: those of `ids` the caller knows had no body when it called (the
    processor's own batch, decrypted by the transaction it just committed: a body only
    exists of a decrypted row): they are not looked up. Each is still re-read locked and only
    rendered if the feed could give it (`_render_bodies`); one that a reader rendered
    meanwhile gets the same bytes again (an upsert)."""
    known = set(without_body)
    probed = [key for key in ids if key not in known]
    if probed:
        with store.reader() as session:
            probed, _ = submission_store.missing_body_ids(
                session, feed.form_pk, feed.layout, 0, len(probed), among=probed
            )
    ids = sorted({*probed, *(key for key in ids if key in known)})
    if not ids:
        return 0
    renderer = RowRenderer(feed, feed.main, expand=False)
    every = UnitScope.all_units()
    return len(_render_bodies(store, every, feed, SubmissionFilter(), renderer, ids))


def delete_stale_bodies(store: Store, feed: FeedForm, limit: int | None = 1000) -> int:
    """Delete up to `limit` bodies of the form rendered for another layout than the feed's
    (an older form version, renderer or identifying list); how many were deleted."""
    with store.session() as session:
        return submission_store.delete_stale_bodies(session, feed.form_pk, feed.layout, limit)


def _render_bodies(
    store: Store,
    scope: UnitScope,
    feed: FeedForm,
    filters: SubmissionFilter,
    renderer: RowRenderer,
    ids: list[int],
) -> dict[int, bytes]:
    """Render and store the bodies of `ids` (those still in the feed), in one transaction that
    holds their data unchanged until the bodies are stored."""
    bodies: dict[int, bytes] = {}
    for start in range(0, len(ids), RENDER_CHUNK):
        chunk = ids[start : start + RENDER_CHUNK]
        with store.session() as session:
            found = submission_store.export_data_locked(
                session, scope, feed.form_pk, filters, chunk
            )
            rendered = {row.id: renderer.answers_body(row.instance_id, row.data) for row in found}
            del found  # the decoded answers: only one chunk of them is ever held
            submission_store.save_feed_bodies(session, feed.form_pk, feed.layout, rendered)
        bodies.update(rendered)
    return bodies


def count_after(
    store: Store,
    scope: UnitScope,
    feed: FeedForm,
    filters: SubmissionFilter,
    after_id: int,
    limit: int | None = None,
) -> int:
    """How many `Submissions` rows come after the submission `after_id` (ids only), or at
    most `limit`."""
    with store.reader() as session:
        return submission_store.export_count(session, scope, feed.form_pk, filters, after_id, limit)


def count(
    store: Store,
    scope: UnitScope,
    feed: FeedForm,
    table: FeedTable,
    filters: SubmissionFilter,
    persons: frozenset[tuple[str, int]] | None = None,
) -> int:
    """How many rows the entity set holds (a repeat set reads every submission to know)."""
    if table.parent is None:
        with store.reader() as session:
            return submission_store.export_count(session, scope, feed.form_pk, filters)
    return sum(1 for _ in rows(store, scope, feed, table, filters, persons=persons))


# Metadata ---------------------------------------------------------------------------------


def _property(name: str, edm_type: str, nullable: bool = True) -> str:
    extra = "" if nullable else ' Nullable="false"'
    return f"<Property Name={quoteattr(name)} Type={quoteattr(edm_type)}{extra}/>"


def metadata_xml(feed: FeedForm) -> str:
    """The CSDL (EDMX 4.0) of the feed: groups as complex types, repeats as entity types
    reached by navigation properties, `__system` as Central describes it."""
    namespace = f"org.opendatakit.user.{feed.form_id}"
    types: list[str] = []
    bindings: dict[str, list[tuple[str, str]]] = {}

    def members(nodes: list[Node], type_prefix: str, path_prefix: str, owner: FeedTable) -> str:
        parts = []
        for node in nodes:
            if node.column is not None:
                edm = EDM_TYPES.get(feed.types.get(node.path, ""), "Edm.String")
                parts.append(_property(node.name, edm))
            elif node.repeat is not None:
                target = node.repeat
                parts.append(
                    f"<NavigationProperty Name={quoteattr(node.name)} "
                    f'Type="Collection({namespace}.{target.type_name})"/>'
                )
                bindings.setdefault(owner.type_name, []).append(
                    (f"{path_prefix}{node.name}", target.type_name)
                )
                entity(target)
            else:
                complex_name = f"{type_prefix}_{node.name}"
                body = members(node.children, complex_name, f"{path_prefix}{node.name}/", owner)
                types.append(f"<ComplexType Name={quoteattr(complex_name)}>{body}</ComplexType>")
                parts.append(_property(node.name, f"{namespace}.{complex_name}"))
        return "".join(parts)

    def entity(table: FeedTable) -> None:
        head = [
            '<Key><PropertyRef Name="__id"/></Key>',
            _property("__id", "Edm.String", nullable=False),
        ]
        if table.parent is not None:
            head.append(_property(table.parent_key, "Edm.String"))
        body = members(table.nodes, table.type_name, "", table)
        if table.parent is None:
            body += _property(SYSTEM, f"{SYSTEM_NAMESPACE}.metadata")
        types.append(
            f"<EntityType Name={quoteattr(table.type_name)}>{''.join(head)}{body}</EntityType>"
        )

    entity(feed.main)
    sets = []
    for table in feed.tables.values():
        binds = "".join(
            f"<NavigationPropertyBinding Path={quoteattr(path)} Target={quoteattr(target)}/>"
            for path, target in bindings.get(table.type_name, [])
        )
        sets.append(
            f"<EntitySet Name={quoteattr(table.type_name)} "
            f"EntityType={quoteattr(f'{namespace}.{table.type_name}')}>{binds}"
            f"{CAPABILITIES}</EntitySet>"
        )
    system = "".join(_property(name, edm) for name, edm in SYSTEM_FIELDS)
    container_name = "".join(c if c.isalnum() or c == "_" else "_" for c in feed.form_id)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        "<edmx:DataServices>"
        f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="{SYSTEM_NAMESPACE}">'
        f'<ComplexType Name="metadata">{system}</ComplexType>'
        "</Schema>"
        f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace={quoteattr(namespace)}>'
        f"{''.join(types)}"
        f"<EntityContainer Name={quoteattr(container_name or 'form')}>{''.join(sets)}"
        "</EntityContainer>"
        "</Schema>"
        "</edmx:DataServices>"
        "</edmx:Edmx>"
    )


# What the service supports, in the Capabilities vocabulary (as Central annotates its sets).
CAPABILITIES = (
    '<Annotation Term="Org.OData.Capabilities.V1.ConformanceLevel" '
    'EnumMember="Org.OData.Capabilities.V1.ConformanceLevelType/Minimal"/>'
    '<Annotation Term="Org.OData.Capabilities.V1.BatchSupported" Bool="false"/>'
    '<Annotation Term="Org.OData.Capabilities.V1.CountRestrictions">'
    '<Record><PropertyValue Property="Countable" Bool="true"/></Record></Annotation>'
    '<Annotation Term="Org.OData.Capabilities.V1.SortRestrictions">'
    '<Record><PropertyValue Property="Sortable" Bool="false"/></Record></Annotation>'
    '<Annotation Term="Org.OData.Capabilities.V1.ExpandRestrictions">'
    '<Record><PropertyValue Property="Expandable" Bool="true"/></Record></Annotation>'
)
