"""The de-identified extract (A1): one row per main person, in CTDC / HTCDS field names,
k-anonymised before it leaves.

Quasi-identifiers are year of registration, gender, age band, citizenship and country of
exploitation. Groups smaller than k are first generalised, one step at a time for the whole
extract (broad age groups, then rarer countries as "OTH", then citizenship as Viet Nam or
other); records still in groups smaller than k are then dropped. The report says how many
records were generalised and dropped. No case code, name or date leaves this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exports.csvsafe import csv_text
from exports.files import atomic_output
from exports.periods import Period
from forms.consent import DATA_USE
from forms.instance import get_path
from server.store import cases as case_store
from server.store import consent as consent_store
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.scope import UnitScope

ALPHA3 = {
    "vn": "VNM",
    "cn": "CHN",
    "kh": "KHM",
    "la": "LAO",
    "mm": "MMR",
    "th": "THA",
    "my": "MYS",
    "id": "IDN",
    "ph": "PHL",
    "kr": "KOR",
    "tw": "TWN",
    "jp": "JPN",
    "ae": "ARE",
    "sa": "SAU",
    "ru": "RUS",
    "gb": "GBR",
    "de": "DEU",
    "fr": "FRA",
}
AGE_BROAD = (
    (8, "0--8"),
    (17, "9--17"),
    (20, "18--20"),
    (23, "21--23"),
    (26, "24--26"),
    (29, "27--29"),
    (38, "30--38"),
    (47, "39--47"),
)
QUASI = ("yearOfRegistration", "gender", "ageBroad", "citizenship", "CountryOfExploitation")
KEEP_COUNTRIES = {"VNM", "CHN", "KHM", "LAO"}
MEANS = {
    "meansDebtBondageEarnings": ("debt_bondage", "takes_earnings"),
    "meansThreats": ("threats", "threat_law_enforcement"),
    "meansAbusePsyPhySex": ("physical_abuse", "sexual_abuse", "psychological_abuse"),
    "meansFalsePromises": ("false_promises",),
    "meansDrugsAlcohol": ("psychoactive_substances",),
    "meansDenyBasicNeeds": ("restricts_movement", "withholds_necessities", "restricts_medical"),
    "meansExcessiveWorkHours": ("excessive_hours",),
    "meansWithholdDocs": ("withholds_documents",),
}
RELATIONS = {
    "recruiterRelationIntimatePartner": ("intimate_partner",),
    "recruiterRelationFamily": ("family",),
    "recruiterRelationFriend": ("friend",),
    "recruiterRelationOther": (
        "neighbour_acquaintance",
        "broker_employer",
        "online_contact",
        "stranger",
    ),
}
# forced_labour is the law's purpose; the other two are codes retired in 2026 (old intakes).
LABOUR = ("forced_labour", "labour_dispatch_abroad", "forced_criminality")
# Sub-types (purpose_detail, since 2026) that CTDC counts as forced labour.
LABOUR_DETAIL = ("forced_criminality",)
COLUMNS = (*QUASI, "isForcedLabour", "isSexualExploit", "isOtherExploit", *MEANS, *RELATIONS)


@dataclass
class ExtractReport:
    """What anonymisation did."""

    k: int
    records_in: int
    generalised: int = 0
    dropped: int = 0
    steps: list[str] = field(default_factory=list)
    # Persons received in the period left out before anonymisation: no current consent to
    # non-identifying data use (forms/consent.py DATA_USE; silence is not consent).
    without_consent: int = 0

    @property
    def records_out(self) -> int:
        """Records in the extract."""
        return self.records_in - self.dropped


def age_broad(age: int | None) -> str:
    """CTDC's broad age band."""
    if age is None:
        return ""
    for limit, band in AGE_BROAD:
        if age <= limit:
            return band
    return "48+"


def _flag(values: set[str], codes: tuple[str, ...]) -> int:
    return int(bool(values & set(codes)))


