"""Edits: a submission carrying `deprecatedID` replaces the one it names, within one unit.

An edit supersedes the submission it names only when both were received from collectors of
the same unit (`submissions.unit_code`): a phone of another unit that learnt an instanceID
cannot replace a submission it never made. Such an edit is kept, flagged `foreign_edit`, acts
nowhere, and the original stays current. Plain edits are linked when recorded, encrypted ones
once their XML is decrypted; linking twice changes nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection

from server.services import units
from server.store import submissions as submission_store


def link_edit(
    connection: Connection,
    submission_id: int,
    form_pk: int,
    deprecated_id: str,
    unit_code: str | None,
) -> str | None:
    """Let submission `submission_id` (received in `unit_code`) replace the submission of the
    same form whose instanceID is `deprecated_id`, if the rule allows it.

    Returns the case code the replaced submission leaves (its case is projected again), or
    None. An original not received yet is linked by nothing (as before this rule).
    """
    old = submission_store.edited(connection, form_pk, deprecated_id)
    if old is None or old.id == submission_id:
        return None
    if not units.same_unit(old.unit_code, unit_code):
        submission_store.set_columns(connection, submission_id, {"unit_check": units.FOREIGN_EDIT})
        return None
    if old.superseded_by_id is None:
        submission_store.supersede(connection, old.id, submission_id)
    if old.superseded_by_id in (None, submission_id) and old.case_code:
        return str(old.case_code)  # an edit that moved it to another case takes it from the old
    return None
