"""Queries on signed-in browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.store.models import WebSession


def add(session: Session, token_sha256: str, user_id: int, now: datetime) -> WebSession:
    """Record a new signed-in session."""
    web_session = WebSession(
        token_sha256=token_sha256, user_id=user_id, created_at=now, last_seen_at=now
    )
    session.add(web_session)
    session.flush()
    return web_session


def by_token_sha256(session: Session, token_sha256: str) -> WebSession | None:
    """The session whose cookie token hashes to this digest."""
    return session.scalar(select(WebSession).where(WebSession.token_sha256 == token_sha256))


def end(session: Session, web_session: WebSession, reason: str, now: datetime) -> None:
    """End one session (logout, timeout)."""
    if web_session.ended_at is None:
        web_session.ended_at = now
        web_session.end_reason = reason
        session.flush()


def end_all_for_user(
    session: Session, user_id: int, reason: str, now: datetime, keep_id: int | None = None
) -> None:
    """End every open session of a user (password change, account disabled)."""
    query = update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
    if keep_id is not None:
        query = query.where(WebSession.id != keep_id)
    session.execute(query.values(ended_at=now, end_reason=reason))
