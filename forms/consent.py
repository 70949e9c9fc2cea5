"""Consent rules: the purposes a person consents to, who must give consent at which age, and
what a person's ledger of consent decisions means now.

Pure: no database, no Flask. The server keeps the ledger (server/services/consent.py); this
module decides what it says. Sources (docs/privacy.md): Law 53/2024/QH15 Art 3(10) (no
disclosure about a victim or a person being identified without their or their legal
representative's consent) and the Personal Data Protection Law 91/2025/QH15 (consent is
specific, never implied by silence, can be withdrawn; a child acts through the legal
representative, and a child of 7 or over must also agree).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from forms.instance import get_path, parse_date

# The purposes, as stored in the ledger and named in code, UI and docs.
INTAKE = "intake"  # case management: personal information recorded and used by the office
REFERRAL = "referral"  # sharing with a referral recipient of one type (recipient_type)
POLICE = "police"  # sharing with police / prosecution beyond the verification the law requires
FOLLOWUP_CONTACT = "followup_contact"  # being contacted for follow-up (method, times)
DATA_USE = "data_use"  # non-identifying use outside the official reporting line (research,
# the CTDC-style de-identified extract)
PURPOSES: tuple[str, ...] = (INTAKE, REFERRAL, POLICE, FOLLOWUP_CONTACT, DATA_USE)
# Purposes that use the person's identity: they stop when the intake consent is not current.
NEEDS_INTAKE: frozenset[str] = frozenset({REFERRAL, POLICE, FOLLOWUP_CONTACT})

# Who gave the consent: the codes of the forms' `consent_giver` list.
SELF = "self"
LEGAL_REP = "legal_rep"
BOTH = "both"  # the child and the legal representative
GIVERS: tuple[str, ...] = (SELF, LEGAL_REP, BOTH)

YES = "yes"
NO = "no"
DECISIONS: tuple[str, ...] = (YES, NO)

# The recipient types a referral is made to: the codes of the forms' `referral_target` list
# (`none` is not a recipient). A test checks this against the list in vt01.
RECIPIENT_TYPES: tuple[str, ...] = (
    "swc",
    "social_assistance_facility",
    "victim_support_facility",
    "province_health",
    "health_facility",
    "mental_health",
    "police",
    "border_guard",
    "legal_aid_centre",
    "child_protection_111",
    "commune_pc",
    "women_union",
    "youth_union",
    "vocational_school",
    "employment_service_centre",
    "vbsp",
    "ngo",
    "intl_ngo",
)

ADULT_AGE = 18
CHILD_AGREES_FROM = 7  # PDPL 91/2025: a child of 7 or over must also agree

# Why a "yes" does not count (the server shows the flag and treats the consent as not given).
NO_LEGAL_REP = "no_legal_rep"  # under 18 without the legal representative
CHILD_NOT_ASKED = "child_not_asked"  # 7 to 17, the legal representative alone
ADULT_NOT_ASKED = "adult_not_asked"  # 18 or over, the legal representative alone
AGE_UNKNOWN = "age_unknown"  # no age: only the child and the representative together count
NO_GIVER = "no_giver"  # nobody recorded as giving it
NOT_SPECIFIC = "not_specific"  # a referral "yes" naming no recipient type
FLAGS: tuple[str, ...] = (
    NO_LEGAL_REP,
    CHILD_NOT_ASKED,
    ADULT_NOT_ASKED,
    AGE_UNKNOWN,
    NO_GIVER,
    NOT_SPECIFIC,
)

# What a person's consent to one purpose is now.
GIVEN = "given"
REFUSED = "refused"  # the first decision was no
WITHDRAWN = "withdrawn"  # a no after a yes
NOT_ASKED = "not_asked"  # no decision recorded: silence is not consent
INVALID = "invalid"  # the latest decision is a yes that breaks the age rule (see its flag)
SUSPENDED = "suspended"  # given, but the intake consent is not current, so it stops
STATES: tuple[str, ...] = (GIVEN, REFUSED, WITHDRAWN, NOT_ASKED, INVALID, SUSPENDED)
# The intake standings that withhold a person's identifying information (not shown, not
# revealed, not exported): a refusal, a withdrawal, or a yes that breaks the age rule.
# `not_asked` does not: every form version records identity only after an intake yes, so
# identifying answers without a decision come from no consent question at all (data entered
# before the ledger existed).
WITHHOLDING: frozenset[str] = frozenset({REFUSED, WITHDRAWN, INVALID})


def age_rule_flag(decision: str, given_by: str | None, age_years: int | None) -> str | None:
    """Why a consent decision breaks the age rule, or None when it holds.

    Under 18 the legal representative must consent; from 7 the child must agree as well; an
    adult consents personally. A refusal always counts, whoever says it: no is never
    overridden.
    """
    if decision != YES:
        return None
    if given_by not in GIVERS:
        return NO_GIVER
    if age_years is None:
        return None if given_by == BOTH else AGE_UNKNOWN
    if age_years >= ADULT_AGE:
        return ADULT_NOT_ASKED if given_by == LEGAL_REP else None
    if given_by == SELF:
        return NO_LEGAL_REP
    if age_years >= CHILD_AGREES_FROM and given_by == LEGAL_REP:
        return CHILD_NOT_ASKED
    return None


def required_givers(age_years: int | None) -> tuple[str, ...]:
    """The `consent_by` answers that make a yes count at this age."""
    return tuple(g for g in GIVERS if age_rule_flag(YES, g, age_years) is None)


def age_on(age_at: int | None, at: date | None, on: date | None) -> int | None:
    """A person's age on `on`, known to be `age_at` on `at` (whole years elapsed added)."""
    if age_at is None or at is None or on is None or on <= at:
        return age_at
    years = on.year - at.year - ((on.month, on.day) < (at.month, at.day))
    return age_at + max(years, 0)


