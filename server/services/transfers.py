"""Transfers of a case between units (chuyển tuyến): proposed, then accepted or declined.

A supervisor (or admin) of the unit holding a case proposes to hand it to another unit or
province, with a reason, choosing whether identity travels (only when the person consented to
share it with another unit: `server/services/sharing.py`; the statistical core always does).
The receiving unit's supervisors see it pending and accept or decline it. Accepting starts the
new unit's holding period (`server/services/holdings.py`), so from then on only the new unit's
phones act on the case; the sending unit keeps read access to what it recorded. Every step is
written to the audit log, naming both units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from forms.admin_units import shipped as shipped_units
from server import errors
from server.clock import utcnow
from server.services import holdings, sharing, units
from server.services.auth import CurrentUser
from server.services.identifying import check_reason
from server.services.units import Unit
from server.store import audit
from server.store import cases as case_store
from server.store import transfers as transfer_store
from server.store.models import CaseTransfer

PENDING = transfer_store.PENDING
ACCEPTED = transfer_store.ACCEPTED
DECLINED = transfer_store.DECLINED


def _unit(province: str | None, commune: str | None) -> str:
    return Unit(province, commune).code


@dataclass(frozen=True)
class TransferRow:
    """One transfer as the transfers page lists it (no identifying value)."""

    id: int
    case_code: str
    from_unit: str
    to_unit: str
    reason: str
    shares_identity: bool
    state: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    origin: str
    sender_fingerprint: str | None
    may_answer: bool


def _row(transfer: CaseTransfer, may_answer: bool) -> TransferRow:
    return TransferRow(
        transfer.id,
        transfer.case_code,
        _unit(transfer.from_province, transfer.from_commune),
        _unit(transfer.to_province, transfer.to_commune),
        transfer.reason,
        transfer.shares_identity,
        transfer.state,
        transfer.proposed_by,
        transfer.proposed_at,
        transfer.decided_by,
        transfer.decided_at,
        transfer.origin,
        transfer.sender_fingerprint,
        may_answer and transfer.state == PENDING,
    )


def _may_act(user: CurrentUser) -> None:
    if user.role not in ("admin", "supervisor"):
        raise errors.forbidden()


def target_unit(to_unit_code: str) -> Unit:
    """The unit a transfer goes to: a province (2 digits) or a commune of the list."""
    target = units.acting_unit(to_unit_code, shipped_units())
    if target is None or target.province is None:
        raise errors.validation_failed(
            "Choose a province (2 digits) or a commune of the administrative units list."
        )
    return target


def propose(
    session: Session,
    user: CurrentUser,
    case_id: int,
    to_unit_code: str,
    reason: str,
    share_identity: bool,
) -> CaseTransfer:
    """Propose handing a case of the user's unit to another unit; audited. Nothing moves
    until the receiving unit accepts."""
    _may_act(user)
    case = case_store.in_scope(session, user.scope, case_id)
    if case is None:
        raise errors.not_found("The case")
    holding = holdings.current_holding(session, case.case_code)
    if holding is None or not user.scope.allows(*holding.columns):
        raise errors.not_found("The case")
    target = target_unit(to_unit_code)
    if target == holding:
        raise errors.validation_failed("The case is already held by this unit.")
    reason = check_reason(reason)
    if share_identity and not sharing.identity_may_travel(
        session, case.case_code, sharing.recipient_type_of(target)
    ):
        raise errors.validation_failed(
            "The person has not consented to share their identity with another unit: only "
            "the statistical core can travel."
        )
    if transfer_store.pending_of_case(session, case.case_code) is not None:
        raise errors.validation_failed("A transfer of this case is already waiting for an answer.")
    transfer = transfer_store.add(
        session,
        CaseTransfer(
            case_code=case.case_code,
            from_province=holding.province,
            from_commune=holding.commune,
            to_province=target.province,
            to_commune=target.commune,
            reason=reason,
            shares_identity=share_identity,
            state=PENDING,
            proposed_by=user.username,
            proposed_at=utcnow(),
            origin="local",
        ),
    )
    audit.append(
        session,
        user.username,
        "transfer.propose",
        f"case:{case.id}",
        {
            "transfer": transfer.id,
            "case_code": case.case_code,
            "from": holding.code,
            "to": target.code,
            "identity": share_identity,
        },
    )
    return transfer


def _pending_incoming(session: Session, user: CurrentUser, transfer_id: int) -> CaseTransfer:
    _may_act(user)
    transfer = transfer_store.incoming(session, user.scope, transfer_id)
    if transfer is None:
        raise errors.not_found("The transfer")
    if transfer.state != PENDING:
        raise errors.validation_failed("This transfer was answered already.")
    return transfer


def accept(
    session: Session, user: CurrentUser, transfer_id: int, match_secret: bytes | None = None
) -> CaseTransfer:
    """The receiving unit takes the case: its holding period starts now; audited. A case from
    another server gets its match keys here when `match_secret` is given."""
    transfer = _pending_incoming(session, user, transfer_id)
    target = Unit(transfer.to_province, transfer.to_commune)
    if transfer.origin == "package":
        from server.services import transfer_packages

        transfer_packages.materialise(session, transfer, user.username)
        if match_secret is not None:
            from server.services import matching

            matching.record_keys(session.connection(), match_secret, [transfer.case_code])
    else:
        holding = holdings.current_holding(session, transfer.case_code)
        if holding != Unit(transfer.from_province, transfer.from_commune):
            raise errors.validation_failed(
                "The case is no longer held by the unit that proposed this transfer."
            )
        holdings.transfer(
            session, transfer.case_code, target.commune or target.province or "", user.username
        )
    transfer.state = ACCEPTED
    transfer.decided_by = user.username
    transfer.decided_at = utcnow()
    transfer.payload = None  # what a package brought now lives in the submissions
    session.flush()
    _audit_answer(session, user, transfer, "transfer.accept")
    return transfer


def decline(session: Session, user: CurrentUser, transfer_id: int, note: str) -> CaseTransfer:
    """The receiving unit declines: the case stays where it is; audited with the reason."""
    transfer = _pending_incoming(session, user, transfer_id)
    note = check_reason(note)
    transfer.state = DECLINED
    transfer.decided_by = user.username
    transfer.decided_at = utcnow()
    transfer.decision_note = note
    transfer.payload = None  # a declined package keeps nothing of the person
    session.flush()
    _audit_answer(session, user, transfer, "transfer.decline")
    return transfer


def _audit_answer(session: Session, user: CurrentUser, transfer: CaseTransfer, action: str) -> None:
    case = case_store.by_code(session, transfer.case_code)
    audit.append(
        session,
        user.username,
        action,
        f"case:{case.id}" if case else None,
        {
            "transfer": transfer.id,
            "case_code": transfer.case_code,
            "from": _unit(transfer.from_province, transfer.from_commune),
            "to": _unit(transfer.to_province, transfer.to_commune),
        },
    )


@dataclass(frozen=True)
class TransfersPage:
    """The transfers page: what came in, what went out; each list has every pending
    transfer and a page of answered ones, with the id to page on for older ones (or None)."""

    incoming: list[TransferRow]
    outgoing: list[TransferRow]
    incoming_before: int | None = None
    outgoing_before: int | None = None


PAGE_SIZE = 100


def _page(
    session: Session, user: CurrentUser, direction: str, before: int | None
) -> tuple[list[TransferRow], int | None]:
    found = transfer_store.listed(session, user.scope, direction, PAGE_SIZE, before)
    answered = [t for t in found if t.state != PENDING]
    shown = found[: len(found) - 1] if len(answered) > PAGE_SIZE else list(found)
    older = shown[-1].id if len(answered) > PAGE_SIZE else None
    return [_row(t, direction == "in") for t in shown], older


def transfers_page(
    session: Session,
    user: CurrentUser,
    incoming_before: int | None = None,
    outgoing_before: int | None = None,
) -> TransfersPage:
    """Transfers into and out of the user's units: the pending ones first, then answered
    ones a page at a time (older than the `*_before` ids when given)."""
    _may_act(user)
    incoming, in_older = _page(session, user, "in", incoming_before)
    outgoing, out_older = _page(session, user, "out", outgoing_before)
    return TransfersPage(incoming, outgoing, in_older, out_older)


@dataclass(frozen=True)
class CaseAccess:
    """How a user reaches a case: holding it, having handed it over, or having received it."""

    handed_over: CaseTransfer | None  # the user's unit handed it over (read access only)
    identity_inherited: bool  # a transfer into the user's unit brought identity along
    inherited: bool  # a transfer into the user's unit brought the earlier statistical core


def access_of(session: Session, user: CurrentUser, case_code: str, holds: bool) -> CaseAccess:
    """What transfers give a user of a case: read access to what their unit recorded before
    handing it over, or (holding it) the earlier units' core and, with consent, identity."""
    if holds:
        received = transfer_store.received_in_scope(session, user.scope, case_code)
        # Asked again now: a consent withdrawn since the transfer stops the next view.
        identity = any(
            t.shares_identity
            and sharing.identity_may_travel(
                session, case_code, sharing.recipient_type_of(Unit(t.to_province, t.to_commune))
            )
            for t in received
        )
        return CaseAccess(None, identity, bool(received) or user.is_admin)
    return CaseAccess(transfer_store.sent_from_scope(session, user.scope, case_code), False, False)


def later_status_visible(session: Session, transfer: CaseTransfer) -> bool:
    """Whether the unit that made this transfer may see the case's status now (consent)."""
    return sharing.later_status_visible(
        session, transfer.case_code, Unit(transfer.from_province, transfer.from_commune)
    )
