"""The statutory report tables for a period (docs/reports.md says what each one counts).

Counts only: no case code, no name, nothing that identifies a person leaves this module.

- A person (main person or accompanying minor) is counted once per case per period, however
  often received, by the unit that received the case: its first holding, whatever unit holds it
  now (a transferred case is counted once, where it was received).
- Status comes from verification (vt02 `verif_outcome`), the latest decision dated up to the
  end of the period: `confirmed` is an identified victim, `not_victim` not a victim, anything
  else (none yet, `pending`, `transferred`) being identified. Purpose (T2) and country (T3)
  count identified victims and persons being identified only, with the verification's
  confirmed values where it has them, else the intake's.
- An accompanying minor is counted in the minors column of T1 and T5, not in the status
  columns (those are of the main persons).

Table ids are stable: T1..T13, listed in `TABLE_IDS` and docs/reports.md.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from exports.age_groups import AGE_GROUPS, age_group
from exports.periods import Period
from forms.admin_units import DEFAULT_PATH as ADMIN_UNITS_CSV
from forms.compiler import SOURCE_DIR
from forms.instance import parse_date
from forms.workbook import read_workbook
from server.store import cases as case_store
from server.store import forms as form_store
from server.store import holdings as holding_store
from server.store import matching as matching_store
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.scope import UnitScope

# Bump when what a table counts changes: `merge-reports` refuses to add reports of two versions.
DEFINITIONS_VERSION = "2026.1"
TABLE_IDS = tuple(f"T{n}" for n in range(1, 14))

# The old column template, kept for small-cell suppression's own tests and older callers.
TEMPLATE = (
    ("total", "Tổng số", "Total"),
    ("female", "Nữ", "Female"),
    ("male", "Nam", "Male"),
    ("u16", "Dưới 16 tuổi", "Under 16"),
    ("16_17", "Từ 16 đến dưới 18", "16 to under 18"),
    ("adult", "Từ 18 tuổi trở lên", "18 and over"),
    ("ethnic_minority", "Dân tộc thiểu số", "Ethnic minority"),
    ("foreign", "Người nước ngoài", "Foreign nationals"),
)
STATUSES = (
    ("victim", "Nạn nhân (đã xác định)", "Identified victims"),
    ("being_identified", "Đang trong quá trình xác định là nạn nhân", "Being identified"),
    ("not_victim", "Không phải nạn nhân", "Not a victim"),
)
SEXES = (("female", "Nữ", "Female"), ("male", "Nam", "Male"))
# The bands of the intake's age_band_vn calculation (vt01), which the 45+ splits in two.
AGES = (
    ("u16", "Dưới 16 tuổi", "Under 16"),
    ("16_17", "Từ 16 đến dưới 18", "16 to under 18"),
    ("18_29", "18-29 tuổi", "18-29"),
    ("30_44", "30-44 tuổi", "30-44"),
    ("45_59", "45-59 tuổi", "45-59"),
    ("60p", "Từ 60 tuổi trở lên", "60 and over"),
    ("unk", "Không rõ tuổi", "Age unknown"),
)
assert tuple(code for code, _, _ in AGES) == AGE_GROUPS
TOTAL = ("total", "Tổng số", "Total")
MINORS = ("minors", "Người dưới 18 tuổi đi cùng", "Accompanying minors")
PERSON_COLUMNS = [TOTAL, *STATUSES, *SEXES, *AGES]
VICTIM_COLUMNS = [TOTAL, *STATUSES[:2], *SEXES, *AGES]
CHANNEL_GROUPS = (
    ("from_abroad", "Từ nước ngoài trở về", "From abroad"),
    ("domestic", "Trong nước", "Within Viet Nam"),
)
CHANNEL_TREE = (
    ("from_abroad", ("handover_foreign", "self_return", "via_vn_mission")),
    ("domestic", ("rescued", "self_reported_domestic")),
    (None, ("transfer_other_province", "foreign_victim_in_vn", "other")),
)
CHANNELS = tuple(code for _, codes in CHANNEL_TREE for code in codes)
# Ethnicity codes that are not an ethnic minority (intakes before 2026 asked only ethnicity).
NOT_MINORITY = ("kinh", "unknown")
T3_COUNTRIES = ("vn", "cn", "kh", "la", "mm", "th")
Labels = dict[str, dict[str, tuple[str, str]]]
# (list name, code) of the choices retired in the forms: their rows show only when not empty.
RETIRED: set[tuple[str, str]] = set()
Row = tuple[str, str, str, list[Any]]


@dataclass
class ReportTable:
    """One table: rows of (code, Vietnamese label, English label, counts by column).

    `column_sums` and `row_sums` name the cells that add up to another (what small-cell
    suppression must protect); `total` is the table's headline count (report.json's `total`).
    """

    code: str
    title_vi: str
    title_en: str
    columns: list[tuple[str, str, str]]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    column_sums: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    row_sums: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    total: int = 0
    subtotal_rows: tuple[str, ...] = ()

    def header(self) -> list[str]:
        """Vietnamese first, English alongside."""
        return ["Mã / Code", "Nội dung / Item", *[f"{vi} / {en}" for _, vi, en in self.columns]]

    def lines(self) -> list[list[Any]]:
        """The table as rows of cells, header first."""
        return [
            self.header(),
            *[[code, f"{vi} / {en}", *counts] for code, vi, en, counts in self.rows],
        ]

    def row(self, key: str) -> list[Any]:
        """The counts of one row."""
        return next(counts for code, _, _, counts in self.rows if code == key)


def choice_labels() -> Labels:
    """list name -> code -> (Vietnamese, English), from the forms' choice sheets."""
    labels: Labels = {}
    for name in (
        "vt01_intake",
        "vt02_verification",
        "vt04_support",
        "vt07_screening",
        "vt06_outreach",
        "vt08_contact",
    ):
        book = read_workbook(SOURCE_DIR / f"{name}.xlsx")
        for row in book.sheets.get("choices", []):
            if str(row.get("retired") or "") == "yes":
                RETIRED.add((str(row["list_name"]), str(row["name"])))
            labels.setdefault(str(row["list_name"]), {}).setdefault(
                str(row["name"]),
                (
                    str(row.get("label::Tiếng Việt (vi)", row["name"])),
                    str(row.get("label::English (en)", row["name"])),
                ),
            )
    return labels


