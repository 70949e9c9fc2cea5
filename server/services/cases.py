"""The case store: a projection of a case's decrypted submissions.

A case is rebuilt from all its current submissions (decrypted, not superseded, not rejected)
every time one of them changes, so a rejected or superseded submission takes its effect with it
and the case never drifts from the data. Only the submissions the unit rule accepts
(server/services/units.py) act on the case. Field names are those of the forms in forms/.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.orm import Session

from forms.admin_units import AdminUnits
from forms.admin_units import shipped as shipped_units
from forms.case_fields import FORM_KINDS, describe
from forms.instance import get_path, parse_date
from server.clock import utcnow
from server.services import consent, matching, units
from server.services.textsearch import fold
from server.services.units import Unit
from server.store import cases as case_store
from server.store import holdings as holding_store
from server.store import submissions as submission_store
from server.store.db import Store

# Identifying text that search may match; kept only in the case row, never exported.
SEARCHABLE = ("full_name", "other_names")


@dataclass(frozen=True)
class VisitRule:
    """When a case's next follow-up visit is due (FIELDCASE_FIRST_VISIT_DAYS,
    FIELDCASE_NEXT_VISIT_DAYS): the date the latest visit planned, else `next_after_days`
    after that visit, else `first_after_days` after reception."""

    first_after_days: int = 30
    next_after_days: int = 90

    def next_due(
        self,
        status: str,
        planned: date | None,
        last_visit: date | None,
        reception: date | None,
    ) -> date | None:
        """The next visit's due date; None for a closed case or a person found no victim."""
        if status in ("closed", "not_victim"):
            return None
        if planned:
            return planned
        if last_visit:
            return last_visit + timedelta(days=self.next_after_days)
        if reception:
            return reception + timedelta(days=self.first_after_days)
        return None


# The rule of this process's deployment: set from its settings when its Services are made
# (server/app_context.py) and by `fieldcase cases rebuild`; the projection reads it.
_visit_rule = VisitRule()


def use_visit_rule(rule: VisitRule) -> None:
    """Make `rule` the next-visit rule of every projection in this process."""
    global _visit_rule
    _visit_rule = rule


def visit_rule() -> VisitRule:
    """The next-visit rule projections use now."""
    return _visit_rule


