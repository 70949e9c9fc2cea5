"""Who may see identifying fields (P3, forms/identifying.py), and for how long.

They are hidden in every page by default. An admin or supervisor may reveal them for one case
or submission after giving a reason; the reveal is written to the audit log and lasts
REVEAL_FOR in that browser session only.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from server import errors
from server.store import audit

REVEAL_FOR = timedelta(minutes=10)
MIN_REASON_LENGTH = 10
MAX_REASON_LENGTH = 500
MASK = "••••••"


def check_reason(reason: str) -> str:
    """The reason given for a reveal, trimmed; refused when too short or too long."""
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise errors.validation_failed("Give a reason of at least 10 characters.")
    if len(reason) > MAX_REASON_LENGTH:
        raise errors.validation_failed("Keep the reason under 500 characters.")
    return reason


def record_reveal(
    session: Session, actor: str, target: str, reason: str, field_paths: list[str]
) -> None:
    """Audit a reveal: who, what (field names, never values), why."""
    audit.append(
        session, actor, "identifying.reveal", target, {"reason": reason, "fields": field_paths}
    )
