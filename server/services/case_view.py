"""What a case page shows: the case, its persons, its whole timeline, its identifying fields.

Found only within the user's units (else 404). The timeline and the identifying fields come
only from submissions the viewer may see themselves (a case moved by a transfer keeps its
earlier unit's submissions in that unit). Identifying values are read only when the viewer has
revealed them; otherwise only which fields exist is returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from forms.identifying import collect_identifying, identifying_fields
from forms.labels import FormLabels, labels_for
from server import errors
from server.i18n_text import country_display
from server.services import consent, holdings, matching, referrals, transfers
from server.services.auth import CurrentUser
from server.services.identifying import (
    MASK,
    check_reason,
    record_reveal,
)
from server.store import audit
from server.store import cases as case_store
from server.store import submissions as submission_store
from server.store.models import Case, CasePerson, Form, FormVersion, Referral, Submission
from server.store.scope import UnitScope

_INDEX = re.compile(r"\[\d+\]")
_MINOR = re.compile(r"^minors\[(\d+)\]")


def _person_of(path: str) -> int:
    """The person an identifying answer is about: a minor of the repeat, else the person
    received."""
    found = _MINOR.match(path)
    return int(found.group(1)) if found else 0


@dataclass
class TimelineEntry:
    """One event of the case: which form, when, what it said (analytic values only)."""

    event_date: date | None
    kind: str
    form_title: str
    submission_id: int
    review_state: str
    summary: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class IdentifyingValue:
    """One identifying field: its label, and its value only when revealed."""

    label: str
    value: str
    submission_id: int


@dataclass
class CasePage:
    """Everything the case page renders."""

    case: Case
    persons: list[CasePerson]
    timeline: list[TimelineEntry]
    identifying: list[IdentifyingValue]
    revealed: bool
    hidden_events: int = 0  # timeline entries of submissions the viewer may not see
    # Set when the viewer's unit handed the case over: they see what they recorded, and the
    # case's status only when the person consented (server/services/transfers.py).
    handed_over_to: str | None = None
    status_hidden: bool = False
    may_transfer: bool = False
    referrals: list[Referral] = field(default_factory=list)
    # The match key found an open case of the same person in another unit (never which).
    possible_duplicate: bool = False
    # Consent now, person by person (forms/consent.py states), and the ledger itself.
    consent: list[consent.PersonConsent] = field(default_factory=list)
    consent_history: list[Any] = field(default_factory=list)
    # Persons whose identifying information is withheld (intake consent withdrawn, refused
    # or not valid); when the person received is among them nothing can be revealed.
    withheld: set[int] = field(default_factory=set)


class _LabelCache:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.versions: dict[int, tuple[FormLabels | None, str]] = {}

    def of(self, submission: Submission) -> tuple[FormLabels | None, str]:
        if submission.form_version_id not in self.versions:
            version = self.session.get(FormVersion, submission.form_version_id)
            form = self.session.get(Form, submission.form_id)
            labels = labels_for(version.xml) if version else None
            self.versions[submission.form_version_id] = (labels, form.title if form else "")
        return self.versions[submission.form_version_id]


def _display(labels: FormLabels | None, name: str, value: Any, language: str) -> tuple[str, str]:
    path = labels.path_of(name) if labels else None
    label = (labels.question(path, language) if labels and path else None) or name
    if isinstance(value, list):
        return label, ", ".join(
            country_display(
                name,
                str(v),
                labels.display(path, str(v), language) if labels and path else str(v),
                language,
            )
            for v in value
        )
    text = "" if value is None else str(value)
    shown = labels.display(path, text, language) if labels and path else text
    return label, country_display(name, text, shown, language)


@dataclass(frozen=True)
class _Reach:
    """How the viewer reaches a case, and through which scopes they read its submissions."""

    case: Case
    timeline_scope: UnitScope
    identifying_scope: UnitScope
    handed_over_to: str | None = None
    status_hidden: bool = False


def _reach(session: Session, user: CurrentUser, case_id: int) -> _Reach:
    """The case when the user's unit holds it or handed it over, else 404.

    Holding it after a transfer, they read the earlier units' statistical core, and their
    identifying fields only when the transfer brought identity. Having handed it over, they
    read only what their unit recorded, and the status only with the person's consent.
    """
    case = case_store.in_scope(session, user.scope, case_id)
    if case is not None:
        access = transfers.access_of(session, user, case.case_code, holds=True)
        everything = UnitScope.all_units()
        return _Reach(
            case,
            everything if access.inherited else user.scope,
            everything if access.identity_inherited or user.is_admin else user.scope,
        )
    case = case_store.by_id(session, case_id) if user.sees_records else None
    if case is not None:
        access = transfers.access_of(session, user, case.case_code, holds=False)
        if access.handed_over is not None:
            to = access.handed_over
            return _Reach(
                case,
                user.scope,
                user.scope,
                "/".join(p for p in (to.to_province, to.to_commune) if p),
                not transfers.later_status_visible(session, to),
            )
    raise errors.not_found("The case")


def case_page(
    session: Session, user: CurrentUser, case_id: int, language: str, revealed: bool
) -> CasePage:
    """The case page's content; audited as a view of the case."""
    if not user.sees_records:
        raise errors.forbidden()
    reach = _reach(session, user, case_id)
    case = reach.case
    withheld = consent.withheld_persons(session, case.case_code)
    if 0 in withheld:
        revealed = False
    cache = _LabelCache(session)
    timeline = []
    for event, submission in case_store.timeline_with_forms(session, reach.timeline_scope, case.id):
        labels, title = cache.of(submission)
        summary = [
            _display(labels, name, value, language) for name, value in (event.summary or {}).items()
        ]
        timeline.append(
            TimelineEntry(
                event.event_date, event.kind, title, submission.id, submission.review_state, summary
            )
        )
    identifying = []
    for submission in submission_store.for_case(session, reach.identifying_scope, case.case_code):
        labels, _title = cache.of(submission)
        version = session.get(FormVersion, submission.form_version_id)
        fields = identifying_fields(version.fields if version else None)
        for path, value in collect_identifying(submission.data or {}, fields):
            clean = _INDEX.sub("", path)
            label = (labels.question(clean, language) if labels else None) or clean
            positions = _INDEX.findall(path)
            if positions:
                label = f"{label} #{positions[-1].strip('[]')}"
            shown = revealed and _person_of(path) not in withheld
            identifying.append(IdentifyingValue(label, value if shown else MASK, submission.id))
    audit.append(
        session,
        user.username,
        "case.view",
        f"case:{case.id}",
        {"revealed": revealed, **({"handed_over": True} if reach.handed_over_to else {})},
    )
    holding = holdings.current_holding(session, case.case_code)
    return CasePage(
        case,
        [] if reach.handed_over_to else list(case_store.persons(session, case.id)),
        timeline,
        identifying,
        revealed,
        case_store.count_events(session, case.id) - len(timeline),
        handed_over_to=reach.handed_over_to,
        status_hidden=reach.status_hidden,
        may_transfer=reach.handed_over_to is None
        and holding is not None
        and user.scope.allows(*holding.columns),
        referrals=referrals.of_case(session, user, case.case_code),
        consent=consent.case_consent(session, case.case_code),
        consent_history=consent.history(session, case.case_code),
        withheld=withheld,
        possible_duplicate=reach.handed_over_to is None
        and matching.possible_duplicate(session, case.case_code),
    )


