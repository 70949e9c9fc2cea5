"""Queries on the bearer tokens of the /v1 API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.store.models import ApiToken


def add(
    session: Session, token_sha256: str, user_id: int, now: datetime, expires_at: datetime
) -> ApiToken:
    """Record a new token."""
    token = ApiToken(
        token_sha256=token_sha256, user_id=user_id, created_at=now, expires_at=expires_at
    )
    session.add(token)
    session.flush()
    return token


def by_token_sha256(session: Session, token_sha256: str) -> ApiToken | None:
    """The token that hashes to this digest."""
    return session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_sha256))


def end(session: Session, token: ApiToken, reason: str, now: datetime) -> None:
    """End one token (sign-out, expiry)."""
    if token.ended_at is None:
        token.ended_at = now
        token.end_reason = reason
        session.flush()


def end_all_for_user(session: Session, user_id: int, reason: str, now: datetime) -> None:
    """End every open token of a user."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
