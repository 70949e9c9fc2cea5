"""Reveal grants: which records this browser session may see identifying fields of, until when.

Kept in the signed session cookie (a grant holds no data, only a record's name and an expiry)
and dropped at sign-out with everything else.
"""

from __future__ import annotations

import time

from flask import session

from server.services.identifying import REVEAL_FOR

REVEALS_KEY = "reveals"


def grant(target: str) -> None:
    """Let this session see `target`'s identifying fields for REVEAL_FOR."""
    now = time.time()
    grants = {k: v for k, v in dict(session.get(REVEALS_KEY, {})).items() if v > now}
    grants[target] = now + REVEAL_FOR.total_seconds()
    session[REVEALS_KEY] = grants


def is_granted(target: str) -> bool:
    """True while a reveal of `target` lasts."""
    expiry = dict(session.get(REVEALS_KEY, {})).get(target)
    return bool(expiry and expiry > time.time())