@dataclass(frozen=True)
class Decision:
    """One entry of a person's consent ledger, as the rules read it."""

    purpose: str
    decision: str
    given_by: str | None
    age_years: int | None
    decided_on: date | None
    recipient_type: str | None = None
    order: tuple[int, ...] = ()  # ties on decided_on are broken by this (recording order)

    @property
    def flag(self) -> str | None:
        """Why this decision does not count as a yes, or None."""
        if self.purpose == REFERRAL and self.decision == YES and self.recipient_type is None:
            return NOT_SPECIFIC
        return age_rule_flag(self.decision, self.given_by, self.age_years)


@dataclass(frozen=True)
class Standing:
    """A person's consent to one purpose (and recipient type) now, and what decided it."""

    state: str
    latest: Decision | None = None

    @property
    def allows(self) -> bool:
        """Whether the purpose may be carried out for this person now."""
        return self.state == GIVEN

    @property
    def flag(self) -> str | None:
        """The age-rule flag of the decision that made it invalid, if any."""
        return self.latest.flag if self.latest is not None else None


def _key(decision: Decision) -> tuple[date, tuple[int, ...]]:
    return (decision.decided_on or date.min, decision.order)


def _standing_alone(decisions: list[Decision]) -> Standing:
    if not decisions:
        return Standing(NOT_ASKED)
    ordered = sorted(decisions, key=_key)
    latest = ordered[-1]
    if latest.decision == NO:
        ever_yes = any(d.decision == YES and d.flag is None for d in ordered[:-1])
        return Standing(WITHDRAWN if ever_yes else REFUSED, latest)
    if latest.flag is not None:
        return Standing(INVALID, latest)
    return Standing(GIVEN, latest)


