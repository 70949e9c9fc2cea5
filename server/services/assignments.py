"""Which forms a collector may list, download and submit (admin page)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server import errors
from server.store import audit
from server.store import collector_forms as assignment_store
from server.store import collectors as collector_store
from server.store import forms as form_store


def set_assigned_forms(
    session: Session, collector_id: int, form_ids: list[int], actor: str
) -> None:
    """Make exactly `form_ids` the collector's forms; audited with what changed."""
    collector = collector_store.by_id(session, collector_id)
    if collector is None:
        raise errors.not_found("The collector")
    known = {form.id: form.xml_form_id for form in form_store.all_forms(session)}
    wanted = {form_id for form_id in form_ids if form_id in known}
    current = assignment_store.assigned_ids(session, collector_id)
    for form_id in sorted(wanted - current):
        form_store.assign(session, collector_id, form_id)
    assignment_store.unassign(session, collector_id, current - wanted)
    if wanted != current:
        audit.append(
            session,
            actor,
            "collector.assign",
            f"collector:{collector_id}",
            {
                "added": sorted(known[i] for i in wanted - current),
                "removed": sorted(known[i] for i in current - wanted),
            },
        )


def assign(session: Session, collector_id: int, form_id: int) -> None:
    """Add one form to the collector's forms (`fieldcase collectors assign`; not audited,
    as before)."""
    form_store.assign(session, collector_id, form_id)
