"""Queries on collectors (field workers' phone accounts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    String,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from server.store.models import Collector, CollectorForm, CredentialGeneration, table_of

_C = table_of(Collector)
_A = table_of(CollectorForm)
_G = table_of(CredentialGeneration)
_GENERATION = select(_G.c.value).where(_G.c.id == 1)
_ACTIVE = select(
    _C.c.id,
    _C.c.name,
    select(func.aggregate_strings(cast(_A.c.form_id, String), literal_column("','")))
    .where(_A.c.collector_id == _C.c.id)
    .scalar_subquery()
    .label("form_ids"),
).where(_C.c.revoked_at.is_(None))
_ACTIVE_BY_TOKEN = _ACTIVE.where(_C.c.token_sha256 == bindparam("b_sha"))
_ACTIVE_BY_ID = _ACTIVE.where(_C.c.id == bindparam("b_id"))
# With the credential generation read by the same statement, so in the same snapshot.
_ACTIVE_BY_TOKENS = _ACTIVE.add_columns(
    _C.c.token_sha256, _GENERATION.scalar_subquery().label("generation")
).where(_C.c.token_sha256.in_(bindparam("b_shas", expanding=True)))


_UNIT_CODES = select(_C.c.id, _C.c.unit_code).where(_C.c.id.in_(bindparam("b_ids", expanding=True)))


def unit_codes(connection: Connection, collector_ids: list[int]) -> dict[int, str | None]:
    """The unit code of each of these collectors (None for a collector without a unit)."""
    if not collector_ids:
        return {}
    rows = connection.execute(_UNIT_CODES, {"b_ids": collector_ids})
    return {row.id: row.unit_code for row in rows}


def active_by_token_sha256(connection: Connection, token_sha256: str) -> Row[Any] | None:
    """(id, name, form_ids) of the collector, not revoked, whose token hashes to this digest;
    form_ids lists the ids of its assigned forms, comma-separated (None when there are none)."""
    return connection.execute(_ACTIVE_BY_TOKEN, {"b_sha": token_sha256}).first()


def active_by_token_sha256s(
    connection: Connection, token_sha256s: Sequence[str]
) -> dict[str, Row[Any]]:
    """`active_by_token_sha256` for several digests in one statement, by digest (a digest of
    no active collector is missing); each row also carries the credential generation it was
    read under (`generation`)."""
    if not token_sha256s:
        return {}
    rows = connection.execute(_ACTIVE_BY_TOKENS, {"b_shas": sorted(set(token_sha256s))})
    return {row.token_sha256: row for row in rows}


def credential_generation(connection: Connection) -> int:
    """The count of changes to what collectors' tokens stand for (migration 0018's triggers
    keep it)."""
    return int(connection.execute(_GENERATION).scalar_one())


def active_by_id(connection: Connection, collector_id: int) -> Row[Any] | None:
    """(id, name, form_ids) of the collector with this id, when it is not revoked."""
    return connection.execute(_ACTIVE_BY_ID, {"b_id": collector_id}).first()


def by_token_sha256(session: Session, token_sha256: str) -> Collector | None:
    """The collector whose token hashes to this digest."""
    return session.scalar(select(Collector).where(Collector.token_sha256 == token_sha256))


def by_name(session: Session, name: str) -> Collector | None:
    """The collector with this name."""
    return session.scalar(select(Collector).where(Collector.name == name))


def by_id(session: Session, collector_id: int) -> Collector | None:
    """One collector by id."""
    return session.get(Collector, collector_id)


def by_user(session: Session, user_id: int) -> Collector | None:
    """The collector record of a user account with the collector role."""
    return session.scalar(select(Collector).where(Collector.user_id == user_id))


def add(
    session: Session,
    name: str,
    token_sha256: str,
    unit_code: str | None,
    user_id: int | None = None,
) -> Collector:
    """Insert a collector."""
    collector = Collector(
        name=name, token_sha256=token_sha256, unit_code=unit_code, user_id=user_id
    )
    session.add(collector)
    session.flush()
    return collector


def all_collectors(session: Session) -> Sequence[Collector]:
    """Every collector, by name."""
    return session.scalars(select(Collector).order_by(Collector.name)).all()


def mark_seen(
    connection: Connection,
    collector_id: int,
    now: datetime,
    not_since: datetime,
    app_version: str | None,
) -> bool:
    """Set last_seen_at (and the app version, when one is known) unless it was set after
    `not_since` with the same version; True when the row was written."""
    values: dict[str, Any] = {"last_seen_at": now}
    stale = [_C.c.last_seen_at.is_(None), _C.c.last_seen_at < not_since]
    if app_version is not None:
        values["app_version"] = app_version
        stale += [_C.c.app_version.is_(None), _C.c.app_version != app_version]
    result = connection.execute(
        update(_C).where(_C.c.id == collector_id, or_(*stale)).values(**values)
    )
    return bool(result.rowcount)