def standing(
    decisions: Iterable[Decision], purpose: str, recipient_type: str | None = None
) -> Standing:
    """What one person's decisions say about `purpose` now.

    The latest decision counts (by date, then recording order). For a referral, decisions
    naming `recipient_type` and those naming none (a refusal of every referral) both count;
    a yes naming none is not specific and counts as nothing given. A purpose that uses the
    person's identity (NEEDS_INTAKE) is suspended while the intake consent is not given.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}")
    every = list(decisions)
    if purpose == REFERRAL:
        if recipient_type is None:
            raise ValueError("a referral consent is per recipient type")
        mine = [
            d for d in every if d.purpose == REFERRAL and d.recipient_type in (recipient_type, None)
        ]
    else:
        mine = [d for d in every if d.purpose == purpose]
    found = _standing_alone(mine)
    if found.state == GIVEN and purpose in NEEDS_INTAKE:
        intake = _standing_alone([d for d in every if d.purpose == INTAKE])
        if intake.state != GIVEN:
            return Standing(SUSPENDED, found.latest)
    return found


def summary(decisions: Iterable[Decision]) -> dict[str, Standing]:
    """Every purpose's standing for one person; referrals keyed `referral:<type>` for every
    type a decision names (a blanket refusal shows under `referral`)."""
    every = list(decisions)
    result = {p: standing(every, p) for p in PURPOSES if p != REFERRAL}
    types = sorted({d.recipient_type for d in every if d.purpose == REFERRAL and d.recipient_type})
    blanket = [d for d in every if d.purpose == REFERRAL and d.recipient_type is None]
    if blanket or not types:
        result[REFERRAL] = _standing_alone(blanket)
    for recipient in types:
        result[f"{REFERRAL}:{recipient}"] = standing(every, REFERRAL, recipient)
    return result


# Where the forms record consent (forms/xlsforms, docs/forms.md).
INTAKE_FORM = "vt01_intake"
CHANGE_FORMS: tuple[str, ...] = ("vt03_needs_plan", "vt05_followup")
# vt01: the main person's answer field for each purpose (yes / no).
INTAKE_FIELDS: dict[str, str] = {
    INTAKE: "consent_intake",
    POLICE: "consent_police",
    FOLLOWUP_CONTACT: "consent_followup_contact",
    DATA_USE: "consent_data_use",
}
# vt01, inside the `minors` repeat: each accompanying minor's own decisions.
MINOR_FIELDS: dict[str, str] = {
    INTAKE: "minor_consent_intake",
    DATA_USE: "minor_consent_data_use",
}
CONTACT_DETAILS = ("safe_contact_method", "safe_contact_times")
# The forms' `contact_method` and `contact_time` lists (a test checks them against vt01).
CONTACT_METHODS: tuple[str, ...] = (
    "phone_call",
    "text_message",
    "home_visit",
    "trusted_person",
    "at_office",
)
CONTACT_TIMES: tuple[str, ...] = ("morning", "midday", "afternoon", "evening", "weekend")
# vt03 / vt05 consent change section: `change_*` purposes (a `consent_purpose` list code).
CHANGE_PURPOSE_CODES: tuple[str, ...] = (INTAKE, POLICE, FOLLOWUP_CONTACT, DATA_USE)
# The code of the change lists meaning "every referral recipient".
EVERY_RECIPIENT = "all"


@dataclass(frozen=True)
class PersonDecision:
    """A consent decision a submission records for one person of its case."""

    person_index: int
    decision: Decision
    details: dict[str, str] | None = None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _codes(value: object) -> list[str]:
    """A select_multiple answer's codes (space separated in the instance)."""
    return value.split() if isinstance(value, str) else []


def _minors(data: dict[str, object]) -> list[tuple[int, dict[str, object]]]:
    minors = get_path(data, "minors")
    if isinstance(minors, dict):
        minors = [minors]
    if not isinstance(minors, list):
        return []
    found = []
    for position, minor in enumerate(m for m in minors if isinstance(m, dict)):
        found.append((_int(minor.get("minor_index")) or position + 1, minor))
    return found


def intake_ages(intake: dict[str, object] | None) -> dict[int, int | None]:
    """Each person's age at reception, by person index, from an intake's answers."""
    if not intake:
        return {}
    ages: dict[int, int | None] = {0: _int(get_path(intake, "age_years"))}
    for index, minor in _minors(intake):
        ages[index] = _int(minor.get("minor_age_years"))
    return ages


