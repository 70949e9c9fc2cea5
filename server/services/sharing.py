"""What of a case may leave its unit: the consent questions every transfer and referral asks.

The statistical core (sex, age, purpose, channel, status, supports: no identifier) always
travels with a transfer. Identifying fields travel to a recipient only when every person of
the case consented to a referral to that kind of recipient (`consent.REFERRAL` with a
`referral_target` recipient type, server/services/consent.py), and a unit that handed a case
over sees its later status only when the person received consented to share with that kind of
unit. A unit of the protection system is a recipient of type `province_health` (a province:
case management sits with the Sở Y tế since the 2025 reorganisation) or `commune_pc` (a
commune). Asked at the moment of use, so a withdrawal stops the next use.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.services import consent
from server.services.units import Unit
from server.store import cases as case_store

UNIT_OF_PROVINCE = "province_health"
UNIT_OF_COMMUNE = "commune_pc"


def recipient_type_of(unit: Unit) -> str:
    """The consent recipient type a unit of the protection system is."""
    return UNIT_OF_COMMUNE if unit.commune else UNIT_OF_PROVINCE


def identity_may_travel(session: Session, case_code: str, recipient_type: str) -> bool:
    """True when every person of the case consents to share their identity with this kind
    of recipient (the person received alone when the case has no persons projected)."""
    case = case_store.by_code(session, case_code)
    indexes = {0}
    if case is not None:
        indexes |= {person.person_index for person in case_store.persons(session, case.id)}
    return all(
        consent.allows(
            session,
            case_code,
            consent.REFERRAL,
            person_index=index,
            recipient_type=recipient_type,
        )
        for index in sorted(indexes)
    )


def later_status_visible(session: Session, case_code: str, sending_unit: Unit) -> bool:
    """True when the person received consents that the unit which handed them over (a
    recipient of its type) follows their case."""
    return consent.allows(
        session,
        case_code,
        consent.REFERRAL,
        recipient_type=recipient_type_of(sending_unit),
    )
