"""Queries on failed sign-ins (the back-off of server/services/sign_in.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.store.models import SignInFailure, table_of

_F = table_of(SignInFailure)


def current(
    session: Session, keys: Sequence[tuple[str, str]], now: datetime
) -> Sequence[SignInFailure]:
    """The rows of these (name digest, client digest) keys that have not expired."""
    if not keys:
        return []
    matches = [
        (SignInFailure.name_digest == name) & (SignInFailure.client_digest == client)
        for name, client in keys
    ]
    return session.scalars(
        select(SignInFailure).where(or_(*matches), SignInFailure.expires_at > now)
    ).all()


def locked_for_update(
    session: Session, name_digest: str, client_digest: str, now: datetime
) -> SignInFailure:
    """The row of one key, created when missing, locked until the transaction ends.

    A new row starts expired with no failures, so the caller treats it like one that has
    lapsed. The insert ignores a row another worker has just made (ON CONFLICT DO NOTHING),
    and the SELECT ... FOR UPDATE then waits for that worker's transaction (PostgreSQL; SQLite
    writers take turns at BEGIN IMMEDIATE already).
    """
    dialect = session.get_bind().dialect.name
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        make_insert(_F)
        .values(
            name_digest=name_digest,
            client_digest=client_digest,
            failures=0,
            first_failed_at=now,
            last_failed_at=now,
            blocked_until=None,
            expires_at=now,
        )
        .on_conflict_do_nothing(index_elements=["name_digest", "client_digest"])
    )
    session.execute(statement)
    row = session.scalars(
        select(SignInFailure)
        .where(
            SignInFailure.name_digest == name_digest,
            SignInFailure.client_digest == client_digest,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def forget(session: Session, name_digest: str, client_digest: str | None = None) -> int:
    """Delete the rows of a name (from one client, or from every client); how many."""
    statement = delete(SignInFailure).where(SignInFailure.name_digest == name_digest)
    if client_digest is not None:
        statement = statement.where(SignInFailure.client_digest == client_digest)
    return session.execute(statement).rowcount or 0  # type: ignore[attr-defined]


def purge_expired(session: Session, now: datetime) -> int:
    """Delete every row whose time has passed, so the table holds only recent failures."""
    result = session.execute(delete(SignInFailure).where(SignInFailure.expires_at <= now))
    return result.rowcount or 0  # type: ignore[attr-defined]


def count(session: Session) -> int:
    """How many rows the table holds (for tests and the operations page)."""
    return session.scalar(select(func.count()).select_from(SignInFailure)) or 0