def _details(data: dict[str, object]) -> dict[str, str] | None:
    found = {name: text for name in CONTACT_DETAILS if (text := _text(get_path(data, name)))}
    return found or None


def _intake_decisions(data: dict[str, object]) -> list[PersonDecision]:
    on = parse_date(get_path(data, "reception_date")) or parse_date(get_path(data, "today"))
    given_by = _text(get_path(data, "consent_by"))
    age = _int(get_path(data, "age_years"))
    found: list[PersonDecision] = []

    def add(
        index: int,
        purpose: str,
        answer: object,
        by: str | None,
        years: int | None,
        recipient: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        if answer in DECISIONS:
            decision = Decision(purpose, str(answer), by, years, on, recipient)
            found.append(PersonDecision(index, decision, details))

    for purpose, field in INTAKE_FIELDS.items():
        answer = get_path(data, field)
        details = _details(data) if purpose == FOLLOWUP_CONTACT and answer == YES else None
        add(0, purpose, answer, given_by, age, details=details)
    # Specific recipients (2026 forms); the older blanket question counts only as a refusal.
    for recipient in _codes(get_path(data, "consent_referral_to")):
        if recipient in RECIPIENT_TYPES:
            add(0, REFERRAL, YES, given_by, age, recipient)
    blanket = get_path(data, "consent_referral")
    if blanket == NO:
        add(0, REFERRAL, NO, given_by, age)
    for index, minor in _minors(data):
        by = _text(minor.get("minor_consent_by"))
        years = _int(minor.get("minor_age_years"))
        for purpose, field in MINOR_FIELDS.items():
            add(index, purpose, minor.get(field), by, years)
    return found


def _change_decisions(
    data: dict[str, object], intake: dict[str, object] | None
) -> list[PersonDecision]:
    if get_path(data, "consent_change") != YES:
        return []
    index = _int(get_path(data, "person_index")) or 0
    on = (
        parse_date(get_path(data, "consent_change_date"))
        or parse_date(get_path(data, "visit_date"))
        or parse_date(get_path(data, "assess_date"))
        or parse_date(get_path(data, "today"))
    )
    given_by = _text(get_path(data, "consent_change_by"))
    reception = parse_date(get_path(intake, "reception_date")) if intake else None
    age = age_on(intake_ages(intake).get(index), reception, on)
    found: list[PersonDecision] = []
    for answer, purposes_field, recipients_field in (
        (NO, "consent_withdraw", "consent_withdraw_referral"),
        (YES, "consent_give", "consent_give_referral"),
    ):
        for purpose in _codes(get_path(data, purposes_field)):
            if purpose in CHANGE_PURPOSE_CODES:
                details = _details(data) if purpose == FOLLOWUP_CONTACT and answer == YES else None
                found.append(
                    PersonDecision(index, Decision(purpose, answer, given_by, age, on), details)
                )
        for recipient in _codes(get_path(data, recipients_field)):
            if recipient == EVERY_RECIPIENT and answer == NO:
                found.append(PersonDecision(index, Decision(REFERRAL, NO, given_by, age, on)))
            elif recipient in RECIPIENT_TYPES:
                decision = Decision(REFERRAL, answer, given_by, age, on, recipient)
                found.append(PersonDecision(index, decision))
    return found


def decisions_in(
    form_id: str, data: dict[str, object], intake: dict[str, object] | None = None
) -> list[PersonDecision]:
    """The consent decisions a submission of `form_id` records, person by person.

    vt01 records each purpose for the person received and each accompanying minor; vt03 and
    vt05 record a change (withdraw or give) for the person they are about. `intake` is the
    case's latest intake, from which a change's person's age is known (aged to the change's
    date). An answer left empty records nothing: silence is not a decision.
    """
    if form_id == INTAKE_FORM:
        return _intake_decisions(data)
    if form_id in CHANGE_FORMS:
        return _change_decisions(data, intake)
    return []