@lru_cache(maxsize=1)
def unit_names() -> dict[str, str]:
    """Unit code -> its name in the administrative units list."""
    with ADMIN_UNITS_CSV.open(encoding="utf-8") as handle:
        return {row["name"]: row["label"] for row in csv.DictReader(handle)}


@lru_cache(maxsize=1)
def communes_per_province() -> dict[str, int]:
    """How many communes each province has in the administrative units list."""
    with ADMIN_UNITS_CSV.open(encoding="utf-8") as handle:
        return dict(
            Counter(row["province_code"] for row in csv.DictReader(handle) if row["province_code"])
        )


@dataclass(frozen=True)
class Person:
    """What the tables know of one person: no identifier (the case id stays in this module)."""

    case_id: int
    is_minor_companion: bool
    sex: str | None
    age: int | None
    ethnicity: str | None
    ethnic_minority: str | None  # the anonymous core's yes / no / unknown (2026 intakes on)
    nationality: str | None
    channel: str | None
    purposes: tuple[str, ...]
    destination: str | None
    status: str = "being_identified"
    unit: tuple[str | None, str | None] = (None, None)  # (province, commune) of reception
    res_province: str | None = None
    disability: str | None = None
    received_on: date | None = None
    closed_on: date | None = None
    close_reason: str | None = None

    @property
    def age_band(self) -> str:
        """The report's age band."""
        return age_group(self.age)

    @property
    def unit_code(self) -> str:
        """The code of the receiving unit: its commune, else its province."""
        return self.unit[1] or self.unit[0] or "unknown"


def is_ethnic_minority(person: Person) -> bool:
    """The anonymous core's answer when there is one (asked even without consent), else the
    ethnicity an older intake recorded with consent."""
    if person.ethnic_minority is not None:
        return person.ethnic_minority == "yes"
    return bool(person.ethnicity) and person.ethnicity not in NOT_MINORITY


def status_of(outcome: Any) -> str:
    """A verification outcome as the report's status."""
    return {"confirmed": "victim", "not_victim": "not_victim"}.get(
        str(outcome or ""), "being_identified"
    )


@dataclass
class Population:
    """Every person of the cases a report may count, as of the end of its period."""

    period: Period
    scope: UnitScope
    persons: list[Person]
    by_code: dict[str, dict[int, Person]]  # case code -> person index -> person (supports)
    verifications: dict[int, dict[str, Any]]  # case id -> latest verification up to the end

    def received(self) -> list[Person]:
        """Persons of the cases received in the period."""
        return [p for p in self.persons if self.period.contains(p.received_on)]


