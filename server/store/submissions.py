"""Queries on submissions and their parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal_column,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from server.store.models import (
    Collector,
    FeedBody,
    Form,
    FormVersion,
    Submission,
    SubmissionPart,
    table_of,
)
from server.store.scope import UnitScope, unit_clause, unit_filter_clause


def by_instance(
    session: Session, form_id: int, instance_id: str, for_update: bool = False
) -> Submission | None:
    """The submission of a form with this instanceID (locked for update when asked, on
    PostgreSQL; SQLite already serialises writers)."""
    query = select(Submission).where(
        Submission.form_id == form_id, Submission.instance_id == instance_id
    )
    return session.scalar(query.with_for_update() if for_update else query)


def by_id(session: Session, submission_id: int) -> Submission | None:
    """One submission by id."""
    return session.get(Submission, submission_id)


def add(session: Session, submission: Submission) -> Submission:
    """Insert a submission."""
    session.add(submission)
    session.flush()
    return submission


def parts(session: Session, submission_id: int) -> Sequence[SubmissionPart]:
    """The parts received for a submission, by name."""
    return session.scalars(
        select(SubmissionPart)
        .where(SubmissionPart.submission_id == submission_id)
        .order_by(SubmissionPart.name)
    ).all()


def add_part(session: Session, part: SubmissionPart) -> SubmissionPart:
    """Insert a part (written with the other pending rows at the next flush)."""
    session.add(part)
    return part


def pending_ids(session: Session) -> list[int]:
    """Submissions not decrypted yet (waiting for a part or the key, or failed)."""
    return list(session.scalars(select(Submission.id).where(_UNDECRYPTED).order_by(Submission.id)))


# What the unit rule accepted (server/services/units.py): the only submissions that act.
ACCEPTED = "accepted"


def for_case(session: Session, scope: UnitScope, case_code: str) -> Sequence[Submission]:
    """The submissions that make up a case and the scope may see: decrypted, current, not
    rejected, accepted by the unit rule (a submission naming the code from another unit is
    never part of the case)."""
    return session.scalars(
        select(Submission)
        .where(
            Submission.case_code == case_code,
            Submission.decrypt_state == "decrypted",
            Submission.superseded_by_id.is_(None),
            Submission.review_state != "rejected",
            Submission.unit_check == ACCEPTED,
            unit_clause(scope, Submission.province_code, Submission.commune_code),
        )
        .order_by(Submission.event_date, Submission.id)
    ).all()


# The ingest hot path: statements built once, run on a Connection (no ORM unit of work).
# Building a statement costs more than running it on SQLite; these are reused per request.

_S = table_of(Submission)
_P = table_of(SubmissionPart)
_F = table_of(Form)
_INSERT_MANY = insert(_S)
# `decrypt_state <> 'decrypted'` written out, not bound: the planners then know that the partial
# index ix_submissions_undecrypted holds every row asked for.
_UNDECRYPTED = _S.c.decrypt_state != literal_column("'decrypted'")
# Both columns, so that the unique (form_id, instance_id) index finds them: by instanceID
# alone every group commit read the whole table.
_IDS_BY_INSTANCE = select(_S.c.id, _S.c.form_id, _S.c.instance_id).where(
    _S.c.form_id.in_(bindparam("b_forms", expanding=True)),
    _S.c.instance_id.in_(bindparam("b_instances", expanding=True)),
)
_INSERT_PARTS = insert(_P)
_SET = update(_S).where(_S.c.id == bindparam("b_id"))
_SUPERSEDE = (
    update(_S)
    .where(_S.c.id == bindparam("b_id"), _S.c.superseded_by_id.is_(None))
    .values(superseded_by_id=bindparam("b_by"))
)
_EDITED = select(_S.c.id, _S.c.case_code, _S.c.superseded_by_id, _S.c.unit_code).where(
    _S.c.form_id == bindparam("b_form"), _S.c.instance_id == bindparam("b_instance")
)
_V = table_of(FormVersion)
_PROCESSING_ROWS = (
    select(_S.c.id, _S.c.form_id, _S.c.deprecated_id, _S.c.decrypt_state)
    .where(_S.c.id.in_(bindparam("b_ids", expanding=True)))
    .with_for_update()
)
_TO_PROCESS = (
    select(
        _S.c.id,
        _S.c.form_version_id,
        _S.c.encrypted,
        _S.c.decrypt_state,
        _F.c.xml_form_id,
        _V.c.key_id,
    )
    .join(_F, _F.c.id == _S.c.form_id)
    .join(_V, _V.c.id == _S.c.form_version_id)
    .where(_S.c.id.in_(bindparam("b_ids", expanding=True)))
)
_PART_DIGESTS = select(_P.c.submission_id, _P.c.name, _P.c.blob_sha256).where(
    _P.c.submission_id.in_(bindparam("b_ids", expanding=True))
)
_OF_CASES = (
    select(
        _S.c.case_code,
        _S.c.id,
        _S.c.data,
        _S.c.event_date,
        _S.c.province_code,
        _S.c.commune_code,
        _S.c.unit_code,
        _S.c.unit_check,
        _S.c.received_at,
        _F.c.xml_form_id,
    )
    .join(_F, _F.c.id == _S.c.form_id)
    .where(
        _S.c.case_code.in_(bindparam("b_codes", expanding=True)),
        _S.c.decrypt_state == "decrypted",
        _S.c.superseded_by_id.is_(None),
        _S.c.review_state != "rejected",
    )
    .order_by(_S.c.case_code, _S.c.event_date, _S.c.id)
)


_TO_JUDGE = (
    select(
        _S.c.id,
        _S.c.case_code,
        _S.c.data,
        _S.c.province_code,
        _S.c.commune_code,
        _S.c.unit_code,
        _S.c.unit_check,
        _F.c.xml_form_id,
    )
    .join(_F, _F.c.id == _S.c.form_id)
    .where(
        _S.c.id.in_(bindparam("b_ids", expanding=True)),
        _S.c.decrypt_state == "decrypted",
    )
)
_UNIT_CODE_OF = select(_S.c.unit_code).where(_S.c.id == bindparam("b_id"))


def ids_by_instance(
    connection: Connection, wanted: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    """The ids of the stored submissions among these (form id, instanceID) pairs."""
    if not wanted:
        return {}
    rows = connection.execute(
        _IDS_BY_INSTANCE,
        {
            "b_forms": sorted({form for form, _i in wanted}),
            "b_instances": sorted({instance for _f, instance in wanted}),
        },
    )
    pairs = set(wanted)
    return {
        (row.form_id, row.instance_id): row.id
        for row in rows
        if (row.form_id, row.instance_id) in pairs
    }


def insert_many(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert submission rows (all with the same columns).

    A plain executemany: one short statement the drivers prepare once and repeat (psycopg
    pipelines it), where INSERT ... RETURNING of many rows would be a new long statement each
    time; the ids are read back with `ids_by_instance`."""
    connection.execute(_INSERT_MANY, rows)


