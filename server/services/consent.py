"""The consent ledger: what each person of a case consents to now, and how it changes.

A person is identified as everywhere in fieldcase: by the case code, plus the person index
(0 the person received, 1.. each accompanying minor, the `person_index` of the forms). The
rules (purposes, the age rule, what the latest decision means) are forms/consent.py; this
module reads and writes the ledger (server/store/consent.py).

Decisions come from the forms (vt01 at intake, the consent change section of vt03 and vt05),
projected with the case (`replace_projected`, called by server/services/cases.py, so a rejected
or superseded submission takes its decisions with it), and from a supervisor who records a
change made on paper (`record_change`, with a reason, audited). Every exit that lets data
leave asks `allows` (one person) or `persons_allowing` / `cases_allowing` (many).

Every change of the ledger projects the persons' standings again in the same transaction
(consent_standings, server/store/consent.py): the questions about one purpose read that
projection, one indexed query, and only referrals (per recipient type) replay the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.orm import Session

from forms import consent as rules
from forms.consent import (
    DATA_USE,
    FOLLOWUP_CONTACT,
    INTAKE,
    POLICE,
    PURPOSES,
    RECIPIENT_TYPES,
    REFERRAL,
    Standing,
)
from server import errors
from server.clock import utcnow
from server.services.auth import CurrentUser
from server.services.identifying import check_reason
from server.store import audit
from server.store import cases as case_store
from server.store import consent as consent_store

__all__ = [
    "DATA_USE",
    "FOLLOWUP_CONTACT",
    "INTAKE",
    "POLICE",
    "PURPOSES",
    "RECIPIENT_TYPES",
    "REFERRAL",
    "PersonConsent",
    "allows",
    "case_consent",
    "cases_allowing",
    "check_identifiers_allowed",
    "history",
    "persons_allowing",
    "persons_refusing",
    "record_change",
    "withheld_persons",
]

MAIN_PERSON = 0


def _connection(db: Session | Connection) -> Connection:
    return db.connection() if isinstance(db, Session) else db


def _check_purpose(purpose: str, recipient_type: str | None) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}")
    if purpose == REFERRAL and recipient_type not in RECIPIENT_TYPES:
        raise ValueError(f"a referral consent needs a recipient type, not {recipient_type!r}")


def allows(
    db: Session | Connection,
    case_code: str,
    purpose: str,
    *,
    person_index: int = MAIN_PERSON,
    recipient_type: str | None = None,
) -> bool:
    """Whether this person consents to `purpose` now (for a referral: to that recipient type,
    a `referral_target` code). False when they refused, withdrew, were never asked, or the
    latest yes breaks the age rule; a purpose using the person's identity (referral, police,
    follow-up contact) is also False while the intake consent is not given."""
    _check_purpose(purpose, recipient_type)
    return (case_code, person_index) in consent_store.persons_allowing(
        _connection(db), purpose, [case_code], recipient_type=recipient_type
    )


def persons_allowing(
    db: Session | Connection,
    purpose: str,
    case_codes: Iterable[str] | None = None,
    *,
    recipient_type: str | None = None,
) -> set[tuple[str, int]]:
    """`allows` for many: the persons (case code, person index) of these cases (every case
    when None) who consent to `purpose` now. One query per 500 cases."""
    _check_purpose(purpose, recipient_type)
    return consent_store.persons_allowing(
        _connection(db), purpose, case_codes, recipient_type=recipient_type
    )


def persons_refusing(
    db: Session | Connection, purpose: str, case_codes: Iterable[str] | None = None
) -> set[tuple[str, int]]:
    """The persons whose latest decision bars `purpose` (refused, withdrawn, not valid, or
    stopped with the intake consent); a person never asked is not among them. What the
    follow-up schedule leaves out (next_followup_due); not for referrals."""
    if purpose not in PURPOSES or purpose == REFERRAL:
        raise ValueError(f"persons_refusing does not answer for {purpose!r}")
    return consent_store.persons_refusing(_connection(db), purpose, case_codes)


def cases_allowing(
    db: Session | Connection,
    purpose: str,
    case_codes: Iterable[str] | None = None,
    *,
    recipient_type: str | None = None,
) -> set[str]:
    """The case codes whose person received (index 0) consents to `purpose` now."""
    return {
        code
        for code, index in persons_allowing(db, purpose, case_codes, recipient_type=recipient_type)
        if index == MAIN_PERSON
    }


@dataclass
class PersonConsent:
    """One person's consent now, purpose by purpose (referrals as `referral:<type>`)."""

    person_index: int
    standings: dict[str, Standing]

    @property
    def flags(self) -> list[tuple[str, str]]:
        """(purpose, flag) of every purpose whose latest yes breaks the age rule."""
        return [
            (p, s.flag) for p, s in self.standings.items() if s.state == rules.INVALID and s.flag
        ]


