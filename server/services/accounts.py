"""Managing web view accounts (admin pages): create, units, disable, enable, reset password.

Every change is written to the audit log with the admin who made it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from forms.admin_units import shipped as shipped_units
from server import errors
from server.security.passwords import generate_password, hash_password, password_problem
from server.services.auth import WEB_ROLES
from server.services.sign_in import SignInGuard
from server.store import audit
from server.store import users as user_store
from server.store import web_sessions as web_session_store
from server.store.models import User

USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,100}$")
UNIT_CODE = re.compile(r"^(\d{2}|\d{5})$")


def check_known_units(codes: Iterable[str]) -> None:
    """A 400 problem unless every code is 2 (province) or 5 digits (commune) and is in the
    admin units list the forms attach. A unit the list does not hold matches no submission:
    since 1 July 2025 there are 34 provinces, and an account or a phone given a code of one of
    the 63 before (say 02, Hà Giang, now part of Tuyên Quang, 08) would see or act on nothing,
    silently."""
    codes = list(codes)
    bad = [code for code in codes if not UNIT_CODE.match(code)]
    if bad:
        raise errors.validation_failed(
            "Unit codes are 2 digits (province) or 5 digits (commune).", {"codes": bad}
        )
    listed = shipped_units()
    unknown = [code for code in codes if not listed.knows(code)]
    if unknown:
        raise errors.validation_failed(
            "These unit codes are not in the admin units list (the 34 provinces and their"
            " communes since 1 July 2025).",
            {"codes": unknown},
        )


def parse_units(text: str | Iterable[str]) -> list[str]:
    """Unit codes from a comma/space separated text, each checked by `check_known_units`."""
    raw = re.split(r"[\s,;]+", text) if isinstance(text, str) else list(text)
    codes = sorted({code.strip() for code in raw if code and code.strip()})
    check_known_units(codes)
    return codes


def _check_role_units(role: str, units: list[str]) -> None:
    if role not in WEB_ROLES:
        raise errors.validation_failed("The role must be admin, supervisor or viewer.")
    if role != "admin" and not units:
        raise errors.validation_failed("Supervisors and viewers need at least one unit.")


def create_user(
    session: Session,
    actor: str,
    username: str,
    role: str,
    units: list[str],
    password: str | None = None,
) -> tuple[User, str | None]:
    """Create an account; returns it and the generated password (shown once) if none was given."""
    username = username.strip()
    if not USERNAME.match(username):
        raise errors.validation_failed(
            "User names have 2 to 100 letters, digits, dots, dashes or underscores."
        )
    _check_role_units(role, units)
    if user_store.by_username(session, username) is not None:
        raise errors.already_exists(f"A user named {username!r}")
    generated = None
    if password:
        problem = password_problem(password, username)
        if problem:
            raise errors.validation_failed(problem)
    else:
        password = generated = generate_password(username)
    user = user_store.add(session, username, hash_password(password), role)
    user_store.set_units(session, user.id, units)
    audit.append(session, actor, "user.add", f"user:{user.id}", {"role": role, "units": units})
    return user, generated


def _user(session: Session, user_id: int) -> User:
    user = user_store.by_id(session, user_id)
    if user is None or user.role not in WEB_ROLES:
        raise errors.not_found("The user")
    return user


def update_user(session: Session, actor: str, user_id: int, role: str, units: list[str]) -> None:
    """Change an account's role and units."""
    user = _user(session, user_id)
    _check_role_units(role, units)
    if user.role == "admin" and role != "admin" and user_store.count_admins(session) <= 1:
        raise errors.validation_failed("The last admin cannot lose the admin role.")
    before = {"role": user.role, "units": user_store.units_of(session, user.id)}
    user.role = role
    user_store.set_units(session, user.id, units)
    audit.append(
        session,
        actor,
        "user.update",
        f"user:{user.id}",
        {"before": before, "after": {"role": role, "units": units}},
    )


def set_disabled(
    session: Session, actor_id: int, actor: str, user_id: int, disabled: bool, now: datetime
) -> None:
    """Disable (ending every session) or enable an account; never oneself or the last admin."""
    user = _user(session, user_id)
    if disabled:
        if user.id == actor_id:
            raise errors.validation_failed("You cannot disable your own account.")
        if user.role == "admin" and user_store.count_admins(session) <= 1:
            raise errors.validation_failed("The last admin cannot be disabled.")
        if user.disabled_at is None:
            user.disabled_at = now
            web_session_store.end_all_for_user(session, user.id, "disabled", now)
            audit.append(session, actor, "user.disable", f"user:{user.id}")
    elif user.disabled_at is not None:
        user.disabled_at = None
        audit.append(session, actor, "user.enable", f"user:{user.id}")


def reset_password(
    session: Session,
    actor: str,
    user_id: int,
    now: datetime,
    guard: SignInGuard | None = None,
) -> str:
    """Give an account a new generated password (shown once); its sessions end, and with the
    `guard`, every sign-in back-off of its name is lifted."""
    user = _user(session, user_id)
    password = generate_password(user.username)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    if guard is not None:
        guard.forget_account(session, user.username)
    web_session_store.end_all_for_user(session, user.id, "password reset", now)
    audit.append(session, actor, "user.password_reset", f"user:{user.id}")
    return password


# Reading web users, for the admin pages.


def web_users(session: Session) -> Sequence[User]:
    """Every web user (collector accounts are not web users)."""
    return user_store.web_users(session)


def units_by_user(session: Session) -> dict[int, list[str]]:
    """The unit codes assigned to each user, by user id."""
    return user_store.units_by_user(session)


def user_by_id(session: Session, user_id: int) -> User | None:
    """The user with this id, or None."""
    return user_store.by_id(session, user_id)


def units_of(session: Session, user_id: int) -> list[str]:
    """The unit codes assigned to one user."""
    return user_store.units_of(session, user_id)
