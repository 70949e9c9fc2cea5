"""Identifying fields: P3 in the forms' data dictionary (domain/FORMS.md), never exported.

Which fields they are and where a submission's data holds them; who may see them is decided
in server/services/identifying.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# F1 identity group and minors, F2 document number, F7 contact (domain/FORMS.md, "P3").
P3_FIELDS = frozenset(
    {
        "full_name",
        "other_names",
        "dob",
        "id_doc_number",
        "res_address_detail",
        "phone",
        "relative_contact",
        "minor_name",
        "minor_dob",
        "doc_number",
        "contact_name",
        "contact_phone",
    }
)


# Free-text answers of the forms that are not P3 but may still name someone whatever the
# form asks ("no names"): erased with the P3 fields when a person's data is erased. Every
# `text` question of forms/xlsforms but the case code (a test keeps the list complete).
FREE_TEXT_FIELDS = frozenset(
    {"border_gate", "destination_other", "note_nonid", "plan_note_nonid", "voc_course"}
)


def identifying_fields(form_fields: Iterable[Mapping[str, Any]] | None = None) -> frozenset[str]:
    """P3 field names: the fixed list plus any the form compiler marked P3."""
    extra = {
        str(f.get("name"))
        for f in form_fields or ()
        if str(f.get("pii") or f.get("sensitivity") or "").upper() == "P3" and f.get("name")
    }
    return P3_FIELDS | extra


def is_identifying(path: str, fields: frozenset[str] = P3_FIELDS) -> bool:
    """True when the last name of a data path is an identifying field."""
    return path.rsplit("/", 1)[-1] in fields


def collect_identifying(
    data: Mapping[str, Any], fields: frozenset[str] = P3_FIELDS, prefix: str = ""
) -> list[tuple[str, str]]:
    """(path, value) of every non-empty identifying value in a submission's data."""
    found: list[tuple[str, str]] = []
    for key, value in data.items():
        path = f"{prefix}/{key}" if prefix else key
        if isinstance(value, Mapping):
            found += collect_identifying(value, fields, path)
        elif isinstance(value, list):
            for position, item in enumerate(value, start=1):
                if isinstance(item, Mapping):
                    found += collect_identifying(item, fields, f"{path}[{position}]")
        elif key in fields and isinstance(value, str) and value.strip():
            found.append((path, value))
    return found