def population(
    store: Store, scope: UnitScope, period: Period, received_only: bool = False
) -> Population:
    """The persons of cases received by the period's end (`received_only`: in the period)
    whose unit of reception is in `scope`, with their status and verified values as of the
    end."""
    since = period.start if received_only else None
    with store.reader() as session:
        rows = case_store.persons_received_by(session, period.end, since)
        first = holding_store.first_units(session.connection(), since)
        # a person a supervisor linked across cases counts once, by the case received first
        counted_elsewhere = matching_store.later_in_link_groups(session)
        checks = case_store.events_of_kind(
            session, UnitScope.all_units(), "verification", period.end, since
        )
    latest: dict[int, dict[str, Any]] = {}
    for case_id, _, summary in checks:  # oldest first: the last one wins
        latest[case_id] = summary or {}
    main_facts = {row.case_id: row.facts or {} for row in rows if row.person_index == 0}
    persons: list[Person] = []
    by_code: dict[str, dict[int, Person]] = {}
    for row in rows:
        if row.case_code in counted_elsewhere:
            continue
        unit = first.get(row.case_code, (row.province_code, row.commune_code))
        if not scope.allows(*unit):
            continue
        case_facts = main_facts.get(row.case_id, {})
        check = latest.get(row.case_id, {})
        verified = check.get("verif_outcome") == "confirmed"
        purposes = (verified and check.get("purpose_confirmed")) or case_facts.get("purpose")
        destination = (verified and check.get("destination_confirmed")) or case_facts.get(
            "destination_country"
        )
        own = (row.facts or {}) if row.person_index == 0 else {}
        person = Person(
            case_id=row.case_id,
            is_minor_companion=row.person_index > 0,
            sex=row.sex,
            age=row.age_years,
            ethnicity=own.get("ethnicity"),
            ethnic_minority=own.get("ethnic_minority"),
            nationality=own.get("nationality"),
            channel=case_facts.get("reception_channel"),
            purposes=tuple(str(purposes or "unknown").split()),
            destination=str(destination or "unknown"),
            status=status_of(check.get("verif_outcome")),
            unit=unit,
            res_province=case_facts.get("res_province"),
            disability=own.get("disability"),
            received_on=row.reception_date,
            closed_on=row.closed_on,
            close_reason=row.close_reason,
        )
        persons.append(person)
        by_code.setdefault(row.case_code, {})[row.person_index] = person
    in_scope = {p.case_id for p in persons}
    return Population(
        period,
        scope,
        persons,
        by_code,
        {cid: summary for cid, summary in latest.items() if cid in in_scope},
    )


def received(store: Store, scope: UnitScope, period: Period) -> list[Person]:
    """Persons of cases received in the period by a unit in `scope`."""
    return population(store, scope, period).received()


def _person_marks(person: Person, columns: Sequence[tuple[str, str, str]]) -> list[str]:
    if person.is_minor_companion:
        return ["minors"]
    marks = ["total", person.status, person.sex or "", person.age_band]
    return [m for m in marks if m]


def _count(persons: Iterable[Person], columns: Sequence[tuple[str, str, str]]) -> list[int]:
    counter: Counter[str] = Counter()
    for person in persons:
        counter.update(_person_marks(person, columns))
    return [counter[code] for code, _, _ in columns]


def _person_sums(columns: Sequence[tuple[str, str, str]]) -> list[tuple[str, tuple[str, ...]]]:
    codes = {code for code, _, _ in columns}
    groups = [
        tuple(c for c, _, _ in STATUSES if c in codes),
        tuple(c for c, _, _ in SEXES),
        tuple(c for c, _, _ in AGES),
    ]
    return [("total", group) for group in groups if len(group) > 1]


def _main(persons: Iterable[Person]) -> list[Person]:
    return [p for p in persons if not p.is_minor_companion]


def _victims(persons: Iterable[Person]) -> list[Person]:
    return [p for p in _main(persons) if p.status != "not_victim"]


def _exclusive(table: ReportTable, leaves: Sequence[str], group: Sequence[Person]) -> None:
    """Append the total row of rows that exclude each other, and say they add up."""
    table.rows.append(("total", "Tổng cộng", "Total", _count(group, table.columns)))
    table.row_sums.append(("total", tuple(leaves)))
    table.total = len(_main(group))


def table_t1(persons: list[Person], labels: Labels) -> ReportTable:
    """T1: people received by reception channel (grouped as the plans count them) and status;
    accompanying minors in their own column."""
    table = ReportTable(
        "T1",
        "Số người được tiếp nhận theo hình thức tiếp nhận và tình trạng xác định",
        "People received, by reception channel and identification status",
        [*PERSON_COLUMNS, MINORS],
    )
    table.column_sums = _person_sums(PERSON_COLUMNS)
    leaves: list[str] = []
    for group, codes in CHANNEL_TREE:
        if group is not None:
            vi, en = {c: (v, e) for c, v, e in CHANNEL_GROUPS}[group]
            members = [p for p in persons if p.channel in codes]
            table.rows.append((group, vi, en, _count(members, table.columns)))
            table.row_sums.append((group, codes))
            table.subtotal_rows += (group,)
        for code in codes:
            vi, en = labels["channel"].get(code, (code, code))
            members = [p for p in persons if p.channel == code]
            table.rows.append((code, vi, en, _count(members, table.columns)))
            leaves.append(code)
    unknown = [p for p in persons if p.channel not in CHANNELS]
    table.rows.append(("unknown", "Không rõ", "Unknown", _count(unknown, table.columns)))
    leaves.append("unknown")
    _exclusive(table, leaves, persons)
    table.notes.append(
        "Trẻ em đi cùng được đếm ở cột riêng, không thuộc cột tình trạng. / Accompanying minors "
        "are counted in their own column, not in the status columns."
    )
    return table


