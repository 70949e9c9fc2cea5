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
from server.services.auth import CurrentUser
from server.services.identifying import (
    MASK,
    check_reason,
    record_reveal,
)
from server.store import audit
from server.store import cases as case_store
from server.store import submissions as submission_store
from server.store.models import Case, CasePerson, Form, FormVersion, Submission

_INDEX = re.compile(r"\[\d+\]")


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


def case_page(
    session: Session, user: CurrentUser, case_id: int, language: str, revealed: bool
) -> CasePage:
    """The case page's content; audited as a view of the case."""
    if not user.sees_records:
        raise errors.forbidden()
    case = case_store.in_scope(session, user.scope, case_id)
    if case is None:
        raise errors.not_found("The case")
    cache = _LabelCache(session)
    timeline = []
    for event, submission in case_store.timeline_with_forms(session, user.scope, case.id):
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
    for submission in submission_store.for_case(session, user.scope, case.case_code):
        labels, _title = cache.of(submission)
        version = session.get(FormVersion, submission.form_version_id)
        fields = identifying_fields(version.fields if version else None)
        for path, value in collect_identifying(submission.data or {}, fields):
            clean = _INDEX.sub("", path)
            label = (labels.question(clean, language) if labels else None) or clean
            positions = _INDEX.findall(path)
            if positions:
                label = f"{label} #{positions[-1].strip('[]')}"
            identifying.append(IdentifyingValue(label, value if revealed else MASK, submission.id))
    audit.append(session, user.username, "case.view", f"case:{case.id}", {"revealed": revealed})
    return CasePage(
        case,
        list(case_store.persons(session, case.id)),
        timeline,
        identifying,
        revealed,
        case_store.count_events(session, case.id) - len(timeline),
    )


def reveal_case(session: Session, user: CurrentUser, case_id: int, reason: str) -> None:
    """Record a reveal of a case's identifying fields (the caller grants it to the session)."""
    if not user.may_reveal:
        raise errors.forbidden()
    case = case_store.in_scope(session, user.scope, case_id)
    if case is None:
        raise errors.not_found("The case")
    reason = check_reason(reason)
    paths = sorted(
        {
            _INDEX.sub("", path)
            for submission in submission_store.for_case(session, user.scope, case.case_code)
            for path, _value in collect_identifying(submission.data or {})
        }
    )
    record_reveal(session, user.username, f"case:{case.id}", reason, paths)
