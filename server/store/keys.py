"""Queries on the server's key pairs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.clock import utcnow
from server.store.models import ServerKey


def active(session: Session) -> ServerKey | None:
    """The key new form versions are built with: the newest one not retired."""
    return session.scalar(
        select(ServerKey)
        .where(ServerKey.retired_at.is_(None))
        .order_by(ServerKey.id.desc())
        .limit(1)
    )


def by_id(session: Session, key_id: int) -> ServerKey | None:
    """One key by id."""
    return session.get(ServerKey, key_id)


def all_keys(session: Session) -> Sequence[ServerKey]:
    """Every key, oldest first (old keys still decrypt old submissions)."""
    return session.scalars(select(ServerKey).order_by(ServerKey.id)).all()


def add(
    session: Session, fingerprint: str, public_key_b64: str, private_key_pem: bytes, bits: int
) -> ServerKey:
    """Store a new key pair; earlier keys are retired from new forms but kept."""
    now = utcnow()
    for key in session.scalars(select(ServerKey).where(ServerKey.retired_at.is_(None))):
        key.retired_at = now
    key = ServerKey(
        fingerprint=fingerprint,
        public_key_b64=public_key_b64,
        private_key_pem=private_key_pem,
        bits=bits,
    )
    session.add(key)
    session.flush()
    return key