def table_t2(persons: list[Person], labels: Labels) -> ReportTable:
    """T2: victims and persons being identified, by purpose; several purposes count in each
    row (rows can add up to more than the total)."""
    group = _victims(persons)
    table = ReportTable(
        "T2",
        "Số nạn nhân và người đang được xác định theo mục đích mua bán người",
        "Victims and persons being identified, by purpose of trafficking",
        list(VICTIM_COLUMNS),
    )
    table.column_sums = _person_sums(VICTIM_COLUMNS)
    for code, (vi, en) in labels["purpose"].items():
        table.rows.append(
            (code, vi, en, _count([p for p in group if code in p.purposes], table.columns))
        )
    table.rows.append(("total", "Tổng số người", "Total persons", _count(group, table.columns)))
    table.total = len(group)
    table.notes.append(
        "Một người có nhiều mục đích được đếm ở mỗi dòng. / A person with several purposes is "
        "counted in each of their rows."
    )
    return table


def table_t3(persons: list[Person], labels: Labels) -> ReportTable:
    """T3: victims and persons being identified, by country trafficked to."""
    group = _victims(persons)
    table = ReportTable(
        "T3",
        "Số nạn nhân và người đang được xác định theo nước bị mua bán sang",
        "Victims and persons being identified, by country trafficked to",
        list(VICTIM_COLUMNS),
    )
    table.column_sums = _person_sums(VICTIM_COLUMNS)
    for code in T3_COUNTRIES:
        vi, en = labels["country"][code]
        table.rows.append(
            (code, vi, en, _count([p for p in group if p.destination == code], table.columns))
        )
    others = [p for p in group if p.destination not in (*T3_COUNTRIES, "unknown")]
    table.rows.append(("other", "Nước khác", "Other countries", _count(others, table.columns)))
    unknown = [p for p in group if p.destination == "unknown"]
    table.rows.append(("unknown", "Không rõ", "Unknown", _count(unknown, table.columns)))
    _exclusive(table, [*T3_COUNTRIES, "other", "unknown"], group)
    named = sorted({p.destination for p in others if p.destination})
    if named:
        table.notes.append("Nước khác / Other countries: " + ", ".join(named))
    return table


SMALL_TEMPLATE = (
    ("total", "Tổng số", "Total"),
    ("female", "Nữ", "Female"),
    ("under18", "Dưới 18 tuổi", "Under 18"),
)
VERIFICATION_DAYS = 3  # L2024 Art 27(2): initial verification within 3 days


def _small(people: Iterable[Person]) -> list[int]:
    counts = [0, 0, 0]
    for person in people:
        counts[0] += 1
        counts[1] += person.sex == "female"
        counts[2] += person.age is not None and person.age < 18
    return counts


def table_t4(pop: Population, labels: Labels) -> ReportTable:
    """T4: identification of the main persons received in the period."""
    main = _main(pop.received())
    table = ReportTable(
        "T4", "Xác minh, xác định nạn nhân", "Identification status", list(SMALL_TEMPLATE)
    )
    table.rows.append(
        ("received", "Số người được tiếp nhận trong kỳ", "Received in the period", _small(main))
    )
    for code, vi, en in (
        ("confirmed", "Trong đó: xác định là nạn nhân", "Of whom confirmed"),
        ("not_victim", "Trong đó: không phải nạn nhân", "Of whom not victims"),
        ("awaiting", "Còn đang xác minh cuối kỳ", "Still being identified at the end"),
    ):
        status = {"confirmed": "victim", "awaiting": "being_identified"}.get(code, code)
        table.rows.append((code, vi, en, _small(p for p in main if p.status == status)))
    table.row_sums.append(("received", ("confirmed", "not_victim", "awaiting")))
    for code, (vi, en) in labels["victim_doc"].items():
        if code == "none":
            continue
        table.rows.append(
            (
                f"doc_{code}",
                f"Giấy tờ đã cấp: {vi}",
                f"Document: {en}",
                _small(
                    p
                    for p in main
                    if p.status == "victim"
                    and pop.verifications.get(p.case_id, {}).get("victim_doc_type") == code
                ),
            )
        )
    quick = []
    for person in main:
        started = parse_date(pop.verifications.get(person.case_id, {}).get("verif_start_date"))
        if (
            started
            and person.received_on
            and (started - person.received_on).days <= VERIFICATION_DAYS
        ):
            quick.append(person)
    table.rows.append(
        (
            "verified_3_days",
            "Xác minh ban đầu trong 3 ngày",
            "Initial verification started within 3 days",
            _small(quick),
        )
    )
    table.total = len(main)
    share = f" ({100 * len(quick) / len(main):.0f}%)" if main else ""
    table.notes.append(f"Initial verification within 3 days: {len(quick)} of {len(main)}{share}")
    return table


def _data_up_to(
    store: Store, scope: UnitScope, form_id: str, period: Period, whole_history: bool = False
) -> list[dict[str, Any]]:
    start = date(1900, 1, 1) if whole_history else period.start
    with store.reader() as session:
        form = form_store.by_xml_form_id(session, form_id)
        if form is None:
            return []
        return [
            data or {}
            for data in submission_store.data_in_period(session, scope, form.id, start, period.end)
        ]