def person_rows(
    store: Store, scope: UnitScope, period: Period, left_out: list[int] | None = None
) -> list[dict[str, Any]]:
    """One row per main person received in the period who consents now to non-identifying
    data use outside the official reporting line, before anonymisation; the number of the
    others is appended to `left_out` when given."""
    rows = []
    refused = 0
    with store.reader() as session:
        consenting = consent_store.persons_allowing(session.connection(), DATA_USE)
        persons = case_store.received_persons(session, scope, period.start, period.end)
        for case_id, index, sex, age, facts in persons:
            if index != 0:
                continue
            case = case_store.by_id(session, case_id)
            if case is None or (case.case_code, index) not in consenting:
                refused += 1
                continue
            data = submission_store.latest_intake_data(session, case.case_code) if case else None
            data = data or {}
            facts = facts or {}
            purposes = set(str(facts.get("purpose") or "").split())
            details = set(str(facts.get("purpose_detail") or "").split())
            means = set(str(get_path(data, "means_control") or "").split())
            relations = set(str(get_path(data, "recruiter_relation") or "").split())
            row: dict[str, Any] = {
                "yearOfRegistration": case.reception_date.year
                if case and case.reception_date
                else "",
                "gender": {"female": "Female", "male": "Male"}.get(sex or "", "Unknown"),
                "ageBroad": age_broad(age),
                "citizenship": ALPHA3.get(str(facts.get("nationality")), ""),
                "CountryOfExploitation": ALPHA3.get(str(facts.get("destination_country")), ""),
                "isForcedLabour": _flag(purposes, LABOUR) or _flag(details, LABOUR_DETAIL),
                "isSexualExploit": _flag(purposes, ("sexual_exploitation",)),
                "isOtherExploit": int(
                    bool(purposes - set(LABOUR) - {"sexual_exploitation", "unknown"})
                ),
            }
            row.update({name: _flag(means, codes) for name, codes in MEANS.items()})
            row.update({name: _flag(relations, codes) for name, codes in RELATIONS.items()})
            rows.append(row)
    if left_out is not None:
        left_out.append(refused)
    return rows


def _broad_age(value: str) -> str:
    if not value:
        return value
    return "0--17" if value in ("0--8", "9--17") else "18+"


GENERALISATIONS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("ageBroad", "age bands merged into 0--17 and 18+", _broad_age),
    (
        "CountryOfExploitation",
        "countries other than VNM, CHN, KHM, LAO shown as OTH",
        lambda v: v if not v or v in KEEP_COUNTRIES else "OTH",
    ),
    ("citizenship", "citizenship shown as VNM or OTH", lambda v: v if v in ("", "VNM") else "OTH"),
)


def anonymise(
    rows: list[dict[str, Any]], k: int = 11
) -> tuple[list[dict[str, Any]], ExtractReport]:
    """Rows in which every quasi-identifier combination occurs at least `k` times."""
    report = ExtractReport(k=k, records_in=len(rows))
    rows = [dict(row) for row in rows]
    changed: set[int] = set()

    def small_groups() -> set[tuple[Any, ...]]:
        counts = Counter(tuple(row[q] for q in QUASI) for row in rows)
        return {key for key, n in counts.items() if n < k}

    for column, step, generalise in GENERALISATIONS:
        if not small_groups():
            break
        for position, row in enumerate(rows):
            new = generalise(row[column])
            if new != row[column]:
                row[column] = new
                changed.add(position)
        report.steps.append(step)
    small = small_groups()
    kept = [row for row in rows if tuple(row[q] for q in QUASI) not in small]
    report.dropped = len(rows) - len(kept)
    report.generalised = len(changed)
    return kept, report


def write_extract(
    store: Store, path: Path, period: Period, *, scope: UnitScope, k: int = 11
) -> ExtractReport:
    """Build, anonymise and write the extract (safe CSV, atomically)."""
    left_out: list[int] = []
    rows, report = anonymise(person_rows(store, scope, period, left_out), k)
    report.without_consent = sum(left_out)
    lines = [list(COLUMNS), *[[row[column] for column in COLUMNS] for row in rows]]
    with atomic_output(path) as handle:
        handle.write(csv_text(lines).encode("utf-8"))
    return report
