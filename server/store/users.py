"""Queries on users and their administrative units."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.store.models import Collector, User, UserUnit

ROLES = ("admin", "supervisor", "viewer", "collector")


def by_username(session: Session, username: str) -> User | None:
    """The user with this name (case-insensitive), or None."""
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def sign_in_account(session: Session, username: str) -> tuple[User, Collector | None] | None:
    """The user with this name (case-insensitive) and the collector of that account, if any;
    None when no such user exists. One query, whatever the account is."""
    row = session.execute(
        select(User, Collector)
        .outerjoin(Collector, Collector.user_id == User.id)
        .where(func.lower(User.username) == username.lower())
        .limit(1)
    ).first()
    if row is None:
        return None
    return row[0], row[1]


def by_id(session: Session, user_id: int) -> User | None:
    """The user with this id, or None."""
    return session.get(User, user_id)


def add(session: Session, username: str, password_hash: str, role: str) -> User:
    """Insert a user; the caller has checked the name is free and the role is known."""
    user = User(username=username, password_hash=password_hash, role=role, failed_logins=0)
    session.add(user)
    session.flush()
    return user


def set_units(session: Session, user_id: int, unit_codes: Iterable[str]) -> None:
    """Replace the units a user may see."""
    session.execute(delete(UserUnit).where(UserUnit.user_id == user_id))
    for code in sorted(set(unit_codes)):
        session.add(UserUnit(user_id=user_id, unit_code=code))
    session.flush()


def units_of(session: Session, user_id: int) -> list[str]:
    """The unit codes assigned to a user."""
    rows = session.scalars(select(UserUnit.unit_code).where(UserUnit.user_id == user_id))
    return sorted(rows)


def count_admins(session: Session) -> int:
    """How many enabled admins exist."""
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == "admin", User.disabled_at.is_(None))
        )
        or 0
    )


def all_users(session: Session) -> Sequence[User]:
    """Every user, by name."""
    return session.scalars(select(User).order_by(User.username)).all()


def units_by_user(session: Session) -> dict[int, list[str]]:
    """Every user's unit codes, by user id."""
    found: dict[int, list[str]] = {}
    for user_id, code in session.execute(
        select(UserUnit.user_id, UserUnit.unit_code).order_by(UserUnit.unit_code)
    ):
        found.setdefault(user_id, []).append(code)
    return found


def web_users(session: Session) -> Sequence[User]:
    """The accounts that sign in to the web view (not collectors), by name."""
    return session.scalars(
        select(User).where(User.role != "collector").order_by(User.username)
    ).all()