SUPPORT_COLUMNS = [
    ("persons", "Số người được hỗ trợ", "Persons supported"),
    ("times", "Số lượt hỗ trợ", "Times given"),
    ("amount_vnd", "Số tiền (đồng)", "Amount (VND)"),
    *STATUSES,
    MINORS,
    *SEXES,
    *AGES,
]


def table_t5(store: Store, pop: Population, labels: Labels) -> ReportTable:
    """T5: supports given in the period, by type: distinct persons, times, amount; persons by
    status (main persons), accompanying minors, sex and age group. A support counts for the
    unit that received the case, whichever unit gave it."""
    table = ReportTable("T5", "Các hỗ trợ đã thực hiện", "Support provided", list(SUPPORT_COLUMNS))
    table.column_sums = [
        ("persons", ("victim", "being_identified", "not_victim", "minors")),
        ("persons", ("female", "male")),
        ("persons", tuple(c for c, _, _ in AGES)),
    ]
    persons: dict[str, dict[tuple[int, int], Person]] = {}
    times: Counter[str] = Counter()
    amounts: Counter[str] = Counter()
    everyone: dict[tuple[int, int], Person] = {}
    # Items carry their own dates: a submission started before the period can hold items in it.
    for data in _data_up_to(store, UnitScope.all_units(), "vt04_support", pop.period, True):
        case = pop.by_code.get(str(data.get("case_code", "")))
        if not case:
            continue
        index = _int(data.get("person_index"))
        person = case.get(index) or case[min(case)]
        who = (person.case_id, index if index in case else min(case))
        for item in data.get("support_item") or []:
            if not isinstance(item, dict) or not pop.period.contains(
                parse_date(item.get("support_date"))
            ):
                continue
            kind = str(item.get("support_type") or "other")
            persons.setdefault(kind, {})[who] = person
            everyone[who] = person
            times[kind] += 1
            amounts[kind] += int(float(item.get("amount_vnd") or 0))

    def row(people: dict[tuple[int, int], Person], n_times: int, amount: int) -> list[int]:
        marks: Counter[str] = Counter()
        for person in people.values():
            if person.is_minor_companion:
                marks["minors"] += 1
            else:
                marks[person.status] += 1
            marks[person.sex or ""] += 1
            marks[person.age_band] += 1
        return [len(people), n_times, amount] + [marks[c] for c, _, _ in SUPPORT_COLUMNS[3:]]

    for code, (vi, en) in labels["support"].items():
        table.rows.append((code, vi, en, row(persons.get(code, {}), times[code], amounts[code])))
    table.rows.append(
        (
            "total",
            "Tổng số người được hỗ trợ",
            "Total persons supported",
            row(everyone, sum(times.values()), sum(amounts.values())),
        )
    )
    table.total = len(everyone)
    table.notes.append(
        "Một người nhận nhiều loại hỗ trợ được đếm ở mỗi dòng; dòng tổng đếm mỗi người một lần. "
        "/ A person given several kinds of support is counted in each row; the total row counts "
        "each person once."
    )
    return table


