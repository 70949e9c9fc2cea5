"""Which collectors (field workers' phones) follow up which case, and each phone's case list.

Not to be confused with `assignments.py` (the *forms* a collector may use). A supervisor
assigns a case to one or more collectors of the unit holding it, from the case page or in bulk
from the case list; every change is written to the audit log. A case leaves a collector when
the collector is revoked (`collector_revoked`, called by collectors.revoke), when the case is
transferred to another unit (`case_transferred`, called by holdings.transfer), and when it was
closed longer ago than FIELDCASE_CASELIST_CLOSED_GRACE_DAYS: the list stops showing it at once,
and `drop_closed` (`fieldcase cases drop-closed`) removes the assignment rows later.

The list itself (`case_list_rows`, the rows of `cases.csv`) is made from the store when a phone
asks for its manifest or the file and the list's fingerprint (its assignments, their cases'
latest projection, their consent events, the day) changed since it was made last
(`cases_file`), so it is what the server knows at that moment: a case added, assigned, visited
or closed changes its content and therefore its MD5 with no step in between. It holds only
what the phone needs to find the case: the case code, its commune, its status and visit dates.

Consent (server/services/consent.py): a case whose person received does not consent to
follow-up contact now (refused, withdrew, or intake consent withdrawn; silence is no consent)
is not listed at all, even if assigned: nobody is sent to a person who said no. Nor is a case
whose person's identifying data was erased (`subject.erase` also takes it from its
collectors). The label is the case code, commune and due date; the person's initials are added
only when the deployment allows it (FIELDCASE_CASELIST_INITIALS) *and* that person consents to
follow-up contact.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from forms.admin_units import DEFAULT_PATH as ADMIN_UNITS_PATH
from forms.admin_units import shipped as shipped_units
from forms.instance import get_path
from server import errors
from server.clock import utcnow
from server.services import consent, units
from server.services.auth import CurrentUser
from server.services.textsearch import fold
from server.store import audit
from server.store import case_assignments as assignment_store
from server.store import cases as case_store
from server.store import collectors as collector_store
from server.store import submissions as submission_store
from server.store.models import Case, Collector

CASES_FILE = "cases.csv"
CASES_COLUMNS = ("name", "label", "next_visit_due", "last_visit", "status", "commune")
MAX_BULK = 500


@dataclass(frozen=True)
class ListRow:
    """One row of a phone's `cases.csv`."""

    case_code: str
    label: str
    next_visit_due: str
    last_visit: str
    status: str
    commune: str

    def as_tuple(self) -> tuple[str, ...]:
        """The row in the order of CASES_COLUMNS."""
        return (
            self.case_code,
            self.label,
            self.next_visit_due,
            self.last_visit,
            self.status,
            self.commune,
        )


@lru_cache(maxsize=1)
def commune_names() -> dict[str, str]:
    """Commune code -> its name, from the administrative units list the forms attach."""
    with ADMIN_UNITS_PATH.open(encoding="utf-8", newline="") as handle:
        return {
            row["name"]: row["label"]
            for row in csv.DictReader(handle)
            if row.get("level") == "commune"
        }


def initials_of(full_name: str | None) -> str:
    """The initials of a name, without diacritics ("Nguyễn Thị Lan" -> "NTL"); "" for none."""
    return "".join(word[0] for word in fold(full_name or "").upper().split() if word[0].isalnum())


def label_of(case_code: str, commune: str | None, due: date | None, initials: str = "") -> str:
    """The display text of a list row: case code (with the initials, when allowed), commune
    name, next visit due."""
    parts = [f"{case_code} {initials}" if initials else case_code]
    if commune:
        parts.append(commune_names().get(commune, commune))
    if due is not None:
        parts.append(f"hạn/due {due.isoformat()}")
    return " · ".join(parts)