def reveal_case(session: Session, user: CurrentUser, case_id: int, reason: str) -> None:
    """Record a reveal of a case's identifying fields (the caller grants it to the session)."""
    if not user.may_reveal:
        raise errors.forbidden()
    reach = _reach(session, user, case_id)
    case = reach.case
    reason = check_reason(reason)
    consent.check_identifiers_allowed(session, case.case_code)
    paths = sorted(
        {
            _INDEX.sub("", path)
            for submission in submission_store.for_case(
                session, reach.identifying_scope, case.case_code
            )
            for path, _value in collect_identifying(submission.data or {})
        }
    )
    record_reveal(session, user.username, f"case:{case.id}", reason, paths)


def record_consent_change(
    session: Session,
    user: CurrentUser,
    case_id: int,
    *,
    person_index: int,
    purpose: str,
    decision: str,
    given_by: str,
    reason: str,
    recipient_type: str | None = None,
    decided_on: str | None = None,
    contact_method: str | None = None,
    contact_times: list[str] | None = None,
) -> None:
    """A supervisor records a consent decision made on paper for a case of their units
    (server/services/consent.record_change: validated, appended, audited)."""
    if not user.may_reveal:
        raise errors.forbidden()
    case = case_store.in_scope(session, user.scope, case_id)
    if case is None:
        raise errors.not_found("The case")
    on = None
    if decided_on:
        try:
            on = date.fromisoformat(decided_on.strip())
        except ValueError:
            raise errors.validation_failed("Write the date as YYYY-MM-DD.") from None
    consent.record_change(
        session,
        user,
        case.case_code,
        person_index=person_index,
        purpose=purpose,
        decision=decision,
        given_by=given_by,
        reason=reason,
        recipient_type=recipient_type or None,
        decided_on=on,
        details={
            "safe_contact_method": contact_method or "",
            "safe_contact_times": " ".join(contact_times or []),
        }
        if contact_method or contact_times
        else None,
    )
