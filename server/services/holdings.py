"""Which unit holds a case, and the one way it changes.

A case code is held by the unit its first fitting intake was received in (the projection sets
that first period: server/services/cases.py). After that, the holding changes only through
`transfer`: an explicit act of a named person, written to the audit log, that starts a new
period. Submissions received before a transfer keep acting in the unit that held the case
when they were received; from the transfer on, only the new unit's phones act on it. The
referrals and transfers pages (issue 18) call this function; nothing else writes holdings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from forms.admin_units import shipped as shipped_units
from server import errors
from server.clock import utcnow
from server.services import case_assignments, units
from server.services import cases as case_service
from server.services.units import Unit
from server.store import audit
from server.store import cases as case_store
from server.store import holdings as holding_store


def current_holding(session: Session, case_code: str) -> Unit | None:
    """The unit holding a case code now; None when no intake has held it yet."""
    history = holding_store.histories(session.connection(), [case_code]).get(case_code)
    if not history:
        return None
    return Unit(history[-1].province_code, history[-1].commune_code)


def transfer(session: Session, case_code: str, to_unit_code: str, actor: str) -> Unit:
    """Move a held case to another unit (a province or a commune of the list); audited.

    The case is projected again at once, so it leaves the old unit's lists and enters the new
    unit's in the same transaction.
    """
    target = units.acting_unit(to_unit_code, shipped_units())
    if target is None or target.province is None:
        raise errors.validation_failed(
            "Choose a province (2 digits) or a commune of the administrative units list."
        )
    session.flush()
    connection = session.connection()
    history = holding_store.histories(connection, [case_code]).get(case_code)
    if not history:
        raise errors.not_found("The case")
    current = history[-1]
    before = Unit(current.province_code, current.commune_code)
    if before == target:
        raise errors.validation_failed("The case is already held by this unit.")
    holding_store.add_period(
        connection, case_code, current.seq + 1, target.columns, utcnow(), "transfer", actor=actor
    )
    case_id = case_service.project_case(connection, case_code)
    # The old unit's phones follow it no more; the new unit's supervisors assign their own.
    case_assignments.case_transferred(session, case_code, actor)
    existing = case_id or (case.id if (case := case_store.by_code(session, case_code)) else None)
    audit.append(
        session,
        actor,
        "case.transfer",
        f"case:{existing}" if existing else None,
        {"case_code": case_code, "from": before.code, "to": target.code},
    )
    return target


def import_holding(
    session: Session,
    case_code: str,
    recorded_in: Unit,
    recorded_from: datetime,
    to_unit: Unit,
    actor: str,
) -> None:
    """Hold a case that came from another server: first the unit that recorded it there (so
    its submissions keep acting where they were made), then, from now on, the receiving unit.
    Refused when this server holds the case code already."""
    session.flush()
    connection = session.connection()
    if holding_store.histories(connection, [case_code]):
        raise errors.validation_failed("This server already holds a case with this case code.")
    holding_store.add_period(connection, case_code, 1, recorded_in.columns, recorded_from, "import")
    holding_store.add_period(
        connection, case_code, 2, to_unit.columns, utcnow(), "transfer", actor=actor
    )