VERIFICATION_STATUS = {
    "confirmed": "confirmed",
    "not_victim": "not_victim",
    "pending": "awaiting_verification",
    "transferred": "transferred",
}


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _summary(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """Analytic (non-identifying) values shown on the case timeline."""
    keys = {
        "intake": (
            "reception_channel",
            "person_type",
            "sex",
            "age_years",
            "purpose",
            "purpose_detail",
            "destination_country",
            "placement",
            "safety_risk",
        ),
        "verification": (
            "verif_outcome",
            "verif_start_date",
            "decision_date",
            "victim_doc_type",
            "purpose_confirmed",
            "purpose_detail_confirmed",
            "destination_confirmed",
            "criminal_case_opened",
        ),
        "plan": ("assess_type", "status_now", "plan_agreed"),
        "support": ("status_at_support",),
        "followup": (
            "visit_mode",
            "contact_made",
            "living_situation",
            "livelihood",
            "retrafficked",
            "children_in_school",
            "case_status",
        ),
    }.get(kind, ())
    summary = {key: value for key in keys if (value := get_path(data, key)) not in (None, "")}
    if kind == "support":
        items = get_path(data, "support_item") or []
        summary["supports"] = [
            item.get("support_type")
            for item in items
            if isinstance(item, dict) and item.get("support_type")
        ]
    return summary


def rebuild(session: Session, case_code: str) -> int | None:
    """Recompute a case from its current submissions; its id, or None when none is left.

    Pending ORM changes are flushed first, then the case is written with SQL statements on the
    session's connection: ORM objects of this case loaded earlier in the session are stale.
    """
    session.flush()
    return project_case(session.connection(), case_code)


def project_case(connection: Connection, case_code: str) -> int | None:
    """`rebuild` on a connection inside the caller's transaction."""
    return project_cases(connection, [case_code]).get(case_code)


@dataclass
class _Projection:
    """One case recomputed from its rows, before it is written."""

    values: dict[str, Any]
    events: list[dict[str, Any]]
    intake: dict[str, Any] | None


@dataclass
class CaseJudgement:
    """What the unit rule makes of a case code's current submissions."""

    effective: list[Row[Any]]  # the submissions that act on the case, in event order
    judged: dict[int, tuple[str, tuple[str | None, str | None]]]  # id -> (check, scope columns)
    holding: Unit | None  # the unit holding the case now
    new_period: tuple[Unit, int, Any] | None = None  # (unit, intake id, received_at)


def judge_case(
    rows: list[Row[Any]], periods: list[units.Period], admin_units: AdminUnits
) -> CaseJudgement:
    """Apply the unit rule to a case code's current submissions (server/services/units.py).

    First, when nobody holds the code yet, the first intake in the order submissions were
    recorded (id) that fits its collector's unit holds it: a date typed on a phone cannot take
    a case over. Then every submission is judged against the unit that held the case when it
    was received, so one that arrived before its intake counts once the intake is in.
    """
    periods = list(periods)
    new_period = None
    placed: dict[int, tuple[Unit | None, Unit | str, bool]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        acting = units.acting_unit(row.unit_code, admin_units)
        if row.unit_check in units.LASTING_FLAGS:
            placed[row.id] = (acting, row.unit_check, False)
            continue
        is_intake = FORM_KINDS.get(row.xml_form_id, ("other", ()))[0] == "intake"
        described = describe(row.xml_form_id, row.data or {})
        answered = units.Answered(
            described["province_code"], described["commune_code"], row.case_code
        )
        place = units.place(acting, answered, admin_units, intake=is_intake)
        placed[row.id] = (acting, place, is_intake)
        if not periods and is_intake and isinstance(place, Unit):
            periods = [units.Period(1, place, row.received_at)]
            new_period = (place, row.id, row.received_at)
    judged: dict[int, tuple[str, tuple[str | None, str | None]]] = {}
    for row in rows:
        acting, place, _intake = placed[row.id]
        if isinstance(place, str) or acting is None:
            judged[row.id] = (str(place), units.columns_of(acting))
            continue
        holding = units.holding_at(periods, row.received_at)
        if holding is None:
            judged[row.id] = (units.AWAITING_INTAKE, acting.columns)
        elif not acting.contains(holding):
            judged[row.id] = (units.FOREIGN_CASE, acting.columns)
        else:
            # Seen where the case is: inside the collector's unit, narrowed to the case's
            # commune, so the commune's supervisors see every submission of their case.
            judged[row.id] = (units.ACCEPTED, holding.columns)
    effective = [row for row in rows if judged[row.id][0] == units.ACCEPTED]
    current = periods[-1].unit if periods else None
    return CaseJudgement(effective, judged, current, new_period)


def project_cases(
    connection: Connection, case_codes: Iterable[str], match_secret: bytes | None = None
) -> dict[str, int]:
    """Rebuild several cases with a handful of statements (the ingest hot path projects every
    submission of a batch at once); the ids of the cases left, by code.

    Each case code's current submissions are judged by the unit rule first: only those that
    act inside their collector's unit make the case, which is held where its first fitting
    intake put it; the others keep their flag. With `match_secret`, the cases' match keys
    are recomputed too (`matching.record_keys`), from the rows already read and judged here
    instead of reading them again.
    """
    codes = sorted(set(case_codes))
    if not codes:
        return {}
    rows_by_case: dict[str, list[Row[Any]]] = {code: [] for code in codes}
    for row in submission_store.rows_of_cases(connection, codes):
        rows_by_case[row.case_code].append(row)  # in event order within each case
    histories = holding_store.histories(connection, codes)
    admin_units = shipped_units()
    judgements: dict[str, CaseJudgement] = {}
    changed: list[dict[str, Any]] = []
    new_periods: list[dict[str, Any]] = []
    for code in codes:
        periods = [
            units.Period(h.seq, units.Unit(h.province_code, h.commune_code), h.started_at)
            for h in histories.get(code, [])
        ]
        judgement = judge_case(rows_by_case[code], periods, admin_units)
        judgements[code] = judgement
        if judgement.new_period is not None:
            unit, intake_id, received_at = judgement.new_period
            new_periods.append(
                holding_store.period_row(
                    code, 1, unit.columns, received_at, "intake", submission_id=intake_id
                )
            )
        for row in rows_by_case[code]:
            check, (province, commune) = judgement.judged[row.id]
            if (row.unit_check, row.province_code, row.commune_code) != (check, province, commune):
                changed.append(
                    {
                        "b_id": row.id,
                        "unit_check": check,
                        "province_code": province,
                        "commune_code": commune,
                    }
                )
    # The batch's new cases start their holdings in one statement, not one each.
    holding_store.add_periods(connection, new_periods)
    submission_store.set_columns_many(connection, changed)
    if match_secret is not None:
        latest: dict[str, dict[str, Any]] = {}
        for judgement in judgements.values():
            for row in judgement.effective:  # accepted, in event order
                matching.latest_intake(latest, row)
        matching.record_latest_keys(connection, match_secret, codes, latest)
    existing = case_store.ids_by_code(connection, codes)
    case_store.clear_projections(connection, list(existing.values()))
    decisions: list[dict[str, Any]] = []
    for code, judgement in judgements.items():
        if judgement.effective and judgement.holding is not None:
            decisions += consent.projected_events(
                code, judgement.effective, consent.intake_of(judgement.effective)
            )
    standings = consent.replace_projected(connection, codes, decisions)
    projections = {
        code: _project(code, judgement.effective, judgement.holding)
        for code, judgement in judgements.items()
        if judgement.effective and judgement.holding is not None
    }
    # No follow-up is scheduled for a person received who refused (or withdrew) contact.
    # From the standings just written for every code of the batch (projections' among them).
    no_contact = consent.refusing_among(standings, consent.FOLLOWUP_CONTACT)
    for code, projection in projections.items():
        if (code, consent.MAIN_PERSON) in no_contact:
            projection.values["next_followup_due"] = None
    gone = [existing[code] for code in codes if code in existing and code not in projections]
    case_store.delete_cases(connection, gone)
    ids = case_store.write_many(
        connection,
        {code: existing.get(code) for code in projections},
        {code: projection.values for code, projection in projections.items()},
    )
    events: list[dict[str, Any]] = []
    persons: list[dict[str, Any]] = []
    for code, projection in projections.items():
        events += [{"case_id": ids[code], **event} for event in projection.events]
        if projection.intake is not None:
            persons += _persons(ids[code], projection.intake)
    case_store.add_projection(connection, events, persons)
    from server.services import referrals  # imports holdings, which imports this module

    referrals.outcomes_from_submissions(
        connection, {code: judgement.effective for code, judgement in judgements.items()}
    )
    return ids


REBUILD_BATCH = 500


def rebuild_all(store: Store) -> tuple[int, int]:
    """Judge every decrypted submission by the unit rule and project every case again, a batch
    a transaction (after an upgrade, or to check the store); (case codes, other submissions)."""
    codes_done = others_done = 0
    after = ""
    while True:
        with store.transaction() as connection:
            codes = submission_store.decrypted_case_codes(connection, after, REBUILD_BATCH)
            project_cases(connection, codes)
        if not codes:
            break
        codes_done += len(codes)
        after = codes[-1]
    after_id = 0
    while True:
        with store.transaction() as connection:
            ids = submission_store.decrypted_ids_without_case(connection, after_id, REBUILD_BATCH)
            judge_outside_cases(connection, ids)
        if not ids:
            break
        others_done += len(ids)
        after_id = ids[-1]
    return codes_done, others_done


def judge_outside_cases(connection: Connection, submission_ids: Iterable[int]) -> None:
    """Apply the unit rule to decrypted submissions that name no case (vt06 outreach, vt07
    screening): a unit they name must lie inside their collector's; they are seen in that
    unit (their collector's, narrowed to the commune they name when it lies inside)."""
    ids = sorted(set(submission_ids))
    if not ids:
        return
    admin_units = shipped_units()
    changed: list[dict[str, Any]] = []
    for row in submission_store.rows_to_judge(connection, ids):
        if row.case_code is not None or row.data is None:
            continue  # judged with its case, or not decrypted
        acting = units.acting_unit(row.unit_code, admin_units)
        described = describe(row.xml_form_id, row.data)
        names_a_unit = described["province_code"] or described["commune_code"]
        if acting is None and not names_a_unit:
            check, columns = units.ACCEPTED, (None, None)  # acts in no unit at all
        else:
            answered = units.Answered(described["province_code"], described["commune_code"], None)
            placed = units.place(acting, answered, admin_units, intake=False)
            if isinstance(placed, str):
                check, columns = placed, units.columns_of(acting)
            else:
                check, columns = units.ACCEPTED, placed.columns
        if (row.unit_check, row.province_code, row.commune_code) != (check, *columns):
            changed.append(
                {
                    "b_id": row.id,
                    "unit_check": check,
                    "province_code": columns[0],
                    "commune_code": columns[1],
                }
            )
    submission_store.set_columns_many(connection, changed)


def _project(case_code: str, rows: list[Row[Any]], holding: Unit) -> _Projection:
    """A case's columns, timeline and persons from its effective submissions, in event order;
    its unit is the unit holding it, never what a submission answered."""
    status = "awaiting_verification"
    reception: date | None = None
    last_visit: date | None = None
    planned: date | None = None
    closed_on: date | None = None
    close_reason: str | None = None
    search_parts = [case_code]
    latest_intake: dict[str, Any] | None = None
    events: list[dict[str, Any]] = []
    for row in rows:
        data = row.data or {}
        kind = FORM_KINDS.get(row.xml_form_id, ("other", ()))[0]
        events.append(
            {
                "submission_id": row.id,
                "kind": kind,
                "event_date": row.event_date,
                "summary": _summary(kind, data),
            }
        )
        if kind == "intake":
            # A person received twice keeps the first reception date; the persons come from
            # the latest intake (submissions are in event order).
            reception = reception or parse_date(get_path(data, "reception_date"))
            latest_intake = data
            search_parts += [v for k in SEARCHABLE if (v := _text(get_path(data, k)))]
        elif kind == "verification":
            outcome = _text(get_path(data, "verif_outcome"))
            if outcome in VERIFICATION_STATUS and status not in ("closed",):
                status = VERIFICATION_STATUS[outcome]
        elif kind == "followup":
            visit = row.event_date
            if visit and (last_visit is None or visit >= last_visit):
                # The latest visit says when the next one is planned, if it does.
                planned = parse_date(get_path(data, "next_visit_date"))
            last_visit = max(filter(None, (last_visit, visit)), default=None)
            case_status = _text(get_path(data, "case_status")) or ""
            if case_status.startswith("closed_"):
                status, closed_on = "closed", visit
                close_reason = case_status.removeprefix("closed_")
            elif case_status in ("active", "follow_up"):
                status, closed_on, close_reason = "follow_up", None, None

    next_due = visit_rule().next_due(status, planned, last_visit, reception)
    values = {
        "case_code": case_code,
        "status": status,
        "reception_date": reception,
        "province_code": holding.province,
        "commune_code": holding.commune,
        "closed_on": closed_on,
        "close_reason": close_reason,
        "next_followup_due": next_due,
        "search_text": fold(" ".join(search_parts)),
        "updated_at": utcnow(),
    }
    return _Projection(values, events, latest_intake)


def _persons(case_id: int, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The case's persons from its latest intake: the person received, then each minor."""
    persons = [
        {
            "case_id": case_id,
            "person_index": 0,
            "person_type": _text(get_path(data, "person_type")),
            "sex": _text(get_path(data, "sex")),
            "age_years": _int(get_path(data, "age_years")),
            "facts": {
                key: value
                for key in (
                    "age_band_vn",
                    "nationality",
                    "stateless_resident",
                    "purpose",
                    "purpose_detail",
                    "destination_country",
                    "reception_channel",
                    # The anonymous core (asked with or without consent); res_province moved
                    # there from the identity group in 2026, same name, so both are read.
                    "res_province",
                    "ethnic_minority",
                    "disability",
                    "ethnicity",
                )
                if (value := get_path(data, key)) not in (None, "")
            },
        }
    ]
    minors = get_path(data, "minors") or []
    for position, minor in enumerate(m for m in minors if isinstance(m, dict)):
        persons.append(
            {
                "case_id": case_id,
                "person_index": _int(minor.get("minor_index")) or position + 1,
                "person_type": "minor_accompanying",
                "sex": _text(minor.get("minor_sex")),
                "age_years": _int(minor.get("minor_age_years")),
                "facts": {"relation": minor.get("minor_relation")},
            }
        )
    return persons


def count_held_back(session: Session) -> int:
    """How many submissions the unit rule holds back (any of its flags)."""
    return submission_store.count_flagged(session, units.FLAGS)