def table_t6(store: Store, pop: Population) -> ReportTable:
    """T6: follow-up and reintegration of cases (main persons)."""
    main = {p.case_id: p for p in _main(pop.persons)}
    with store.reader() as session:
        visits = case_store.events_of_kind(
            session, UnitScope.all_units(), "followup", pop.period.end
        )
    period = pop.period

    def people(ids: Iterable[int]) -> list[int]:
        group = [main[i] for i in set(ids) if i in main]
        return _small(group) + [sum(p.status == code for p in group) for code, _, _ in STATUSES]

    def open_on(day: date, person: Person) -> bool:
        return bool(
            person.received_on
            and person.received_on <= day
            and (person.closed_on is None or person.closed_on > day)
        )

    before = period.start - timedelta(days=1)
    in_period = [
        (cid, summary or {}) for cid, day, summary in visits if period.contains(day) and cid in main
    ]
    reached = {cid for cid, summary in in_period if summary.get("contact_made") == "yes"}

    def reached_with(key: str, values: tuple[str, ...]) -> set[int]:
        return {cid for cid, summary in in_period if summary.get(key) in values}

    table = ReportTable(
        "T6",
        "Theo dõi, hỗ trợ tái hòa nhập",
        "Follow-up and reintegration",
        [*SMALL_TEMPLATE, *STATUSES],
    )
    table.column_sums = [("total", tuple(code for code, _, _ in STATUSES))]
    table.rows += [
        (
            "open_start",
            "Hồ sơ đang theo dõi đầu kỳ",
            "Cases open at the start",
            people(c for c, p in main.items() if open_on(before, p)),
        ),
        (
            "new",
            "Hồ sơ mới trong kỳ",
            "New cases",
            people(c for c, p in main.items() if period.contains(p.received_on)),
        ),
        ("visits", "Số người được theo dõi", "Persons visited", people(c for c, _ in in_period)),
        ("reached", "Số người liên lạc được", "Persons reached", people(reached)),
        (
            "stable_livelihood",
            "Có sinh kế ổn định",
            "With a stable livelihood",
            people(reached & reached_with("livelihood", ("stable_job", "self_employed"))),
        ),
        (
            "children_in_school",
            "Con được đi học",
            "Children in school",
            people(reached_with("children_in_school", ("yes",))),
        ),
        (
            "retrafficked",
            "Bị mua bán trở lại",
            "Re-trafficked",
            people(reached_with("retrafficked", ("yes",))),
        ),
    ]
    for reason, vi, en in (
        ("reintegrated", "đã tái hòa nhập", "reintegrated"),
        ("moved", "chuyển đi nơi khác", "moved"),
        ("declined", "từ chối hỗ trợ", "declined"),
        ("deceased", "đã mất", "deceased"),
        ("lost_contact", "mất liên lạc", "lost contact"),
        ("referred", "đã chuyển tuyến", "referred"),
        ("repatriated", "đã trao trả về nước", "repatriated"),
    ):
        table.rows.append(
            (
                f"closed_{reason}",
                f"Kết thúc: {vi}",
                f"Closed: {en}",
                people(
                    c
                    for c, p in main.items()
                    if period.contains(p.closed_on) and p.close_reason == reason
                ),
            )
        )
    table.rows.append(
        (
            "open_end",
            "Hồ sơ đang theo dõi cuối kỳ",
            "Cases open at the end",
            people(c for c, p in main.items() if open_on(period.end, p)),
        )
    )
    table.total = table.row("open_end")[0]
    table.notes.append("Mỗi người được đếm một lần mỗi dòng. / Each row counts persons once.")
    return table


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value)))
    except (TypeError, ValueError):
        return 0


def _scope_communes(scope: UnitScope, seen_provinces: Iterable[str]) -> int:
    """How many communes the scope covers (all units: those of the provinces seen)."""
    per = communes_per_province()
    if scope.everything:
        return sum(per.get(p, 0) for p in set(seen_provinces))
    return sum(per.get(p, 0) for p in scope.provinces) + len(scope.communes)


def table_t7(store: Store, scope: UnitScope, period: Period, labels: Labels) -> ReportTable:
    """T7: outreach sessions, participants by sex, communes reached (and the communes of the
    units reported on, for the share)."""
    columns = [
        ("activities", "Số hoạt động", "Sessions"),
        ("participants", "Số người tham dự", "Participants"),
        ("female", "Nữ", "Female"),
        ("male", "Nam", "Male"),
        ("under18", "Dưới 18 tuổi", "Under 18"),
        ("ethnic_minority", "Dân tộc thiểu số", "Ethnic minority"),
        ("communes", "Số xã, phường được truyền thông", "Communes reached"),
        ("leaflets", "Tờ rơi", "Leaflets"),
        ("posters", "Áp phích", "Posters"),
    ]
    table = ReportTable(
        "T7", "Hoạt động truyền thông, phòng ngừa", "Prevention and outreach", columns
    )
    table.column_sums = [("participants", ("female", "male"))]
    sums: dict[str, list[int]] = {}
    communes: dict[str, set[str]] = {}
    provinces: set[str] = set()
    for data in _data_up_to(store, scope, "vt06_outreach", period):
        kind = str(data.get("activity_type", "other"))
        row = sums.setdefault(kind, [0] * len(columns))
        male, female = _int(data.get("n_male")), _int(data.get("n_female"))
        if data.get("commune"):
            communes.setdefault(kind, set()).add(str(data["commune"]))
        if data.get("province"):
            provinces.add(str(data["province"]))
        for position, value in enumerate(
            [
                1,
                male + female,
                female,
                male,
                _int(data.get("n_under18")),
                _int(data.get("n_ethnic_minority")),
                0,
                _int(data.get("n_leaflets")),
                _int(data.get("n_posters")),
            ]
        ):
            row[position] += value
    for code, (vi, en) in labels["activity"].items():
        counts = sums.get(code, [0] * len(columns))
        counts[6] = len(communes.get(code, ()))
        table.rows.append((code, vi, en, counts))
    totals = [sum(values) for values in zip(*[r[3] for r in table.rows], strict=True)]
    reached = set().union(*communes.values()) if communes else set()
    totals[6] = len(reached)
    table.rows.append(("total", "Tổng cộng", "Total", totals))
    in_scope = _scope_communes(scope, provinces)
    table.rows.append(
        (
            "communes_of_units",
            "Tổng số xã, phường của đơn vị",
            "Communes of the units reported on",
            [0] * 6 + [in_scope, 0, 0],
        )
    )
    table.total = totals[0]
    share = f"{100 * len(reached) / in_scope:.0f}%" if in_scope else "-"
    table.notes.append(
        f"Xã, phường được truyền thông / Communes reached: {len(reached)} / {in_scope} ({share}). "
        "Dòng tổng đếm mỗi xã một lần. / The total row counts each commune once."
    )
    return table