def case_list_rows(
    connection: Connection,
    collector_id: int,
    unit_code: str | None,
    grace_days: int,
    today: date | None = None,
    *,
    with_initials: bool = False,
) -> list[ListRow]:
    """The rows of this collector's `cases.csv`: the open cases assigned to it inside its unit,
    and those closed less than `grace_days` ago (so the phone sees them closed, then they go),
    whose person consents to follow-up contact. `with_initials` (FIELDCASE_CASELIST_INITIALS)
    adds the person's initials to the label."""
    acting = units.acting_unit(unit_code, shipped_units())
    if acting is None or acting.province is None:
        return []
    today = today or utcnow().date()
    # Consent to follow-up contact and erasure are conditions of the query itself.
    rows = assignment_store.list_rows(
        connection,
        collector_id,
        acting.columns,
        today - timedelta(days=grace_days),
        consent.FOLLOWUP_CONTACT,
    )
    initials = _initials(connection, [r.case_code for r in rows]) if with_initials else {}
    return [
        ListRow(
            row.case_code,
            label_of(
                row.case_code,
                row.commune_code,
                row.next_followup_due,
                initials.get(row.case_code, ""),
            ),
            row.next_followup_due.isoformat() if row.next_followup_due else "",
            row.last_visit.isoformat() if row.last_visit else "",
            row.status,
            row.commune_code or "",
        )
        for row in rows
    ]


def _initials(connection: Connection, case_codes: list[str]) -> dict[str, str]:
    """The initials of each case's person received, from its latest intake that acts on the
    case, for the cases whose person consents to follow-up contact (checked again here, so
    no caller can add a name without it)."""
    allowed = consent.cases_allowing(connection, consent.FOLLOWUP_CONTACT, case_codes)
    names: dict[str, str] = {}
    if not allowed:
        return names
    for row in submission_store.rows_of_cases(connection, sorted(allowed)):
        if row.xml_form_id == "vt01_intake" and row.unit_check == units.ACCEPTED:
            name = get_path(row.data or {}, "full_name")
            if isinstance(name, str) and name.strip():
                names[row.case_code] = initials_of(name)  # the latest (rows in event order)
    return names