def case_consent(db: Session | Connection, case_code: str) -> list[PersonConsent]:
    """Every person of the case that the ledger knows, with each purpose's standing; the
    person received always comes first (every purpose `not_asked` when nothing is known)."""
    by_person: dict[int, list[rules.Decision]] = {MAIN_PERSON: []}
    for row in consent_store.events_of_case(_connection(db), case_code):
        by_person.setdefault(row.person_index, []).append(consent_store.decision_of(row))
    return [PersonConsent(index, rules.summary(by_person[index])) for index in sorted(by_person)]


def withheld_persons(db: Session | Connection, case_code: str) -> set[int]:
    """The persons of a case (person index) whose identifying information may not be shown
    or exported: their intake consent is refused, withdrawn, or breaks the age rule."""
    return {
        index for _code, index in consent_store.persons_withholding(_connection(db), [case_code])
    }


def check_identifiers_allowed(
    db: Session | Connection, case_code: str, *, every_person: bool = False
) -> None:
    """Raise `errors.consent_withdrawn()` (451.1) when the person received withholds their
    identifying information (with `every_person`: when any person of the case does, for a
    view that cannot mask one person's answers alone, such as a submission page)."""
    withheld = withheld_persons(db, case_code)
    if withheld if every_person else MAIN_PERSON in withheld:
        raise errors.consent_withdrawn()


def history(db: Session | Connection, case_code: str) -> list[Row[Any]]:
    """The case's whole ledger, in the order decided (for the case page and subject export)."""
    return list(consent_store.events_of_case(_connection(db), case_code))


def _event(
    case_code: str,
    person_index: int,
    decision: rules.Decision,
    *,
    source: str,
    recorded_at: Any,
    details: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "case_code": case_code,
        "person_index": person_index,
        "purpose": decision.purpose,
        "recipient_type": decision.recipient_type,
        "decision": decision.decision,
        "given_by": decision.given_by,
        "age_years": decision.age_years,
        "decided_on": decision.decided_on,
        "flag": decision.flag,
        "source": source,
        "details": details,
        "recorded_at": recorded_at,
        "xml_form_id": extra.get("xml_form_id"),
        "submission_id": extra.get("submission_id"),
        "actor": extra.get("actor"),
        "reason": extra.get("reason"),
    }