def table_t8(store: Store, scope: UnitScope, period: Period) -> ReportTable:
    """T8: high-risk screening."""
    columns = [
        ("total", "Tổng số", "Total"),
        ("female", "Nữ", "Female"),
        ("male", "Nam", "Male"),
        ("under18", "Dưới 18 tuổi", "Under 18"),
    ]
    table = ReportTable("T8", "Sàng lọc nguy cơ cao", "High-risk screening", columns)
    rows = {
        "screened": ("Số người được sàng lọc", "Persons screened"),
        "medium": ("Nguy cơ trung bình", "Medium risk"),
        "high": ("Nguy cơ cao", "High risk"),
        "suspected": ("Nghi ngờ đang bị mua bán", "Suspected current trafficking"),
        "referred": ("Đã chuyển tuyến", "Referred"),
        "informed": ("Đã cung cấp thông tin, đường dây nóng", "Information / hotline given"),
    }
    counts = {code: [0, 0, 0, 0] for code in rows}
    for data in _data_up_to(store, scope, "vt07_screening", period):
        actions = str(data.get("actions_taken", "")).split()
        hits = {
            "screened": True,
            "medium": data.get("risk_level") == "medium",
            "high": data.get("risk_level") == "high",
            "suspected": data.get("suspected_current") == "yes",
            "referred": "referred" in actions,
            "informed": "info_given" in actions or "hotline_given" in actions,
        }
        age = _int(data.get("age_years")) if data.get("age_years") not in (None, "") else None
        marks = [
            True,
            data.get("sex") == "female",
            data.get("sex") == "male",
            age is not None and age < 18,
        ]
        for code, hit in hits.items():
            if hit:
                for position, mark in enumerate(marks):
                    counts[code][position] += int(mark)
    for code, (vi, en) in rows.items():
        table.rows.append((code, vi, en, counts[code]))
    table.total = counts["screened"][0]
    return table


def _by_key(
    table: ReportTable,
    persons: list[Person],
    keys: Sequence[tuple[str, str, str]],
    key_of: Callable[[Person], str],
) -> None:
    for code, vi, en in keys:
        table.rows.append(
            (code, vi, en, _count([p for p in persons if key_of(p) == code], table.columns))
        )


def table_t9(persons: list[Person]) -> ReportTable:
    """T9: people received by the unit that received them (the case's first holding)."""
    main = _main(persons)
    table = ReportTable(
        "T9",
        "Số người được tiếp nhận theo đơn vị tiếp nhận",
        "People received, by receiving unit",
        list(PERSON_COLUMNS),
    )
    table.column_sums = _person_sums(PERSON_COLUMNS)
    names = unit_names()
    codes = sorted({p.unit_code for p in main})
    _by_key(
        table,
        main,
        [(c, names.get(c, "Không rõ"), names.get(c, "Unknown")) for c in codes],
        lambda p: p.unit_code,
    )
    _exclusive(table, codes, main)
    return table


def table_t10(persons: list[Person]) -> ReportTable:
    """T10: people received by province of residence; residents of other provinces apart."""
    main = _main(persons)
    table = ReportTable(
        "T10",
        "Số người được tiếp nhận theo tỉnh nơi cư trú",
        "People received, by province of residence",
        list(PERSON_COLUMNS),
    )
    table.column_sums = _person_sums(PERSON_COLUMNS)
    names = unit_names()

    def residence(person: Person) -> str:
        if not person.res_province:
            return "no_residence"
        return "same" if person.res_province == person.unit[0] else f"p{person.res_province}"

    _by_key(
        table,
        main,
        [("same", "Cư trú tại tỉnh tiếp nhận", "Resident in the receiving province")],
        residence,
    )
    others = sorted({residence(p) for p in main} - {"same", "no_residence"})
    members = [p for p in main if residence(p) in others]
    table.rows.append(
        (
            "other_provinces",
            "Cư trú tại tỉnh khác",
            "Resident in another province",
            _count(members, table.columns),
        )
    )
    table.row_sums.append(("other_provinces", tuple(others)))
    table.subtotal_rows = ("other_provinces",)
    _by_key(
        table,
        main,
        [(c, names.get(c[1:], c[1:]), names.get(c[1:], c[1:])) for c in others],
        residence,
    )
    _by_key(
        table,
        main,
        [
            (
                "no_residence",
                "Không có nơi cư trú ở Việt Nam / không rõ",
                "No residence in Viet Nam / unknown",
            )
        ],
        residence,
    )
    _exclusive(table, ["same", *others, "no_residence"], main)
    return table


