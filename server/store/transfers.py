"""Queries on case_transfers: proposed hand-overs of cases between units, and their answers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.models import CaseTransfer
from server.store.scope import UnitScope, unit_clause

PENDING = "pending"
ACCEPTED = "accepted"
DECLINED = "declined"


def add(session: Session, transfer: CaseTransfer) -> CaseTransfer:
    """Insert a transfer."""
    session.add(transfer)
    session.flush()
    return transfer


def pending_of_case(session: Session, case_code: str) -> CaseTransfer | None:
    """The transfer of a case code waiting for an answer, if any."""
    return session.scalar(
        select(CaseTransfer).where(
            CaseTransfer.case_code == case_code, CaseTransfer.state == PENDING
        )
    )


def by_package(session: Session, package_sha256: str) -> CaseTransfer | None:
    """The transfer an imported package made, if it was imported already."""
    return session.scalar(select(CaseTransfer).where(CaseTransfer.package_sha256 == package_sha256))


def incoming(session: Session, scope: UnitScope, transfer_id: int) -> CaseTransfer | None:
    """A transfer to a unit inside the scope (the receiving side may answer it), else None."""
    return session.scalar(
        select(CaseTransfer).where(
            CaseTransfer.id == transfer_id,
            unit_clause(scope, CaseTransfer.to_province, CaseTransfer.to_commune),
        )
    )


def listed(
    session: Session,
    scope: UnitScope,
    direction: str,
    limit: int = 100,
    before: int | None = None,
) -> Sequence[CaseTransfer]:
    """Transfers into (`in`) or out of (`out`) the scope's units: on the first page every
    pending one first (they wait for an answer), then up to `limit` + 1 answered ones, newest
    first; with `before`, only answered ones with a smaller id (the caller pages on the last
    id it shows)."""
    clause = (
        unit_clause(scope, CaseTransfer.to_province, CaseTransfer.to_commune)
        if direction == "in"
        else unit_clause(scope, CaseTransfer.from_province, CaseTransfer.from_commune)
    )
    pending = (
        session.scalars(
            select(CaseTransfer)
            .where(clause, CaseTransfer.state == PENDING)
            .order_by(CaseTransfer.id.desc())
        ).all()
        if before is None
        else []
    )
    answered = select(CaseTransfer).where(clause, CaseTransfer.state != PENDING)
    if before is not None:
        answered = answered.where(CaseTransfer.id < before)
    return [
        *pending,
        *session.scalars(answered.order_by(CaseTransfer.id.desc()).limit(limit + 1)).all(),
    ]


def accepted_of_case(session: Session, case_code: str) -> Sequence[CaseTransfer]:
    """A case code's accepted transfers, oldest first."""
    return session.scalars(
        select(CaseTransfer)
        .where(CaseTransfer.case_code == case_code, CaseTransfer.state == ACCEPTED)
        .order_by(CaseTransfer.decided_at, CaseTransfer.id)
    ).all()


def sent_from_scope(session: Session, scope: UnitScope, case_code: str) -> CaseTransfer | None:
    """The latest accepted transfer of a case code out of a unit inside the scope."""
    return session.scalar(
        select(CaseTransfer)
        .where(
            CaseTransfer.case_code == case_code,
            CaseTransfer.state == ACCEPTED,
            unit_clause(scope, CaseTransfer.from_province, CaseTransfer.from_commune),
        )
        .order_by(CaseTransfer.id.desc())
        .limit(1)
    )


def received_in_scope(session: Session, scope: UnitScope, case_code: str) -> Sequence[CaseTransfer]:
    """The accepted transfers of a case code into units inside the scope."""
    return session.scalars(
        select(CaseTransfer).where(
            CaseTransfer.case_code == case_code,
            CaseTransfer.state == ACCEPTED,
            unit_clause(scope, CaseTransfer.to_province, CaseTransfer.to_commune),
        )
    ).all()