def insert_parts(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert part rows (submission_id, name, blob_sha256, size, content_type)."""
    connection.execute(_INSERT_PARTS, rows)


def supersede(connection: Connection, submission_id: int, by_id: int) -> None:
    """Mark a submission as replaced by `by_id`, unless it already is (one statement, so two
    edits of one submission at once cannot both replace it)."""
    connection.execute(_SUPERSEDE, {"b_id": submission_id, "b_by": by_id})


def set_columns(connection: Connection, submission_id: int, values: dict[str, Any]) -> None:
    """Update some columns of one submission."""
    connection.execute(_SET, {"b_id": submission_id, **values})


def set_columns_many(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Update the same columns of several submissions (each row has `b_id`)."""
    if rows:
        connection.execute(_SET, rows)


def edited(connection: Connection, form_id: int, instance_id: str) -> Row[Any] | None:
    """(id, case_code, superseded_by_id, unit_code) of the submission an edit replaces, if
    stored."""
    return connection.execute(_EDITED, {"b_form": form_id, "b_instance": instance_id}).first()


def received_before(
    connection: Connection, before: datetime | None, limit: int, after_id: int = 0
) -> list[int]:
    """Submissions recorded before `before` (None: whenever) and not processed since (none
    tried them), after `after_id`, oldest first; from the index of received submissions."""
    conditions = [
        _S.c.decrypt_state == "pending",
        _S.c.decrypt_reason == "received",
        _S.c.id > after_id,
    ]
    if before is not None:
        conditions.append(_S.c.received_at < before)
    return list(
        connection.scalars(select(_S.c.id).where(*conditions).order_by(_S.c.id).limit(limit))
    )


def processing_rows(connection: Connection, ids: list[int]) -> dict[int, Row[Any]]:
    """(id, form_id, deprecated_id, decrypt_state) by id, locked for update on PostgreSQL."""
    return {row.id: row for row in connection.execute(_PROCESSING_ROWS, {"b_ids": ids})}


def to_process(connection: Connection, ids: list[int]) -> Sequence[Row[Any]]:
    """What processing needs to know of these submissions, with their form and key."""
    return connection.execute(_TO_PROCESS, {"b_ids": ids}).all()


def part_digests(connection: Connection, ids: list[int]) -> dict[int, dict[str, str]]:
    """Each submission's parts: name -> blob sha256."""
    found: dict[int, dict[str, str]] = {}
    for row in connection.execute(_PART_DIGESTS, {"b_ids": ids}):
        found.setdefault(row.submission_id, {})[row.name] = row.blob_sha256
    return found


def rows_of_cases(connection: Connection, case_codes: list[str]) -> Sequence[Row[Any]]:
    """The current submissions naming these case codes (decrypted, not superseded, not
    rejected; whatever the unit rule made of them), with their form's XForm id, by case and in
    event order: what the projection judges and builds the cases from."""
    return connection.execute(_OF_CASES, {"b_codes": case_codes}).all()


def rows_to_judge(connection: Connection, ids: list[int]) -> Sequence[Row[Any]]:
    """What the unit rule reads of these submissions, the decrypted ones."""
    return connection.execute(_TO_JUDGE, {"b_ids": ids}).all()


def unit_code_of(connection: Connection, submission_id: int) -> str | None:
    """The unit a submission acts in (its collector's when it was received)."""
    return connection.execute(_UNIT_CODE_OF, {"b_id": submission_id}).scalar()


def decrypted_case_codes(connection: Connection, after: str, limit: int) -> list[str]:
    """Distinct case codes named by decrypted submissions, after `after`, in order."""
    return list(
        connection.scalars(
            select(_S.c.case_code)
            .where(
                _S.c.case_code.is_not(None),
                _S.c.case_code > after,
                _S.c.decrypt_state == "decrypted",
            )
            .group_by(_S.c.case_code)
            .order_by(_S.c.case_code)
            .limit(limit)
        )
    )


def decrypted_ids_without_case(connection: Connection, after_id: int, limit: int) -> list[int]:
    """Decrypted submissions that name no case, after `after_id`, in id order."""
    return list(
        connection.scalars(
            select(_S.c.id)
            .where(_S.c.case_code.is_(None), _S.c.id > after_id, _S.c.decrypt_state == "decrypted")
            .order_by(_S.c.id)
            .limit(limit)
        )
    )


# Web view queries. Every one takes the user's UnitScope (server/store/scope.py).


@dataclass(frozen=True)
class MetaTest:
    """One comparison on a submission's own metadata: `received_at` (a UTC-aware datetime)
    or `review_state` (a state or None), with eq, ne, lt, le, gt or ge (the OData $filter
    of the /v1 API, server/api/)."""

    field: str
    op: str
    value: datetime | str | None


@dataclass(frozen=True)
class MetaLogic:
    """`and` / `or` of two or more conditions, or `not` of one."""

    op: str
    operands: tuple[MetaTest | MetaLogic, ...]


MetaCondition = MetaTest | MetaLogic
META_COLUMNS = {"received_at": Submission.received_at, "review_state": Submission.review_state}


@dataclass(frozen=True)
class SubmissionFilter:
    """What the supervisor narrowed the submission table to."""

    event_from: date | None = None
    event_to: date | None = None
    unit: str | None = None
    collector_id: int | None = None
    review_state: str | None = None
    meta: MetaCondition | None = None
    # Only submissions without a case, or of these cases (the OData feed's data-use consent).
    cases_or_none: frozenset[str] | None = None
    instance_id: str | None = None  # one submission (the OData feed's Submissions('...'))


def _meta_clause(condition: MetaCondition) -> ColumnElement[bool]:
    if isinstance(condition, MetaLogic):
        parts = [_meta_clause(operand) for operand in condition.operands]
        if condition.op == "not":
            return not_(parts[0])
        return and_(*parts) if condition.op == "and" else or_(*parts)
    column: Any = META_COLUMNS[condition.field]
    value = condition.value
    if value is None:
        if condition.op not in ("eq", "ne"):
            return false()
        empty: ColumnElement[bool] = (
            column.is_(None) if condition.op == "eq" else column.is_not(None)
        )
        return empty
    compare = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "lt": column.__lt__,
        "le": column.__le__,
        "gt": column.__gt__,
        "ge": column.__ge__,
    }[condition.op]
    clause: ColumnElement[bool] = compare(value)
    return clause