def cases_csv(rows: Sequence[ListRow]) -> bytes:
    """`cases.csv` as ODK Collect reads it: UTF-8 without a byte-order mark (Collect would read
    it into the first column's name), a header row, then one row per case."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CASES_COLUMNS)
    writer.writerows(row.as_tuple() for row in rows)
    return out.getvalue().encode("utf-8")


# The lists made last, per database and collector, with what they were made of: the manifest
# and the download of one update check (and every check while nothing changed) make the list
# once. A change of any input changes the fingerprint, so a stale list is never served.
_MADE: OrderedDict[tuple[str, int], tuple[tuple[object, ...], bytes]] = OrderedDict()
_MADE_LOCK = threading.Lock()
MADE_KEPT = 256


def cases_file(
    connection: Connection,
    collector_id: int,
    unit_code: str | None,
    grace_days: int,
    *,
    with_initials: bool = False,
) -> bytes:
    """This collector's `cases.csv` now: made again only when its fingerprint (its
    assignments, their cases, their consent, the day, the settings) changed."""
    today = utcnow().date()
    key = (str(connection.engine.url), collector_id)
    made_of = (
        unit_code,
        today,
        grace_days,
        with_initials,
        assignment_store.fingerprint(connection, collector_id),
    )
    with _MADE_LOCK:
        found = _MADE.get(key)
        if found is not None and found[0] == made_of:
            _MADE.move_to_end(key)
            return found[1]
    content = cases_csv(
        case_list_rows(
            connection, collector_id, unit_code, grace_days, today, with_initials=with_initials
        )
    )
    with _MADE_LOCK:
        _MADE[key] = (made_of, content)
        _MADE.move_to_end(key)
        while len(_MADE) > MADE_KEPT:
            _MADE.popitem(last=False)
    return content


# Assigning ---------------------------------------------------------------------------------


def _case_in_scope(session: Session, user: CurrentUser, case_id: int) -> Case:
    case = case_store.in_scope(session, user.scope, case_id)
    if case is None:
        raise errors.not_found("The case")
    return case


def _holding(case: Case) -> units.Unit:
    return units.Unit(case.province_code, case.commune_code)


def may_follow(collector: Collector, case: Case) -> bool:
    """True when the collector is active and its unit contains the unit holding the case."""
    if collector.revoked_at is not None:
        return False
    acting = units.acting_unit(collector.unit_code, shipped_units())
    return acting is not None and acting.contains(_holding(case))


def eligible_collectors(session: Session, case: Case) -> list[Collector]:
    """The collectors a case may be assigned to: active, of a unit containing its holding."""
    return [c for c in collector_store.all_collectors(session) if may_follow(c, case)]


def collectors_in_scope(session: Session, user: CurrentUser) -> list[Collector]:
    """The active collectors of a unit inside the user's units (the case list's choice)."""
    found = []
    for collector in collector_store.all_collectors(session):
        acting = units.acting_unit(collector.unit_code, shipped_units())
        if collector.revoked_at is not None or acting is None or acting.province is None:
            continue
        if user.scope.allows(acting.province, acting.commune):
            found.append(collector)
    return found


def collectors_of(session: Session, case_code: str) -> list[Collector]:
    """The collectors a case is assigned to, by name."""
    ids = assignment_store.of_cases(session.connection(), [case_code]).get(case_code, set())
    found = [c for c in (collector_store.by_id(session, i) for i in sorted(ids)) if c]
    return sorted(found, key=lambda c: c.name)


def _collectors(session: Session, collector_ids: Sequence[int]) -> list[Collector]:
    found = []
    for collector_id in sorted(set(collector_ids)):
        collector = collector_store.by_id(session, collector_id)
        if collector is None:
            raise errors.validation_failed("Choose collectors from the list.")
        found.append(collector)
    return found


def _check_all(collectors: Sequence[Collector], cases: Sequence[Case]) -> None:
    for case in cases:
        for collector in collectors:
            if not may_follow(collector, case):
                raise errors.validation_failed(
                    "A case can be assigned only to active collectors of the unit holding it."
                )


def assign(
    session: Session, user: CurrentUser, case_ids: Sequence[int], collector_ids: Sequence[int]
) -> int:
    """Assign each case to each collector (the case page: one case, several collectors; the
    case list: several cases, one collector). All or nothing: a case outside the user's units
    is 404, a collector not of the unit holding a case is 400, and nothing changes. Audited;
    the number of new assignments."""
    if len(set(case_ids)) > MAX_BULK:
        raise errors.validation_failed(
            "At most %(count)d cases at once.", message_args={"count": MAX_BULK}
        )
    cases = [_case_in_scope(session, user, case_id) for case_id in sorted(set(case_ids))]
    if not cases or not collector_ids:
        raise errors.validation_failed("Choose at least one case and one collector.")
    collectors = _collectors(session, collector_ids)
    _check_all(collectors, cases)
    connection = session.connection()
    existing = assignment_store.of_cases(connection, [case.case_code for case in cases])
    pairs = [
        (case.case_code, collector.id)
        for case in cases
        for collector in collectors
        if collector.id not in existing.get(case.case_code, set())
    ]
    assignment_store.add(connection, pairs, utcnow(), user.username)
    for case in cases:
        added = sorted(cid for code, cid in pairs if code == case.case_code)
        if added:
            audit.append(
                session,
                user.username,
                "case.assign",
                f"case:{case.id}",
                {"case_code": case.case_code, "collectors": added},
            )
    return len(pairs)


def unassign(
    session: Session, user: CurrentUser, case_id: int, collector_ids: Sequence[int]
) -> int:
    """Take a case from these collectors; audited; how many assignments went."""
    case = _case_in_scope(session, user, case_id)
    removed = assignment_store.remove(
        session.connection(), case_codes=[case.case_code], collector_ids=list(collector_ids)
    )
    if removed:
        audit.append(
            session,
            user.username,
            "case.unassign",
            f"case:{case.id}",
            {
                "case_code": case.case_code,
                "collectors": sorted(c for _code, c in removed),
                "why": "supervisor",
            },
        )
    return len(removed)


def collector_revoked(session: Session, collector_id: int, actor: str) -> None:
    """A revoked collector follows no case any more (called by collectors.revoke)."""
    removed = assignment_store.remove(session.connection(), collector_ids=[collector_id])
    if removed:
        audit.append(
            session,
            actor,
            "case.unassign",
            f"collector:{collector_id}",
            {"case_codes": sorted(code for code, _c in removed), "why": "collector revoked"},
        )


def _case_leaves_every_phone(session: Session, case_code: str, actor: str, why: str) -> None:
    removed = assignment_store.remove(session.connection(), case_codes=[case_code])
    if removed:
        audit.append(
            session,
            actor,
            "case.unassign",
            None,
            {
                "case_code": case_code,
                "collectors": sorted(c for _code, c in removed),
                "why": why,
            },
        )


def case_transferred(session: Session, case_code: str, actor: str) -> None:
    """A transferred case leaves every collector of the unit it left (holdings.transfer)."""
    _case_leaves_every_phone(session, case_code, actor, "case transferred")


def case_erased(session: Session, case_code: str, actor: str) -> None:
    """A case whose person's identifying data was erased leaves every phone (subject.erase)."""
    _case_leaves_every_phone(session, case_code, actor, "case erased")