def projected_events(
    case_code: str, rows: list[Row[Any]], intake: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The ledger rows a case's effective submissions make (see `replace_projected`)."""
    events = []
    for row in rows:
        for found in rules.decisions_in(row.xml_form_id, row.data or {}, intake):
            events.append(
                _event(
                    case_code,
                    found.person_index,
                    found.decision,
                    source="form",
                    recorded_at=row.received_at,
                    details=found.details,
                    xml_form_id=row.xml_form_id,
                    submission_id=row.id,
                )
            )
    return events


def replace_projected(
    connection: Connection, case_codes: list[str], events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace the form part of these cases' ledgers by `events` (made by
    `projected_events`) when they are projected again: one statement each for a whole batch,
    and the persons' standings projected again in the same transaction. Returns every
    standing these cases now have, for `refusing_among`."""
    return consent_store.replace_form_events(connection, case_codes, events)


def refusing_among(standings: list[dict[str, Any]], purpose: str) -> set[tuple[str, int]]:
    """`persons_refusing` for the cases `replace_projected` has just projected, answered from
    the standings it returned instead of reading them back."""
    if purpose not in PURPOSES or purpose == REFERRAL:
        raise ValueError(f"persons_refusing does not answer for {purpose!r}")
    return consent_store.refusing_among(standings, purpose)


def _age_now(session: Session, case_code: str, person_index: int, on: date) -> int | None:
    case = case_store.by_code(session, case_code)
    if case is None:
        return None
    for person in case_store.persons(session, case.id):
        if person.person_index == person_index:
            return rules.age_on(person.age_years, case.reception_date, on)
    return None


def _checked(
    purpose: str,
    decision: str,
    given_by: str | None,
    person_index: int,
    recipient_type: str | None,
    details: dict[str, str] | None,
) -> dict[str, str] | None:
    """A decision's fields checked as the ledger accepts them (400 otherwise); returns its
    contact details, codes only, or None."""
    if purpose not in PURPOSES:
        raise errors.validation_failed("Choose a purpose.")
    if purpose == REFERRAL:
        if recipient_type is not None and recipient_type not in RECIPIENT_TYPES:
            raise errors.validation_failed("Choose a recipient type.")
        if recipient_type is None and decision == rules.YES:
            raise errors.validation_failed("A referral consent names its recipient type.")
    elif recipient_type is not None:
        raise errors.validation_failed("Only a referral names a recipient type.")
    if decision not in rules.DECISIONS:
        raise errors.validation_failed("Choose yes or no.")
    if given_by not in rules.GIVERS:
        raise errors.validation_failed("Say who gave the decision.")
    if person_index < 0 or person_index > 20:
        raise errors.validation_failed("Choose a person of the case.")
    if details:
        method = details.get("safe_contact_method")
        times = (details.get("safe_contact_times") or "").split()
        if purpose != FOLLOWUP_CONTACT or decision != rules.YES:
            raise errors.validation_failed("Only a follow-up contact consent has contact details.")
        if method not in rules.CONTACT_METHODS or not times:
            raise errors.validation_failed("Choose a safe contact method and times.")
        if any(t not in rules.CONTACT_TIMES for t in times):
            raise errors.validation_failed("Choose a safe contact method and times.")
        return {"safe_contact_method": method, "safe_contact_times": " ".join(times)}
    return None


def record_change(
    session: Session,
    user: CurrentUser,
    case_code: str,
    *,
    purpose: str,
    decision: str,
    given_by: str,
    reason: str,
    person_index: int = MAIN_PERSON,
    recipient_type: str | None = None,
    decided_on: date | None = None,
    details: dict[str, str] | None = None,
) -> rules.Decision:
    """A supervisor records a consent decision made on paper: validated, appended to the
    ledger (never rebuilt away) and audited (who, which person and purpose, the decision and
    the reason; no answer of the case). A referral decision names one recipient type, or
    none to refuse every referral. Returns the decision with its age-rule flag."""
    if not user.may_reveal:
        raise errors.forbidden()
    case = case_store.by_code(session, case_code)
    if case is None or case_store.in_scope(session, user.scope, case.id) is None:
        raise errors.not_found("The case")
    details = _checked(purpose, decision, given_by, person_index, recipient_type, details)
    reason = check_reason(reason)
    on = decided_on or utcnow().date()
    if on > utcnow().date():
        raise errors.validation_failed("The decision date cannot be in the future.")
    found = rules.Decision(
        purpose,
        decision,
        given_by,
        _age_now(session, case_code, person_index, on),
        on,
        recipient_type,
    )
    consent_store.add_events(
        session.connection(),
        [
            _event(
                case_code,
                person_index,
                found,
                source="web",
                recorded_at=utcnow(),
                details=details,
                actor=user.username,
                reason=reason,
            )
        ],
        refresh=False,  # the case's projection just below refreshes its standings
    )
    # The case follows its consent (the follow-up schedule): project it again, standings
    # included (project_cases refreshes every code it is given, with submissions or not).
    # Imported here because the projection itself reads the ledger through this module.
    from server.services import cases as case_service

    case_service.rebuild(session, case_code)
    audit.append(
        session,
        user.username,
        "consent.change",
        f"case:{case.id}",
        {
            "person_index": person_index,
            "purpose": purpose,
            "recipient_type": recipient_type,
            "decision": decision,
            "given_by": given_by,
            "decided_on": on.isoformat(),
            "flag": found.flag,
            "reason": reason,
        },
    )
    return found


def intake_of(rows: list[Row[Any]]) -> dict[str, Any] | None:
    """The latest intake among a case's effective rows (event order), or None."""
    latest = None
    for row in rows:
        if row.xml_form_id == rules.INTAKE_FORM:
            latest = row.data
    return latest


# A transfer package carries the decisions a supervisor recorded on the web (from paper): the
# forms' own decisions travel inside their submissions and are projected again on arrival.
_TRAVELLING = ("person_index", "purpose", "recipient_type", "decision", "given_by", "age_years")


def travelling_events(
    db: Session | Connection, case_code: str, with_reasons: bool
) -> list[dict[str, Any]]:
    """The case's web-recorded decisions as a transfer package carries them: the decision and
    who recorded it; its free-text reason only when the identity travels too (a reason may
    name someone)."""
    return [
        {
            **{name: getattr(event, name) for name in _TRAVELLING},
            "decided_on": event.decided_on.isoformat() if event.decided_on else None,
            "recorded_at": event.recorded_at.isoformat(),
            "details": event.details,
            "actor": event.actor,
            "reason": event.reason if with_reasons else None,
        }
        for event in consent_store.events_of_case(_connection(db), case_code)
        if event.source == "web"
    ]


def checked_travelling(items: Any) -> list[dict[str, Any]]:
    """A package's web-recorded decisions, each checked as a supervisor's entry is (the age
    rule's flag is worked out again here, never taken from the package); a bad one refuses
    the package with a 400 and changes nothing. A package without any (older senders): []."""
    if items is None:
        return []
    if not isinstance(items, list) or len(items) > 1000:
        raise errors.validation_failed("The package's consent decisions are not readable.")
    unreadable = errors.validation_failed("The package's consent decisions are not readable.")
    checked = []
    for item in items:
        if not isinstance(item, dict):
            raise unreadable
        person_index, age = item.get("person_index"), item.get("age_years")
        raw_details = item.get("details")
        texts = [item.get(k) for k in ("purpose", "decision", "given_by", "recipient_type")]
        if (
            type(person_index) is not int
            or not (age is None or (type(age) is int and 0 <= age <= 130))
            or not all(v is None or isinstance(v, str) for v in texts)
            or not (
                raw_details is None
                or (
                    isinstance(raw_details, dict)
                    and all(isinstance(v, str) for v in raw_details.values())
                )
            )
        ):
            raise unreadable
        try:
            decided_on = date.fromisoformat(item["decided_on"]) if item.get("decided_on") else None
            recorded_at = datetime.fromisoformat(str(item["recorded_at"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise unreadable from exc
        if decided_on is not None and decided_on > utcnow().date():
            # As for a supervisor's entry: a decision dated ahead would outrank, until that
            # day, a withdrawal the person makes here.
            raise errors.validation_failed("The decision date cannot be in the future.")
        details = _checked(
            str(item["purpose"]),
            str(item["decision"]),
            item.get("given_by"),
            person_index,
            item.get("recipient_type"),
            raw_details,
        )
        checked.append(
            {
                "person_index": person_index,
                "purpose": item["purpose"],
                "recipient_type": item.get("recipient_type"),
                "decision": item["decision"],
                "given_by": item.get("given_by"),
                "age_years": age,
                "decided_on": decided_on.isoformat() if decided_on else None,
                "recorded_at": (
                    recorded_at if recorded_at.tzinfo else recorded_at.replace(tzinfo=UTC)
                ).isoformat(),
                "details": details,
                "actor": str(item.get("actor") or "")[:60],
                "reason": str(item["reason"])[:2000] if item.get("reason") else None,
            }
        )
    return checked


def add_travelled(
    connection: Connection, case_code: str, items: list[dict[str, Any]], sender: str
) -> None:
    """Append a received case's web-recorded decisions (checked by `checked_travelling`) to
    this server's ledger as web-recorded, never rebuilt away, each naming who recorded it at
    the sending server; the standings follow in the same transaction."""
    events = []
    for item in items:
        decided_on = date.fromisoformat(item["decided_on"]) if item["decided_on"] else None
        found = rules.Decision(
            item["purpose"],
            item["decision"],
            item["given_by"],
            item["age_years"],
            decided_on,
            item["recipient_type"],
        )
        note = "recorded at the sending server (transfer package)"
        events.append(
            _event(
                case_code,
                item["person_index"],
                found,
                source="web",
                recorded_at=datetime.fromisoformat(item["recorded_at"]),
                details=item["details"],
                actor=f"{item['actor']} @ {sender}"[:120],
                reason=f"{note}: {item['reason']}" if item["reason"] else note,
            )
        )
    consent_store.add_events(connection, events)


def check_standings(session: Session, actor: str, repair: bool = False) -> dict[str, int]:
    """Compare the projected standings (consent_standings, which every exit reads) with the
    whole consent ledger replayed: the count of standings that differ, by purpose. With
    `repair`, a drift is mended by projecting every ledger again, in the same transaction,
    and audited (`consent.standings_repaired`, the counts only)."""
    connection = session.connection()
    drift = consent_store.standings_drift(connection)
    if drift and repair:
        consent_store.refresh_standings(connection, None)
        audit.append(session, actor, "consent.standings_repaired", None, {"differing": drift})
    return drift
