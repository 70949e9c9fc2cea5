"""The case register: one row per case with its status and key dates.

Identifying fields (name, date of birth, phone, address) are left out unless an admin asks
for them with a reason; the caller audits that request. With them, a case whose person
received has withdrawn (or never validly given) consent to case management is left out
entirely (forms/consent.py WITHHOLDING).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exports.csvsafe import SafeCsvWriter
from exports.files import atomic_output
from forms.instance import get_path
from server.store import cases as case_store
from server.store import consent as consent_store
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.scope import UnitScope

COLUMNS = (
    "case_code",
    "status",
    "province_code",
    "commune_code",
    "reception_date",
    "next_followup_due",
    "closed_on",
    "close_reason",
    "persons",
    "sex",
    "age_years",
    "reception_channel",
    "purpose",
    "destination_country",
    "updated_at",
)
IDENTIFYING = ("full_name", "other_names", "dob", "phone", "res_address_detail", "relative_contact")
BATCH = 1000


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def write_register(
    store: Store,
    path: Path,
    *,
    scope: UnitScope,
    include_identifiers: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the register CSV atomically; returns the number of cases."""
    count, after = 0, 0
    with atomic_output(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = SafeCsvWriter(text)
        writer.writerow([*COLUMNS, *(IDENTIFYING if include_identifiers else ())])
        while True:
            with store.reader() as session:
                rows = case_store.register_batch(session, scope, after, BATCH)
                withheld = (
                    {
                        code
                        for code, index in consent_store.persons_withholding(
                            session.connection(), [case.case_code for case, _, _ in rows]
                        )
                        if index == 0
                    }
                    if include_identifiers and rows
                    else set()
                )
                identity = (
                    {
                        case.case_code: submission_store.latest_intake_data(session, case.case_code)
                        for case, _, _ in rows
                    }
                    if include_identifiers
                    else {}
                )
            if not rows:
                break
            for case, person, persons in rows:
                if case.case_code in withheld:
                    continue
                facts = (person.facts or {}) if person else {}
                line = [
                    case.case_code,
                    case.status,
                    case.province_code,
                    case.commune_code,
                    case.reception_date,
                    case.next_followup_due,
                    case.closed_on,
                    case.close_reason,
                    persons,
                    person.sex if person else None,
                    person.age_years if person else None,
                    facts.get("reception_channel"),
                    facts.get("purpose"),
                    facts.get("destination_country"),
                    case.updated_at.date() if case.updated_at else None,
                ]
                if include_identifiers:
                    data = identity.get(case.case_code) or {}
                    line += [get_path(data, name) for name in IDENTIFYING]
                writer.writerow([_text(value) for value in line])
                count += 1
            after = rows[-1][0].id
            if progress:
                progress(count)
        text.flush()
        text.detach()
    return count