def _filter_conditions(
    scope: UnitScope, form_id: int, filters: SubmissionFilter
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Submission.form_id == form_id,
        unit_clause(scope, Submission.province_code, Submission.commune_code),
        unit_filter_clause(filters.unit, Submission.province_code, Submission.commune_code),
    ]
    if filters.event_from:
        conditions.append(Submission.event_date >= filters.event_from)
    if filters.event_to:
        conditions.append(Submission.event_date <= filters.event_to)
    if filters.collector_id:
        conditions.append(Submission.collector_id == filters.collector_id)
    if filters.review_state:
        conditions.append(Submission.review_state == filters.review_state)
    if filters.meta is not None:
        conditions.append(_meta_clause(filters.meta))
    if filters.instance_id is not None:
        conditions.append(Submission.instance_id == filters.instance_id)
    if filters.cases_or_none is not None:
        codes = bindparam(
            "cases_or_none", sorted(filters.cases_or_none), expanding=True, literal_execute=True
        )
        conditions.append(or_(Submission.case_code.is_(None), Submission.case_code.in_(codes)))
    return conditions


TABLE_COLUMNS = (
    Submission.id,
    Submission.instance_id,
    Submission.received_at,
    Submission.event_date,
    Submission.province_code,
    Submission.commune_code,
    Submission.case_code,
    Submission.review_state,
    Submission.decrypt_state,
    Submission.signature,
    Submission.superseded_by_id,
    Submission.unit_check,
    Collector.name.label("collector_name"),
)


