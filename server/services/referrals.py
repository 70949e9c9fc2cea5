"""Referrals of a case to a service (health, legal aid, schooling, the Women's Union...).

A supervisor of the unit holding a case records a referral: to whom (the service type, the
`referral_target` choices of the forms, and the organisation), why, when, and what was shared
(the statistical core; identity only with the person's consent to share it with a service).
Its outcome comes from the phones (a vt04/vt05 answer naming the same service type in
`referral_to`, with `referral_outcome`) or from the web view; a referral with no outcome
after FIELDCASE_REFERRAL_OVERDUE_DAYS is overdue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.orm import Session

from server import errors
from server.clock import utcnow
from server.services import consent, holdings, sharing
from server.services.auth import CurrentUser
from server.services.identifying import check_reason
from server.store import audit
from server.store import cases as case_store
from server.store import referrals as referral_store
from server.store.models import Referral

# The forms' `referral_target` list less `none`: the consent recipient types.
SERVICE_TYPES = consent.RECIPIENT_TYPES
OUTCOMES = ("accepted", "service_received", "not_accepted", "declined", "no_answer")
# The forms' `referral_outcome` answers; `pending` is no outcome yet.
FORM_OUTCOMES = {
    "accepted": "accepted",
    "service_received": "service_received",
    "not_accepted": "not_accepted",
    "declined": "declined",
}
REFERRAL_FORMS = ("vt04_support", "vt05_followup")


def _may_act(user: CurrentUser) -> None:
    if user.role not in ("admin", "supervisor"):
        raise errors.forbidden()


def create(
    session: Session,
    user: CurrentUser,
    case_id: int,
    service_type: str,
    organisation: str,
    reason: str,
    referred_on: date | None,
    share_identity: bool,
) -> Referral:
    """Record a referral of a case the user's unit holds; audited (no identifying value)."""
    _may_act(user)
    case = case_store.in_scope(session, user.scope, case_id)
    if case is None:
        raise errors.not_found("The case")
    holding = holdings.current_holding(session, case.case_code)
    if holding is None or not user.scope.allows(*holding.columns):
        raise errors.not_found("The case")
    if service_type not in SERVICE_TYPES:
        raise errors.validation_failed("Choose the kind of service the case is referred to.")
    organisation = " ".join(organisation.split())
    if not 2 <= len(organisation) <= 300:
        raise errors.validation_failed("Name the organisation (2 to 300 characters).")
    reason = check_reason(reason)
    today = utcnow().date()
    referred_on = referred_on or today
    if referred_on > today:
        raise errors.validation_failed("The referral date cannot be in the future.")
    if share_identity and not sharing.identity_may_travel(session, case.case_code, service_type):
        raise errors.validation_failed(
            "The person has not consented to share their identity with a service: only the "
            "statistical core can be shared."
        )
    referral = referral_store.add(
        session,
        Referral(
            case_code=case.case_code,
            province_code=holding.province,
            commune_code=holding.commune,
            service_type=service_type,
            organisation=organisation,
            reason=reason,
            referred_on=referred_on,
            shared="core_identity" if share_identity else "core",
            created_by=user.username,
            created_at=utcnow(),
        ),
    )
    audit.append(
        session,
        user.username,
        "referral.create",
        f"case:{case.id}",
        {"referral": referral.id, "service_type": service_type, "shared": referral.shared},
    )
    return referral


def set_outcome(
    session: Session, user: CurrentUser, referral_id: int, outcome: str, on: date | None
) -> Referral:
    """Record a referral's outcome from the web view; audited."""
    _may_act(user)
    referral = referral_store.in_scope(session, user.scope, referral_id)
    if referral is None:
        raise errors.not_found("The referral")
    if outcome not in OUTCOMES:
        raise errors.validation_failed("Choose an outcome of the referral.")
    on = on or utcnow().date()
    if on < referral.referred_on or on > utcnow().date():
        raise errors.validation_failed("The outcome date must lie between the referral and today.")
    referral.outcome, referral.outcome_on = outcome, on
    referral.outcome_source, referral.outcome_by = "web", user.username
    referral.outcome_submission_id = None
    session.flush()
    audit.append(
        session,
        user.username,
        "referral.outcome",
        f"referral:{referral.id}",
        {"outcome": outcome, "case_code": referral.case_code},
    )
    return referral