def drop_closed(session: Session, grace_days: int, actor: str, today: date | None = None) -> int:
    """Remove the assignments of cases closed more than `grace_days` ago (and of persons found
    not to be victims); audited; how many assignments went. The lists already leave these
    cases out; this keeps the table to what is followed."""
    today = today or utcnow().date()
    connection = session.connection()
    codes = assignment_store.closed_before(connection, today - timedelta(days=grace_days))
    removed = assignment_store.remove(connection, case_codes=codes)
    if removed:
        audit.append(
            session,
            actor,
            "case.unassign",
            None,
            {"case_codes": sorted({code for code, _c in removed}), "why": "case closed"},
        )
    return len(removed)


# Overdue visits ----------------------------------------------------------------------------


@dataclass
class OverdueCase:
    """An open case whose next visit is past due, with who follows it."""

    case_id: int
    case_code: str
    province_code: str | None
    commune_code: str | None
    due: date
    days_late: int
    collectors: list[str]


@dataclass
class OverdueGroup:
    """The overdue cases of one collector (or of nobody: `collector` None)."""

    collector: str | None
    cases: list[OverdueCase]


@dataclass
class OverdueVisits:
    """The overdue visits page: the groups, how many cases they hold, and whether cases due
    later were left out (`cut`: the page says so and asks to narrow by unit)."""

    groups: list[OverdueGroup]
    cases: int
    cut: bool


OVERDUE_LIMIT = 2000  # rows: one per case and collector following it


def overdue_by_collector(
    session: Session,
    user: CurrentUser,
    unit_code: str | None,
    today: date | None = None,
    limit: int | None = None,
) -> OverdueVisits:
    """Overdue cases in the user's units (narrowed to `unit_code` when given), grouped by the
    collector following them, the cases of nobody last; soonest due first in each group. At
    most `limit` rows (case and collector) are read; when more are due, the cases due soonest
    are shown whole and the page is marked cut, never silently."""
    today = today or utcnow().date()
    limit = limit or OVERDUE_LIMIT
    rows = list(
        assignment_store.overdue(session.connection(), user.scope, unit_code, today, limit + 1)
    )
    cut = len(rows) > limit
    if cut:
        # the last case read may lack some of its collectors: leave it out whole
        last = rows[limit].case_id
        rows = [row for row in rows[:limit] if row.case_id != last]
    cases: dict[int, OverdueCase] = {}
    groups: dict[str | None, list[int]] = {}
    for row in rows:
        case = cases.get(row.case_id)
        if case is None:
            case = cases[row.case_id] = OverdueCase(
                row.case_id,
                row.case_code,
                row.province_code,
                row.commune_code,
                row.next_followup_due,
                (today - row.next_followup_due).days,
                [],
            )
        if row.collector_name is not None:
            case.collectors.append(row.collector_name)
        members = groups.setdefault(row.collector_name, [])
        if row.case_id not in members:
            members.append(row.case_id)
    named = sorted(name for name in groups if name is not None)
    ordered: list[str | None] = [*named, *([None] if None in groups else [])]
    return OverdueVisits(
        [OverdueGroup(name, [cases[i] for i in groups[name]]) for name in ordered],
        len(cases),
        cut,
    )