def table_page(
    session: Session,
    scope: UnitScope,
    form_id: int,
    filters: SubmissionFilter,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[Row[Any]]:
    """One page of a form's submissions, newest first, keyset-paged on id (no OFFSET).

    Only the table's columns are read, never the data, so a page costs the same at row
    100,000 as at row 1.
    """
    conditions = _filter_conditions(scope, form_id, filters)
    if before_id is not None:
        conditions.append(Submission.id < before_id)
    return session.execute(
        select(*TABLE_COLUMNS)
        .outerjoin(Collector, Collector.id == Submission.collector_id)
        .where(*conditions)
        .order_by(Submission.id.desc())
        .limit(limit)
    ).all()


def table_count(session: Session, scope: UnitScope, form_id: int, filters: SubmissionFilter) -> int:
    """How many submissions match the table's filters."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(*_filter_conditions(scope, form_id, filters))
        )
        or 0
    )


def counts_by_form(session: Session, scope: UnitScope) -> dict[int, int]:
    """How many submissions of each form the scope may see."""
    rows = session.execute(
        select(Submission.form_id, func.count())
        .where(unit_clause(scope, Submission.province_code, Submission.commune_code))
        .group_by(Submission.form_id)
    ).all()
    return {int(row[0]): int(row[1]) for row in rows}


def in_scope(session: Session, scope: UnitScope, submission_id: int) -> Submission | None:
    """The submission when the scope may see it, else None (callers answer 404)."""
    return session.scalar(
        select(Submission).where(
            Submission.id == submission_id,
            unit_clause(scope, Submission.province_code, Submission.commune_code),
        )
    )


def not_decrypted(session: Session, limit: int = 200) -> Sequence[Submission]:
    """Submissions waiting for decryption (a part, the key) or failed, oldest first."""
    return session.scalars(
        select(Submission).where(_UNDECRYPTED).order_by(Submission.id).limit(limit)
    ).all()


def count_not_decrypted(session: Session) -> int:
    """How many submissions are not decrypted."""
    return session.scalar(select(func.count()).select_from(Submission).where(_UNDECRYPTED)) or 0


def edit_history(session: Session, submission: Submission) -> list[Submission]:
    """Every version of an edited submission, oldest first (deprecatedID chain both ways).

    Only edits that did replace their original count: an edit the unit rule refused (from
    another unit) names a submission it never replaced, and its page must not show it.
    """
    chain = [submission]
    seen = {submission.id}
    current = submission
    while current.deprecated_id:
        older = by_instance(session, current.form_id, current.deprecated_id)
        if older is None or older.id in seen or older.superseded_by_id != current.id:
            break
        chain.insert(0, older)
        seen.add(older.id)
        current = older
    current = submission
    while current.superseded_by_id and current.superseded_by_id not in seen:
        newer = session.get(Submission, current.superseded_by_id)
        if newer is None:
            break
        chain.append(newer)
        seen.add(newer.id)
        current = newer
    return chain


def data_in_period(
    session: Session, scope: UnitScope, form_id: int, start: date, end: date
) -> Sequence[dict[str, Any] | None]:
    """The data of a form's current, not rejected submissions dated in [start, end] in scope."""
    return session.scalars(
        select(Submission.data).where(
            Submission.form_id == form_id,
            Submission.decrypt_state == "decrypted",
            Submission.superseded_by_id.is_(None),
            Submission.review_state != "rejected",
            Submission.unit_check == ACCEPTED,
            Submission.event_date >= start,
            Submission.event_date <= end,
            unit_clause(scope, Submission.province_code, Submission.commune_code),
        )
    ).all()


# Exports: streamed in id order, a batch at a time, so memory stays flat.


def export_batch(
    session: Session,
    scope: UnitScope,
    form_id: int,
    filters: SubmissionFilter,
    after_id: int,
    limit: int = 500,
    form_version_id: int | None = None,
) -> Sequence[Row[Any]]:
    """The next decrypted, current submissions after `after_id`, with their data."""
    conditions = [*_export_conditions(scope, form_id, filters), Submission.id > after_id]
    if form_version_id is not None:
        conditions.append(Submission.form_version_id == form_version_id)
    return session.execute(
        select(
            Submission.id,
            Submission.instance_id,
            Submission.received_at,
            Submission.data,
            Submission.review_state,
            Submission.signature,
            Submission.form_version_id,
            Submission.collector_id,
            Submission.case_code,
            Collector.name.label("collector_name"),
        )
        .outerjoin(Collector, Collector.id == Submission.collector_id)
        .where(*conditions)
        .order_by(Submission.id)
        .limit(limit)
    ).all()


def export_body_batch(
    session: Session,
    scope: UnitScope,
    form_id: int,
    filters: SubmissionFilter,
    after_id: int,
    limit: int,
    layout: str,
) -> Sequence[Row[Any]]:
    """The next submissions `export_batch` would give after `after_id`, without their data:
    each with its stored feed body for `layout` (see `feed_body`; None when it has none, or
    one rendered for another layout)."""
    conditions = [*_export_conditions(scope, form_id, filters), Submission.id > after_id]
    return session.execute(
        select(
            Submission.id,
            Submission.instance_id,
            Submission.received_at,
            Submission.review_state,
            Submission.form_version_id,
            Submission.collector_id,
            Collector.name.label("collector_name"),
            FeedBody.body,
        )
        .outerjoin(Collector, Collector.id == Submission.collector_id)
        .outerjoin(
            FeedBody, and_(FeedBody.submission_id == Submission.id, FeedBody.layout == layout)
        )
        .where(*conditions)
        .order_by(Submission.id)
        .limit(limit)
    ).all()


def export_data_locked(
    session: Session, scope: UnitScope, form_id: int, filters: SubmissionFilter, ids: list[int]
) -> Sequence[Row[Any]]:
    """The data of those of `ids` that `export_batch` would still give, locked against a
    change until the session ends (FOR SHARE on PostgreSQL: an update waits, another reader
    rendering the same rows does not; a writer session holds SQLite's write lock), so a body
    rendered from it cannot be stored after its data changed (the change's trigger deletes
    the body only once it is stored)."""
    return session.execute(
        select(Submission.id, Submission.instance_id, Submission.data)
        .where(*_export_conditions(scope, form_id, filters), Submission.id.in_(ids))
        .order_by(Submission.id)
        .with_for_update(read=True, of=Submission)
    ).all()


def feed_body(stored: bytes | str | None) -> bytes | None:
    """A stored feed body as UTF-8 bytes (SQLite keeps them as a BLOB, PostgreSQL as text)."""
    return stored if stored is None or type(stored) is bytes else stored.encode("utf-8")


def _feed_body_upsert(dialect: str) -> Any:
    """The upsert of feed bodies on `dialect`, built once (a plain Core statement: no ORM
    bulk insert, no statement built per call)."""
    found = _FEED_BODY_UPSERTS.get(dialect)
    if found is None:
        table = table_of(FeedBody)
        upsert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(table)
        found = _FEED_BODY_UPSERTS[dialect] = upsert.on_conflict_do_update(
            index_elements=[table.c.submission_id],
            set_={
                "form_id": upsert.excluded.form_id,
                "layout": upsert.excluded.layout,
                "body": upsert.excluded.body,
            },
        )
    return found


_FEED_BODY_UPSERTS: dict[str, Any] = {}


def save_feed_bodies(session: Session, form_id: int, layout: str, bodies: dict[int, bytes]) -> None:
    """Store rendered feed bodies (UTF-8 JSON) for `layout`, replacing in place any body the
    submissions had (of an older layout: one body per submission, never two): one upsert."""
    if not bodies:
        return
    dialect = session.get_bind().dialect.name
    as_text = dialect != "sqlite"
    session.execute(
        _feed_body_upsert(dialect),
        [
            {
                "submission_id": key,
                "form_id": form_id,
                "layout": layout,
                "body": body.decode("utf-8") if as_text else body,
            }
            for key, body in bodies.items()
        ],
    )


def missing_body_ids(
    session: Session,
    form_id: int,
    layout: str,
    after_id: int,
    limit: int,
    among: list[int] | None = None,
) -> tuple[list[int], int | None]:
    """Of the next `limit` current submissions of the form after `after_id` (decrypted, not
    superseded: any the feed could give, in any unit; only those of `among` when given), the
    ones that have no feed body of `layout`, in id order; and the last id looked at (None
    when none was left).

    Two index queries, neither reading a submission's data nor a body (migration 0015):
    the current ids from ix_submissions_feed_current, then which of them have a body from
    ix_feed_bodies_form_layout. Not one anti-join: PostgreSQL plans that from the bodies'
    statistics, which a table filled since the last ANALYZE gets wrong (it took 100,000 bodies
    for one row and compared every id with all of them: 190 ms a batch of 200 at 10,000)."""
    candidates = list(session.scalars(current_ids_select(form_id, after_id, limit, among)))
    if not candidates:
        return [], None
    have = set(
        session.scalars(
            body_probe(session.get_bind().dialect.name),
            {"form_id": form_id, "layout": layout, "ids": candidates},
        )
    )
    return [key for key in candidates if key not in have], candidates[-1]


def current_ids_select(
    form_id: int, after_id: int, limit: int, among: list[int] | None = None
) -> Select[Any]:
    """The ids of the next current submissions of the form (ix_submissions_feed_current)."""
    return (
        select(Submission.id)
        .where(
            Submission.form_id == form_id,
            Submission.id > after_id,
            Submission.decrypt_state == "decrypted",
            Submission.superseded_by_id.is_(None),
            *([Submission.id.in_(among)] if among is not None else []),
        )
        .order_by(Submission.id)
        .limit(limit)
    )


def body_probe(dialect: str) -> TextClause:
    """Which of the submissions `:ids` have a body of `:form_id` and `:layout`, from the
    index (ix_feed_bodies_form_layout)."""
    # SQLite would look each body up by its rowid (submission_id), a read of the body's own
    # page (13 KB rows: two to five a page) where the index holds all it needs.
    indexed = " INDEXED BY ix_feed_bodies_form_layout" if dialect == "sqlite" else ""
    return text(
        f"SELECT submission_id FROM feed_bodies{indexed} "  # noqa: S608 (constant text)
        "WHERE form_id = :form_id AND layout = :layout AND submission_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))


def delete_stale_bodies(session: Session, form_id: int, layout: str, limit: int | None) -> int:
    """Delete (up to `limit`) the feed bodies of the form's submissions rendered for a layout other
    than `layout` (its current one): never sent, they would only hold the space of a second
    copy of the data until rendered again (of any of its submissions: superseded and
    undecrypted ones too). Returns how many were deleted."""
    stale = (
        select(FeedBody.submission_id)
        .where(FeedBody.form_id == form_id, FeedBody.layout != layout)  # the index only
        .limit(limit)
    )
    ids = list(session.scalars(stale))
    if not ids:
        return 0
    # Not one a reader has rendered again since (for the current layout) in the meantime.
    session.execute(
        delete(FeedBody).where(FeedBody.submission_id.in_(ids), FeedBody.layout != layout)
    )
    return len(ids)


def _export_conditions(
    scope: UnitScope, form_id: int, filters: SubmissionFilter
) -> list[ColumnElement[bool]]:
    return [
        *_filter_conditions(scope, form_id, filters),
        Submission.decrypt_state == "decrypted",
        Submission.superseded_by_id.is_(None),
    ]


def export_count(
    session: Session,
    scope: UnitScope,
    form_id: int,
    filters: SubmissionFilter,
    after_id: int = 0,
    limit: int | None = None,
) -> int:
    """How many submissions after `after_id` `export_batch` would give in all, or at most
    `limit` of them (counted on the first `limit` ids only: a page's count costs the page,
    not the rest of the table)."""
    conditions = [*_export_conditions(scope, form_id, filters), Submission.id > after_id]
    if limit is None:
        return session.scalar(select(func.count()).select_from(Submission).where(*conditions)) or 0
    first = select(Submission.id).where(*conditions).order_by(Submission.id).limit(limit)
    return session.scalar(select(func.count()).select_from(first.subquery())) or 0


def export_id_before(
    session: Session,
    scope: UnitScope,
    form_id: int,
    filters: SubmissionFilter,
    skip: int,
    after_id: int = 0,
) -> int | None:
    """The id of the `skip`-th submission after `after_id` that `export_batch` would give (ids
    only, no data read), so a page that skips them starts after it; None when there are not
    that many."""
    if skip <= 0:
        return after_id
    return session.scalar(
        select(Submission.id)
        .where(*_export_conditions(scope, form_id, filters), Submission.id > after_id)
        .order_by(Submission.id)
        .offset(skip - 1)
        .limit(1)
    )


def latest_intake_data(session: Session, case_code: str) -> dict[str, Any] | None:
    """The data of a case's latest current intake accepted by the unit rule (for an audited
    register with identifiers); an intake of the code from another unit is never it."""
    return session.scalar(
        select(Submission.data)
        .join(Form, Form.id == Submission.form_id)
        .where(
            Form.xml_form_id == "vt01_intake",
            Submission.case_code == case_code,
            Submission.decrypt_state == "decrypted",
            Submission.superseded_by_id.is_(None),
            Submission.review_state != "rejected",
            Submission.unit_check == ACCEPTED,
        )
        .order_by(Submission.event_date.desc(), Submission.id.desc())
        .limit(1)
    )


# The unit queue: submissions the unit rule flagged (admins only).


def flagged(
    session: Session,
    flags: Sequence[str],
    before_id: int | None = None,
    limit: int = 100,
    only_id: int | None = None,
) -> Sequence[Row[Any]]:
    """Flagged submissions (or the one `only_id`, if flagged), newest first, with their form
    and collector, never their data."""
    conditions: list[ColumnElement[bool]] = [Submission.unit_check.in_(flags)]
    if before_id is not None:
        conditions.append(Submission.id < before_id)
    if only_id is not None:
        conditions.append(Submission.id == only_id)
    return session.execute(
        select(
            Submission.id,
            Submission.received_at,
            Submission.case_code,
            Submission.unit_code,
            Submission.unit_check,
            Submission.review_state,
            Submission.deprecated_id,
            Submission.form_id,
            Form.xml_form_id,
            Form.title.label("form_title"),
            Collector.name.label("collector_name"),
        )
        .join(Form, Form.id == Submission.form_id)
        .outerjoin(Collector, Collector.id == Submission.collector_id)
        .where(*conditions)
        .order_by(Submission.id.desc())
        .limit(limit)
    ).all()


def count_flagged(session: Session, flags: Sequence[str]) -> int:
    """How many submissions the unit rule flagged."""
    return (
        session.scalar(
            select(func.count()).select_from(Submission).where(Submission.unit_check.in_(flags))
        )
        or 0
    )


def data_of(session: Session, submission_id: int) -> dict[str, Any] | None:
    """The data of one submission (the unit queue reads the units it answered from it)."""
    return session.scalar(select(Submission.data).where(Submission.id == submission_id))


def counts_by_decrypt_state(connection: Connection) -> dict[str, int]:
    """How many stored submissions are in each decryption state: the undecrypted counted from
    their index, the decrypted as the rest of the total (counted from the smallest index), so
    no row is read. Two statements: a submission stored or removed between them moves the
    decrypted count by one for that scrape, never below zero."""
    counts = {
        str(state): int(count)
        for state, count in connection.execute(
            select(_S.c.decrypt_state, func.count())
            .where(_UNDECRYPTED)
            .group_by(_S.c.decrypt_state)
        )
    }
    total = int(connection.scalar(select(func.count()).select_from(_S)) or 0)
    decrypted = max(0, total - sum(counts.values()))
    return {**counts, "decrypted": decrypted} if decrypted else counts


def instance_ids_of(connection: Connection, ids: list[int]) -> dict[int, str]:
    """The instanceIDs of these submissions, by id."""
    if not ids:
        return {}
    rows = connection.execute(
        select(_S.c.id, _S.c.instance_id).where(_S.c.id.in_(bindparam("b_ids", expanding=True))),
        {"b_ids": ids},
    )
    return {row.id: row.instance_id for row in rows}


# Data-subject requests (server/services/subject.py): everything held under a case code.


def all_naming(session: Session, case_code: str) -> Sequence[Submission]:
    """Every submission naming this case code, whatever its state (superseded, rejected,
    held back by the unit rule), oldest first."""
    return session.scalars(
        select(Submission).where(Submission.case_code == case_code).order_by(Submission.id)
    ).all()


def parts_of(session: Session, submission_ids: Sequence[int]) -> Sequence[SubmissionPart]:
    """The parts of these submissions."""
    if not submission_ids:
        return []
    return session.scalars(
        select(SubmissionPart)
        .where(SubmissionPart.submission_id.in_(submission_ids))
        .order_by(SubmissionPart.submission_id, SubmissionPart.name)
    ).all()


def delete_parts(session: Session, submission_ids: Sequence[int]) -> None:
    """Remove the part rows of these submissions (their blobs are destroyed by the caller)."""
    if submission_ids:
        session.execute(
            SubmissionPart.__table__.delete().where(
                SubmissionPart.__table__.c.submission_id.in_(submission_ids)
            )
        )


def blobs_still_named(session: Session, digests: Sequence[str]) -> set[str]:
    """Which of these blobs a part or a form attachment still names."""
    from server.store.models import FormAttachment

    if not digests:
        return set()
    named = set(
        session.scalars(
            select(SubmissionPart.blob_sha256).where(SubmissionPart.blob_sha256.in_(digests))
        )
    )
    named |= set(
        session.scalars(
            select(FormAttachment.blob_sha256).where(FormAttachment.blob_sha256.in_(digests))
        )
    )
    return named


def closed_before(session: Session, before: date) -> list[str]:
    """Case codes of the cases closed before `before` (the retention rule)."""
    from server.store.models import Case

    return list(
        session.scalars(
            select(Case.case_code)
            .where(Case.status == "closed", Case.closed_on.is_not(None), Case.closed_on < before)
            .order_by(Case.closed_on, Case.case_code)
        )
    )


def count_not_from_collector(session: Session, collector_name: str) -> int:
    """How many submissions were sent by collectors other than the one named."""
    query = (
        select(func.count())
        .select_from(Submission)
        .join(Collector, Collector.id == Submission.collector_id, isouter=True)
        .where((Collector.name.is_(None)) | (Collector.name != collector_name))
    )
    return int(session.scalar(query) or 0)