def _answers(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(referral_to, referral_outcome) pairs anywhere in a submission (repeats included)."""
    found: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            target, outcome = node.get("referral_to"), node.get("referral_outcome")
            if isinstance(target, str) and isinstance(outcome, str):
                found.append((target, outcome))
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)

    walk(data)
    return found


def outcomes_from_submissions(
    connection: Connection, effective: dict[str, Iterable[Row[Any]]]
) -> None:
    """Apply the referral outcomes the phones answered (vt04/vt05) to the cases' referrals.

    `effective`: each case code's submissions that act on it (the unit rule's), in event
    order; the latest answer for a service type sets the oldest referral to that service
    type that has no outcome from the web view. A referral outcome set on the web stays.
    """
    referrals = referral_store.of_cases(connection, list(effective))
    if not referrals:
        return
    by_case: dict[str, list[Row[Any]]] = {}
    for row in referrals:
        by_case.setdefault(row.case_code, []).append(row)
    changes: list[dict[str, Any]] = []
    for code, rows in effective.items():
        candidates = [r for r in by_case.get(code, []) if r.outcome_source != "web"]
        if not candidates:
            continue
        latest: dict[str, tuple[str, int, date | None]] = {}
        for submission in rows:
            if submission.xml_form_id not in REFERRAL_FORMS:
                continue
            for target, answer in _answers(submission.data or {}):
                if answer in FORM_OUTCOMES:
                    latest[target] = (FORM_OUTCOMES[answer], submission.id, submission.event_date)
        for target, (outcome, submission_id, on) in latest.items():
            match = next((r for r in candidates if r.service_type == target), None)
            if match is None:
                continue
            candidates.remove(match)
            if (match.outcome, match.outcome_source) != (outcome, "submission"):
                changes.append(
                    {
                        "b_id": match.id,
                        "outcome": outcome,
                        "outcome_on": on,
                        "outcome_source": "submission",
                        "outcome_submission_id": submission_id,
                        "outcome_by": None,
                    }
                )
    referral_store.set_outcomes(connection, changes)


@dataclass(frozen=True)
class ReferralsPage:
    """The referrals page: a page of the unit's referrals (with the id to page on for older
    ones, or None), and a page of those overdue, oldest first (with how many are overdue in
    all and the id to page on for the next ones, or None)."""

    referrals: list[Referral]
    overdue: list[Referral]
    overdue_days: int
    older_before: int | None = None
    overdue_total: int = 0
    overdue_after: int | None = None


PAGE_SIZE = 100


def referrals_page(
    session: Session,
    user: CurrentUser,
    overdue_days: int,
    today: date | None = None,
    before: int | None = None,
    overdue_after: int | None = None,
) -> ReferralsPage:
    """The user's units' referrals a page at a time (older than `before` when given), and
    those with no outcome after `overdue_days`, a page at a time too (after the overdue
    referral `overdue_after` when given): a province with a backlog sees every one of them."""
    _may_act(user)
    today = today or utcnow().date()
    referred_by = today - timedelta(days=overdue_days)
    found = list(referral_store.listed(session, user.scope, None, PAGE_SIZE + 1, before))
    shown = found[:PAGE_SIZE]
    late = list(
        referral_store.overdue(session, user.scope, referred_by, PAGE_SIZE + 1, overdue_after)
    )
    late_shown = late[:PAGE_SIZE]
    return ReferralsPage(
        shown,
        late_shown,
        overdue_days,
        shown[-1].id if len(found) > PAGE_SIZE else None,
        referral_store.count_overdue(session, user.scope, referred_by),
        late_shown[-1].id if len(late) > PAGE_SIZE else None,
    )


def of_case(session: Session, user: CurrentUser, case_code: str) -> list[Referral]:
    """A case's referrals made by the user's units."""
    return list(referral_store.listed(session, user.scope, case_code))
