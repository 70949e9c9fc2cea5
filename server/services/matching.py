"""Counting a person once: a keyed match key per case, and links a supervisor makes.

A person received twice (at a border province, then at home) gets two case codes. Each case's
latest accepted intake gives up to two match keys: HMAC-SHA256, keyed with the installation's
match secret, over the ID document number, and over the name and date of birth, both
normalised (Unicode NFD, combining marks removed, đ -> d, lower case, spaces collapsed), so
"Lò Thị Mai" and "LO  THI MAI" born the same day match. The key cannot be reversed without the
secret and is only ever compared: no page, log line or export shows it. The secret is
FIELDCASE_MATCH_KEY (shared by the cooperating servers of one installation), else `match_key`
in the data directory, made once.

At intake the case page warns that the same person may have an open case in another unit,
without saying which; a supervisor of the case's unit may then link the two as one person, and
the reports count linked cases once (`counted_elsewhere`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from forms.case_fields import FORM_KINDS
from forms.instance import get_path, parse_date
from server import errors
from server.config import Config
from server.datadir import ensure_data_dir, write_private_file
from server.services import units
from server.services.auth import CurrentUser
from server.store import audit
from server.store import cases as case_store
from server.store import matching as matching_store
from server.store import submissions as submission_store
from server.store.db import Store

MATCH_KEY_FILE = "match_key"
ID_NUMBER = "id_number"
NAME_DOB = "name_dob"


def match_secret(config: Config) -> bytes:
    """The installation's match secret: from the environment, else kept in the data dir."""
    if config.match_key:
        return config.match_key.encode("utf-8")
    path = config.data_dir / MATCH_KEY_FILE
    if not path.exists():
        ensure_data_dir(config)
        with contextlib.suppress(FileExistsError):  # another process made it first
            write_private_file(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def normalise_name(text: str) -> str:
    """A name as compared: no diacritics (đ is d), lower case, single spaces."""
    text = text.replace("đ", "d").replace("Đ", "D")
    stripped = "".join(
        char for char in unicodedata.normalize("NFD", text) if not unicodedata.combining(char)
    )
    return " ".join(stripped.lower().split())


def normalise_id(text: str) -> str:
    """An ID document number as compared: letters and digits only, upper case."""
    return "".join(char for char in text if char.isalnum()).upper()


def _hmac(secret: bytes, kind: str, value: str) -> str:
    return hmac.new(secret, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()


def keys_of(data: dict[str, Any], secret: bytes) -> dict[str, str]:
    """The match keys an intake's answers give: by ID number, by name and date of birth."""
    found: dict[str, str] = {}
    id_number = get_path(data, "id_doc_number")
    if isinstance(id_number, str) and len(normalise_id(id_number)) >= 6:
        found[ID_NUMBER] = _hmac(secret, ID_NUMBER, normalise_id(id_number))
    name = get_path(data, "full_name")
    born = parse_date(get_path(data, "dob"))
    if isinstance(name, str) and normalise_name(name) and born is not None:
        found[NAME_DOB] = _hmac(secret, NAME_DOB, f"{normalise_name(name)}|{born.isoformat()}")
    return found


def record_keys(connection: Connection, secret: bytes, case_codes: Iterable[str]) -> None:
    """Recompute the match keys of these cases from their latest accepted intake."""
    codes = sorted(set(case_codes))
    if not codes:
        return
    latest: dict[str, dict[str, Any]] = {}
    for row in submission_store.rows_of_cases(connection, codes):  # in event order
        if row.unit_check == units.ACCEPTED:
            latest_intake(latest, row)
    record_latest_keys(connection, secret, codes, latest)


def latest_intake(latest: dict[str, dict[str, Any]], row: Any) -> None:
    """Keep `row`'s data as its case's latest intake when it is an intake with data (rows
    come in event order; the caller passes only those the unit rule accepted)."""
    kind = FORM_KINDS.get(row.xml_form_id, ("other", ()))[0]
    if kind == "intake" and row.data:
        latest[row.case_code] = row.data


def record_latest_keys(
    connection: Connection, secret: bytes, codes: list[str], latest: dict[str, dict[str, Any]]
) -> None:
    """Replace the match keys of these cases by those of their latest accepted intake
    (`latest`, by case code; a case missing from it has none)."""
    rows = [
        {"case_code": code, "kind": kind, "match_key": key}
        for code, data in latest.items()
        for kind, key in keys_of(data, secret).items()
    ]
    matching_store.replace_keys(connection, codes, rows)


def _open_matches_elsewhere(session: Session, case_code: str) -> list[str]:
    """Case codes sharing a match key with this case, open, and held by another unit."""
    case = case_store.by_code(session, case_code)
    if case is None:
        return []
    linked = matching_store.linked_codes(session, case_code)
    found = []
    for other in matching_store.sharing_a_key(session, case_code):
        if other in linked:
            continue
        held = case_store.by_code(session, other)
        if held is None or held.status in ("closed", "not_victim"):
            continue
        if (held.province_code, held.commune_code) != (case.province_code, case.commune_code):
            found.append(other)
    return found


def possible_duplicate(session: Session, case_code: str) -> bool:
    """True when the same person may have an open case in another unit (not said which)."""
    return bool(_open_matches_elsewhere(session, case_code))


def link_same_person(session: Session, user: CurrentUser, case_id: int) -> int:
    """A supervisor of the case's unit says it is the same person as the open case(s) the
    match key found elsewhere; those links make reports count the person once. Audited
    with case ids only. Returns how many cases were linked."""
    if user.role not in ("admin", "supervisor"):
        raise errors.forbidden()
    case = case_store.in_scope(session, user.scope, case_id)
    if case is None:
        raise errors.not_found("The case")
    others = _open_matches_elsewhere(session, case.case_code)
    if not others:
        raise errors.validation_failed("No open case of another unit matches this person.")
    for other in others:
        matching_store.add_link(session, case.case_code, other, user.username)
    audit.append(
        session, user.username, "person.link", f"case:{case.id}", {"linked_cases": len(others)}
    )
    return len(others)


def counted_elsewhere(session: Session) -> set[str]:
    """Case codes the reports leave out because a linked case of the same person counts:
    of each group of linked cases, the one received first (lowest id) counts."""
    return matching_store.later_in_link_groups(session)


def record_all(store: Store, secret: bytes, batch: int = 500) -> int:
    """Recompute every case's match keys (after `cases rebuild`, or a new match secret)."""
    done, after = 0, ""
    while True:
        with store.transaction() as connection:
            codes = submission_store.decrypted_case_codes(connection, after, batch)
            record_keys(connection, secret, codes)
        if not codes:
            return done
        done += len(codes)
        after = codes[-1]