def table_t11(persons: list[Person]) -> ReportTable:
    """T11: people received with a disability, of an ethnic minority, foreign nationals."""
    main = _main(persons)
    table = ReportTable(
        "T11",
        "Người khuyết tật, người dân tộc thiểu số, người nước ngoài được tiếp nhận",
        "People received with a disability, of an ethnic minority, foreign nationals",
        list(PERSON_COLUMNS),
    )
    table.column_sums = _person_sums(PERSON_COLUMNS)
    for code, vi, en, hit in (
        ("disability", "Người khuyết tật", "With a disability", lambda p: p.disability == "yes"),
        ("ethnic_minority", "Người dân tộc thiểu số", "Ethnic minority", is_ethnic_minority),
        (
            "foreign",
            "Người nước ngoài, người không quốc tịch",
            "Foreign or stateless",
            lambda p: bool(p.nationality) and p.nationality not in ("vn", "unknown"),
        ),
    ):
        table.rows.append((code, vi, en, _count([p for p in main if hit(p)], table.columns)))
    table.rows.append(
        ("received", "Tổng số người được tiếp nhận", "All received", _count(main, table.columns))
    )
    table.total = len(main)
    return table


def table_t12(store: Store, scope: UnitScope, period: Period, labels: Labels) -> ReportTable:
    """T12: training sessions and officials trained, by role (vt06 `trainees`)."""
    table = ReportTable(
        "T12",
        "Tập huấn, bồi dưỡng theo đối tượng",
        "Training, by role of those trained",
        [
            ("sessions", "Số lớp có đối tượng này", "Sessions with this role"),
            ("trained", "Số người được tập huấn", "Persons trained"),
        ],
    )
    sessions: Counter[str] = Counter()
    trained: Counter[str] = Counter()
    total_sessions = 0
    for data in _data_up_to(store, scope, "vt06_outreach", period):
        if data.get("activity_type") != "training":
            continue
        total_sessions += 1
        roles = set()
        for item in data.get("trainees") or []:
            if isinstance(item, dict) and item.get("trainee_role"):
                role = str(item["trainee_role"])
                roles.add(role)
                trained[role] += _int(item.get("trainee_count"))
        sessions.update(roles)
    for code, (vi, en) in labels["official_type"].items():
        table.rows.append((code, vi, en, [sessions[code], trained[code]]))
    table.rows.append(("total", "Tổng cộng", "Total", [total_sessions, sum(trained.values())]))
    table.total = sum(trained.values())
    return table


def table_t13(store: Store, scope: UnitScope, period: Period, labels: Labels) -> ReportTable:
    """T13: hotline and walk-in contacts (vt08), suspected trafficking and actions taken."""
    actions = [c for c in labels["contact_action"] if c != "none"]
    table = ReportTable(
        "T13",
        "Tiếp nhận thông tin qua đường dây nóng và trực tiếp",
        "Hotline and walk-in contacts",
        [
            ("contacts", "Số cuộc, lượt", "Contacts"),
            ("suspected", "Nghi có mua bán người", "Suspected trafficking"),
            *[(f"action_{c}", *labels["contact_action"][c]) for c in actions],
        ],
    )
    counts: dict[str, list[int]] = {}
    for data in _data_up_to(store, scope, "vt08_contact", period):
        channel = str(data.get("contact_channel") or "other")
        row = counts.setdefault(channel, [0] * len(table.columns))
        done = str(data.get("actions_taken") or "").split()
        row[0] += 1
        row[1] += data.get("suspected_trafficking") == "yes"
        for position, code in enumerate(actions, start=2):
            row[position] += code in done
    channels = list(labels["contact_channel"])
    for code in channels:
        vi, en = labels["contact_channel"][code]
        table.rows.append((code, vi, en, counts.get(code, [0] * len(table.columns))))
    totals = [sum(values) for values in zip(*[r[3] for r in table.rows], strict=True)]
    table.rows.append(("total", "Tổng cộng", "Total", totals))
    table.row_sums.append(("total", tuple(channels)))
    table.total = totals[0]
    return table


def _without_empty_retired(table: ReportTable, list_name: str) -> ReportTable:
    """Drop the rows of retired codes that count nothing (older answers still show)."""
    table.rows = [
        row
        for row in table.rows
        if (list_name, row[0]) not in RETIRED or any(v for v in row[3] if isinstance(v, int))
    ]
    return table


def build_tables(store: Store, scope: UnitScope, period: Period) -> list[ReportTable]:
    """Every report table for one period and scope, T1..T13 in order."""
    labels = choice_labels()
    pop = population(store, scope, period)
    persons = pop.received()
    tables = [
        table_t1(persons, labels),
        table_t2(persons, labels),
        table_t3(persons, labels),
        table_t4(pop, labels),
        table_t5(store, pop, labels),
        table_t6(store, pop),
        table_t7(store, scope, period, labels),
        table_t8(store, scope, period),
        table_t9(persons),
        table_t10(persons),
        table_t11(persons),
        table_t12(store, scope, period, labels),
        table_t13(store, scope, period, labels),
    ]
    for code, list_name in (("T2", "purpose"), ("T5", "support"), ("T7", "activity")):
        _without_empty_retired(tables[int(code[1:]) - 1], list_name)
    return tables
