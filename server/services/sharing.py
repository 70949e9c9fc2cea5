"""What of a case may leave its unit: the consent questions every transfer and referral asks.

The statistical core (sex, age, purpose, channel, status, supports: no identifier) always
travels with a transfer. Identifying fields travel to a recipient only when the person
consented to share them with that kind of recipient, and a unit that handed a case over sees
its later status only when the person consented to that. Consent is recorded per person and
purpose (issue 17, `server/services/consent.py`); until a consent is recorded, the answer is
no: nothing identifying leaves and the sending unit sees no later status.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

# Kinds of recipient a consent names (the consent form's `share_with` choices).
RECIPIENT_UNIT = "other_unit"  # another unit or province of the protection system
RECIPIENT_SERVICE = "service"  # a service a case is referred to


def identity_may_travel(session: Session, case_code: str, recipient: str) -> bool:
    """True when the person consented to share their identity with this kind of recipient."""
    del session, case_code, recipient
    return False


def later_status_visible(session: Session, case_code: str) -> bool:
    """True when the person consented that a unit that handed them over follows their case."""
    del session, case_code
    return False
