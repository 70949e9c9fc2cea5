"""The statutory report tables for a period (domain/FORMS.md, "Aggregate report tables").

Counts only: no case code, no name, nothing that identifies a person leaves this module.
Unit of count is the person (main person or accompanying minor), once per case however often
received. Purpose and country of exploitation use the verification's confirmed values where a
case has them, else the intake's.

Built here: T1 (persons by reception channel, main persons and accompanying minors), T2 (by
purpose), T3 (by country of exploitation), T4 (identification), T5 (supports delivered), T6
(follow-up and reintegration), T7 (outreach), T8 (screening).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from exports.age_groups import age_group
from exports.periods import Period
from forms.compiler import SOURCE_DIR
from forms.instance import parse_date
from forms.workbook import read_workbook
from server.store import cases as case_store
from server.store import forms as form_store
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.scope import UnitScope

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
CHANNELS = (
    "handover_foreign",
    "self_return",
    "rescued",
    "self_reported_domestic",
    "transfer_other_province",
    "foreign_victim_in_vn",
    "via_vn_mission",
    "other",
)
# Ethnicity codes that are not an ethnic minority (intakes before 2026 asked only ethnicity).
NOT_MINORITY = ("kinh", "unknown")
T3_COUNTRIES = ("vn", "cn", "kh", "la", "mm", "th")


@dataclass
class ReportTable:
    """One table: rows of (code, Vietnamese label, English label, counts by column)."""

    code: str
    title_vi: str
    title_en: str
    columns: list[tuple[str, str, str]]
    rows: list[tuple[str, str, str, list[Any]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def header(self) -> list[str]:
        """Vietnamese first, English alongside."""
        return ["Mã / Code", "Nội dung / Item", *[f"{vi} / {en}" for _, vi, en in self.columns]]

    def lines(self) -> list[list[Any]]:
        """The table as rows of cells, header first."""
        return [
            self.header(),
            *[[code, f"{vi} / {en}", *counts] for code, vi, en, counts in self.rows],
        ]


def choice_labels() -> dict[str, dict[str, tuple[str, str]]]:
    """list name -> code -> (Vietnamese, English), from the intake and outreach forms."""
    labels: dict[str, dict[str, tuple[str, str]]] = {}
    for name in ("vt01_intake", "vt02_verification", "vt04_support", "vt07_screening"):
        book = read_workbook(SOURCE_DIR / f"{name}.xlsx")
        for row in book.sheets.get("choices", []):
            labels.setdefault(str(row["list_name"]), {})[str(row["name"])] = (
                str(row.get("label::Tiếng Việt (vi)", row["name"])),
                str(row.get("label::English (en)", row["name"])),
            )
    return labels


@dataclass(frozen=True)
class Person:
    """What the tables know of one person: no identifier."""

    is_minor_companion: bool
    sex: str | None
    age: int | None
    ethnicity: str | None
    ethnic_minority: str | None  # the anonymous core's yes / no / unknown (2026 intakes on)
    nationality: str | None
    channel: str | None
    purposes: tuple[str, ...]
    destination: str | None


def _columns_of(person: Person) -> list[str]:
    hits = ["total"]
    if person.sex in ("female", "male"):
        hits.append(person.sex)
    band = age_group(person.age)
    hits.append({"u16": "u16", "16_17": "16_17", "unk": ""}.get(band, "adult"))
    if is_ethnic_minority(person):
        hits.append("ethnic_minority")
    if person.nationality and person.nationality not in ("vn", "unknown"):
        hits.append("foreign")
    return [h for h in hits if h]


def is_ethnic_minority(person: Person) -> bool:
    """The anonymous core's answer when there is one (asked even without consent), else the
    ethnicity an older intake recorded with consent."""
    if person.ethnic_minority is not None:
        return person.ethnic_minority == "yes"
    return bool(person.ethnicity) and person.ethnicity not in NOT_MINORITY


def _count(persons: Iterable[Person], columns: Sequence[tuple[str, str, str]]) -> list[int]:
    counter: Counter[str] = Counter()
    for person in persons:
        counter.update(_columns_of(person))
    return [counter[code] for code, _, _ in columns]


def received(store: Store, scope: UnitScope, period: Period) -> list[Person]:
    """Persons of cases received in the period, with verified values where they exist."""
    with store.reader() as session:
        rows = case_store.received_persons(session, scope, period.start, period.end)
        verified = case_store.latest_summaries(
            session, sorted({r[0] for r in rows}), "verification"
        )
    main_facts = {case_id: facts or {} for case_id, index, _, _, facts in rows if index == 0}
    persons = []
    for case_id, index, sex, age, facts in rows:
        case_facts = main_facts.get(case_id, {})
        check = verified.get(case_id, {})
        purposes = check.get("purpose_confirmed") or case_facts.get("purpose") or "unknown"
        destination = check.get("destination_confirmed") or case_facts.get("destination_country")
        own = facts or {}
        persons.append(
            Person(
                is_minor_companion=index > 0,
                sex=sex,
                age=age,
                ethnicity=own.get("ethnicity") if index == 0 else None,
                ethnic_minority=own.get("ethnic_minority") if index == 0 else None,
                nationality=own.get("nationality") if index == 0 else None,
                channel=case_facts.get("reception_channel"),
                purposes=tuple(str(purposes).split()),
                destination=destination or "unknown",
            )
        )
    return persons


def table_t1(persons: list[Person], labels: dict[str, dict[str, tuple[str, str]]]) -> ReportTable:
    """T1: persons received by reception channel; main persons and accompanying minors."""
    columns = [
        (f"main_{c}", f"Người được tiếp nhận: {vi}", f"Main persons: {en}")
        for c, vi, en in TEMPLATE
    ] + [
        (f"minor_{c}", f"Người dưới 18 tuổi đi cùng: {vi}", f"Accompanying minors: {en}")
        for c, vi, en in TEMPLATE
    ]
    table = ReportTable(
        "T1",
        "Số người được tiếp nhận theo hình thức tiếp nhận",
        "Persons received, by reception channel",
        columns,
    )
    for channel in (*CHANNELS, None):
        group = [
            p
            for p in persons
            if p.channel == channel or (channel is None and p.channel not in CHANNELS)
        ]
        if channel is None and not group:
            continue
        vi, en = labels["channel"].get(channel or "", ("Không rõ", "Unknown"))
        table.rows.append((channel or "unknown", vi, en, _split(group)))
    table.rows.append(("total", "Tổng cộng", "Total", _split(persons)))
    return table


def _split(group: list[Person]) -> list[int]:
    main = [p for p in group if not p.is_minor_companion]
    minors = [p for p in group if p.is_minor_companion]
    return _count(main, TEMPLATE) + _count(minors, TEMPLATE)


def table_t2(persons: list[Person], labels: dict[str, dict[str, tuple[str, str]]]) -> ReportTable:
    """T2: main persons by purpose; several purposes count in each row (rows can exceed total)."""
    main = [p for p in persons if not p.is_minor_companion]
    table = ReportTable(
        "T2",
        "Số người được tiếp nhận theo mục đích mua bán người",
        "Persons received, by purpose of trafficking",
        list(TEMPLATE),
    )
    for code, (vi, en) in labels["purpose"].items():
        table.rows.append((code, vi, en, _count([p for p in main if code in p.purposes], TEMPLATE)))
    table.rows.append(("total", "Tổng số người", "Total persons", _count(main, TEMPLATE)))
    table.notes.append("A person with several purposes is counted in each of their rows.")
    return table


def table_t3(persons: list[Person], labels: dict[str, dict[str, tuple[str, str]]]) -> ReportTable:
    """T3: main persons by country of exploitation; other countries in one row."""
    main = [p for p in persons if not p.is_minor_companion]
    table = ReportTable(
        "T3",
        "Số người được tiếp nhận theo nước bị mua bán sang",
        "Persons received, by country trafficked to",
        list(TEMPLATE),
    )
    for code in T3_COUNTRIES:
        vi, en = labels["country"][code]
        table.rows.append(
            (code, vi, en, _count([p for p in main if p.destination == code], TEMPLATE))
        )
    others = [p for p in main if p.destination not in (*T3_COUNTRIES, "unknown")]
    table.rows.append(("other", "Nước khác", "Other countries", _count(others, TEMPLATE)))
    table.rows.append(
        (
            "unknown",
            "Không rõ",
            "Unknown",
            _count([p for p in main if p.destination == "unknown"], TEMPLATE),
        )
    )
    table.rows.append(("total", "Tổng cộng", "Total", _count(main, TEMPLATE)))
    named = sorted({p.destination for p in others if p.destination})
    if named:
        table.notes.append("Other countries: " + ", ".join(named))
    return table


def _form_data(
    store: Store, scope: UnitScope, form_id: str, period: Period
) -> list[dict[str, Any]]:
    with store.reader() as session:
        form = form_store.by_xml_form_id(session, form_id)
        if form is None:
            return []
        return [
            data or {}
            for data in submission_store.data_in_period(
                session, scope, form.id, period.start, period.end
            )
        ]


def table_t5(
    store: Store, scope: UnitScope, period: Period, labels: dict[str, dict[str, tuple[str, str]]]
) -> ReportTable:
    """T5: supports delivered in the period: distinct persons and sum of amounts per type."""
    columns = [
        ("persons", "Số người được hỗ trợ", "Persons supported"),
        ("times", "Số lượt hỗ trợ", "Times given"),
        ("amount_vnd", "Số tiền (đồng)", "Amount (VND)"),
    ]
    table = ReportTable("T5", "Các hỗ trợ đã thực hiện", "Support provided", columns)
    persons: dict[str, set[tuple[str, str]]] = {}
    times: Counter[str] = Counter()
    amounts: Counter[str] = Counter()
    for data in _form_data(store, scope, "vt04_support", period):
        who = (str(data.get("case_code", "")), str(data.get("person_index", "0")))
        for item in data.get("support_item") or []:
            if not isinstance(item, dict) or not period.contains(
                parse_date(item.get("support_date"))
            ):
                continue
            kind = str(item.get("support_type", "other"))
            persons.setdefault(kind, set()).add(who)
            times[kind] += 1
            amounts[kind] += int(float(item.get("amount_vnd") or 0))
    for code, (vi, en) in labels["support"].items():
        table.rows.append((code, vi, en, [len(persons.get(code, ())), times[code], amounts[code]]))
    return table


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value)))
    except (TypeError, ValueError):
        return 0


def table_t7(store: Store, scope: UnitScope, period: Period) -> ReportTable:
    """T7: outreach activities and participants."""
    columns = [
        ("activities", "Số hoạt động", "Activities"),
        ("participants", "Số người tham dự", "Participants"),
        ("female", "Nữ", "Female"),
        ("male", "Nam", "Male"),
        ("under18", "Dưới 18 tuổi", "Under 18"),
        ("ethnic_minority", "Dân tộc thiểu số", "Ethnic minority"),
        ("officials", "Cán bộ được tập huấn", "Officials trained"),
        ("leaflets", "Tờ rơi", "Leaflets"),
        ("posters", "Áp phích", "Posters"),
    ]
    table = ReportTable(
        "T7", "Hoạt động truyền thông, phòng ngừa", "Prevention and outreach", columns
    )
    sums: dict[str, list[int]] = {}
    for data in _form_data(store, scope, "vt06_outreach", period):
        kind = str(data.get("activity_type", "other"))
        row = sums.setdefault(kind, [0] * len(columns))
        male, female = _int(data.get("n_male")), _int(data.get("n_female"))
        for position, value in enumerate(
            [
                1,
                male + female,
                female,
                male,
                _int(data.get("n_under18")),
                _int(data.get("n_ethnic_minority")),
                _int(data.get("n_officials")),
                _int(data.get("n_leaflets")),
                _int(data.get("n_posters")),
            ]
        ):
            row[position] += value
    activity_labels = _outreach_labels()
    for code, (vi, en) in activity_labels.items():
        table.rows.append((code, vi, en, sums.get(code, [0] * len(columns))))
    totals = [sum(values) for values in zip(*[r[3] for r in table.rows], strict=True)]
    table.rows.append(("total", "Tổng cộng", "Total", totals))
    return table


def _outreach_labels() -> dict[str, tuple[str, str]]:
    book = read_workbook(SOURCE_DIR / "vt06_outreach.xlsx")
    return {
        str(r["name"]): (str(r["label::Tiếng Việt (vi)"]), str(r["label::English (en)"]))
        for r in book.sheets["choices"]
        if r["list_name"] == "activity"
    }


def table_t8(store: Store, scope: UnitScope, period: Period) -> ReportTable:
    """T8: high-risk screening."""
    columns = [(c, vi, en) for c, vi, en in TEMPLATE if c in ("total", "female", "male", "u16")]
    columns[3] = ("under18", "Dưới 18 tuổi", "Under 18")
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
    for data in _form_data(store, scope, "vt07_screening", period):
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
    return table


SMALL_TEMPLATE = (
    ("total", "Tổng số", "Total"),
    ("female", "Nữ", "Female"),
    ("under18", "Dưới 18 tuổi", "Under 18"),
)
VERIFICATION_DAYS = 3  # L2024 Art 27(2): initial verification within 3 days


def _small(people: Iterable[tuple[str | None, int | None]]) -> list[int]:
    counts = [0, 0, 0]
    for sex, age in people:
        counts[0] += 1
        counts[1] += sex == "female"
        counts[2] += age is not None and age < 18
    return counts


def table_t4(
    store: Store, scope: UnitScope, period: Period, labels: dict[str, dict[str, tuple[str, str]]]
) -> ReportTable:
    """T4: identification of the main persons received in the period."""
    with store.reader() as session:
        cases = {row[0]: row for row in case_store.main_persons(session, scope, period.end)}
        checks = case_store.events_of_kind(session, scope, "verification", period.end)
    received_ids = [cid for cid, row in cases.items() if period.contains(row[1])]
    latest: dict[int, dict[str, Any]] = {}
    for case_id, _, summary in checks:
        latest[case_id] = summary or {}

    def people(ids: Iterable[int]) -> list[int]:
        return _small((cases[i][4], cases[i][5]) for i in ids)

    outcome = {cid: latest.get(cid, {}).get("verif_outcome") for cid in received_ids}
    table = ReportTable(
        "T4", "Xác minh, xác định nạn nhân", "Identification status", list(SMALL_TEMPLATE)
    )
    table.rows.append(
        (
            "received",
            "Số người được tiếp nhận trong kỳ",
            "Received in the period",
            people(received_ids),
        )
    )
    for code, vi, en in (
        ("confirmed", "Trong đó: xác định là nạn nhân", "Of whom confirmed"),
        ("not_victim", "Trong đó: không phải nạn nhân", "Of whom not victims"),
    ):
        table.rows.append(
            (code, vi, en, people(cid for cid, found in outcome.items() if found == code))
        )
    table.rows.append(
        (
            "awaiting",
            "Còn đang xác minh cuối kỳ",
            "Still awaiting at the end",
            people(
                cid for cid, found in outcome.items() if found not in ("confirmed", "not_victim")
            ),
        )
    )
    for code, (vi, en) in labels["victim_doc"].items():
        if code == "none":
            continue
        table.rows.append(
            (
                f"doc_{code}",
                f"Giấy tờ đã cấp: {vi}",
                f"Document: {en}",
                people(
                    cid
                    for cid in received_ids
                    if outcome.get(cid) == "confirmed"
                    and latest.get(cid, {}).get("victim_doc_type") == code
                ),
            )
        )
    quick = []
    for cid in received_ids:
        started = parse_date(latest.get(cid, {}).get("verif_start_date"))
        reception = cases[cid][1]
        if started and reception and (started - reception).days <= VERIFICATION_DAYS:
            quick.append(cid)
    table.rows.append(
        (
            "verified_3_days",
            "Xác minh ban đầu trong 3 ngày",
            "Initial verification started within 3 days",
            people(quick),
        )
    )
    total = len(received_ids)
    share = f" ({100 * len(quick) / total:.0f}%)" if total else ""
    table.notes.append(f"Initial verification within 3 days: {len(quick)} of {total}{share}")
    return table


def table_t6(store: Store, scope: UnitScope, period: Period) -> ReportTable:
    """T6: follow-up and reintegration of cases (main persons)."""
    with store.reader() as session:
        cases = {row[0]: row for row in case_store.main_persons(session, scope, period.end)}
        visits = case_store.events_of_kind(session, scope, "followup", period.end)

    def people(ids: Iterable[int]) -> list[int]:
        return _small((cases[i][4], cases[i][5]) for i in ids if i in cases)

    def open_on(day: Any, row: tuple[Any, ...]) -> bool:
        reception, closed = row[1], row[2]
        return bool(reception and reception <= day and (closed is None or closed > day))

    before = period.start - timedelta(days=1)
    in_period = [(cid, summary or {}) for cid, day, summary in visits if period.contains(day)]
    reached = {cid for cid, summary in in_period if summary.get("contact_made") == "yes"}

    def reached_with(key: str, values: tuple[str, ...]) -> set[int]:
        return {cid for cid, summary in in_period if summary.get(key) in values}

    table = ReportTable(
        "T6", "Theo dõi, hỗ trợ tái hòa nhập", "Follow-up and reintegration", list(SMALL_TEMPLATE)
    )
    table.rows += [
        (
            "open_start",
            "Hồ sơ đang theo dõi đầu kỳ",
            "Cases open at the start",
            people(c for c, row in cases.items() if open_on(before, row)),
        ),
        (
            "new",
            "Hồ sơ mới trong kỳ",
            "New cases",
            people(c for c, row in cases.items() if period.contains(row[1])),
        ),
        (
            "visits",
            "Số lượt theo dõi",
            "Follow-up visits made",
            people(cid for cid, _ in in_period),
        ),
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
                    c for c, row in cases.items() if period.contains(row[2]) and row[3] == reason
                ),
            )
        )
    table.rows.append(
        (
            "open_end",
            "Hồ sơ đang theo dõi cuối kỳ",
            "Cases open at the end",
            people(c for c, row in cases.items() if open_on(period.end, row)),
        )
    )
    table.notes.append("Visits count each visit; the other rows count persons once.")
    return table


def build_tables(store: Store, scope: UnitScope, period: Period) -> list[ReportTable]:
    """Every report table for one period and scope."""
    labels = choice_labels()
    persons = received(store, scope, period)
    return [
        table_t1(persons, labels),
        table_t2(persons, labels),
        table_t3(persons, labels),
        table_t4(store, scope, period, labels),
        table_t5(store, scope, period, labels),
        table_t6(store, scope, period),
        table_t7(store, scope, period),
        table_t8(store, scope, period),
    ]
