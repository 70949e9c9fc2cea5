"""Report tables with counts worked out by hand, and the files they are written to."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook

from exports.periods import parse_period
from exports.reports import build_tables
from server.cli import main
from server.services.setup import initialise
from server.store.db import Store
from server.store.scope import UnitScope
from tests.factories import store_decrypted

H1 = parse_period("2025-H1")


def intake(
    code: str,
    day: str,
    channel: str,
    sex: str,
    age: int,
    purpose: str,
    destination: str,
    ethnicity: str = "kinh",
    nationality: str = "vn",
    minors: list[dict[str, str]] | None = None,
) -> dict[str, object]:
    return {
        "case_code": code,
        "reception": {
            "office_province": "01",
            "office_commune": "00004",
            "reception_date": day,
            "reception_channel": channel,
        },
        "core": {
            "sex": sex,
            "age_years": str(age),
            "purpose": purpose,
            "destination_country": destination,
            "nationality": nationality,
        },
        "pii": {"full_name": "Tên Giả", "ethnicity": ethnicity},
        "minors": minors or [],
    }


def seed(store: Store) -> None:
    """H1 2025: A (+1 minor), B, C, E; D is received in H2; E was received twice."""
    store_decrypted(
        store,
        "vt01_intake",
        intake(
            "01-2025-00001-01",
            "2025-02-10",
            "handover_foreign",
            "female",
            17,
            "forced_marriage",
            "cn",
            ethnicity="hmong",
            minors=[{"minor_index": "1", "minor_sex": "male", "minor_age_years": "2"}],
        ),
        "uuid:a",
    )
    store_decrypted(
        store,
        "vt02_verification",
        {
            "case_code": "01-2025-00001-01",
            "verif_outcome": "confirmed",
            "verif_start_date": "2025-02-11",
            "decision_date": "2025-02-12",
            "victim_doc_type": "police_certificate",
            "purpose_confirmed": "forced_marriage sexual_exploitation",
            "destination_confirmed": "cn",
        },
        "uuid:a-v",
    )
    store_decrypted(
        store,
        "vt05_followup",
        {
            "case_code": "01-2025-00001-01",
            "visit_date": "2025-05-10",
            "contact_made": "yes",
            "livelihood": "stable_job",
            "case_status": "follow_up",
        },
        "uuid:a-f",
    )
    store_decrypted(
        store,
        "vt01_intake",
        intake("01-2025-00002-02", "2025-03-01", "rescued", "male", 25, "forced_labour", "kh"),
        "uuid:b",
    )
    store_decrypted(
        store,
        "vt01_intake",
        intake(
            "01-2025-00003-03",
            "2025-04-15",
            "handover_foreign",
            "female",
            15,
            "sexual_exploitation",
            "cn",
        ),
        "uuid:c",
    )
    store_decrypted(
        store,
        "vt02_verification",
        {
            "case_code": "01-2025-00003-03",
            "verif_outcome": "confirmed",
            "verif_start_date": "2025-04-19",
            "decision_date": "2025-04-20",
            "destination_confirmed": "my",
        },
        "uuid:c-v",
    )
    store_decrypted(
        store,
        "vt05_followup",
        {
            "case_code": "01-2025-00002-02",
            "visit_date": "2025-06-01",
            "contact_made": "yes",
            "case_status": "closed_reintegrated",
        },
        "uuid:b-f",
    )
    store_decrypted(
        store,
        "vt01_intake",
        intake("01-2025-00004-04", "2025-08-01", "self_return", "female", 30, "unknown", "cn"),
        "uuid:d",
    )
    for instance, day in (("uuid:e1", "2025-01-05"), ("uuid:e2", "2025-06-30")):
        store_decrypted(
            store,
            "vt01_intake",
            intake(
                "01-2025-00005-05",
                day,
                "self_return",
                "female",
                40,
                "unknown",
                "unknown",
                ethnicity="unknown",
                nationality="la",
            ),
            instance,
        )
    for instance, kind, male, female in (
        ("uuid:o1", "school_session", 20, 25),
        ("uuid:o2", "school_session", 5, 5),
        ("uuid:o3", "community_meeting", 10, 12),
    ):
        store_decrypted(
            store,
            "vt06_outreach",
            {
                "session_date": "2025-05-01",
                "province": "01",
                "commune": "00004",
                "activity_type": kind,
                "n_male": str(male),
                "n_female": str(female),
                "n_under18": "3",
            },
            instance,
        )


def rows(table: object) -> dict[str, list[int]]:
    return {code: counts for code, _, _, counts in table.rows}  # type: ignore[attr-defined]


def test_tables_t1_t2_t3_t7(store: Store) -> None:
    seed(store)
    t1, t2, t3, t4, _t5, t6, t7, *_ = build_tables(store, UnitScope.all_units(), H1)
    # total | victim, being identified, not a victim | F M | <16 16-17 18-29 30-44 45-59 60+ unk
    # (| minors in T1). A: F17 victim (+1 minor); B: M25 being identified; C: F15 victim;
    # E: F40 being identified (received 5/1 and 30/6/2025, counted once).
    assert rows(t1)["handover_foreign"] == [2, 2, 0, 0, 2, 0, 1, 1, 0, 0, 0, 0, 0, 1]
    assert rows(t1)["self_return"] == [1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert rows(t1)["from_abroad"] == [3, 2, 1, 0, 3, 0, 1, 1, 0, 1, 0, 0, 0, 1]
    assert rows(t1)["rescued"] == [1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert rows(t1)["domestic"] == rows(t1)["rescued"]
    assert rows(t1)["total"] == [4, 2, 2, 0, 3, 1, 1, 1, 1, 1, 0, 0, 0, 1]
    leaves = [c for c in rows(t1) if c not in ("total", "from_abroad", "domestic")]
    assert sum(rows(t1)[code][0] for code in leaves) == 4
    # Verified purposes replace the intake's (A gains sexual exploitation).
    assert rows(t2)["sexual_exploitation"] == [2, 2, 0, 2, 0, 1, 1, 0, 0, 0, 0, 0]
    assert rows(t2)["forced_marriage"] == [1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert rows(t2)["forced_labour"] == [1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    assert rows(t2)["unknown"] == [1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0]
    assert rows(t2)["total"] == [4, 2, 2, 3, 1, 1, 1, 1, 1, 0, 0, 0]
    # C's country was confirmed as Malaysia: "other", named in a note.
    assert rows(t3)["cn"] == [1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert rows(t3)["kh"] == [1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    assert rows(t3)["other"] == [1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    assert rows(t3)["unknown"] == [1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0]
    assert t3.notes == ["Nước khác / Other countries: my"]
    #              total female under18 (main persons)
    assert rows(t4)["received"] == [4, 3, 2]
    assert rows(t4)["confirmed"] == [2, 2, 2]
    assert rows(t4)["not_victim"] == [0, 0, 0]
    assert rows(t4)["awaiting"] == [2, 1, 0]
    assert rows(t4)["doc_police_certificate"] == [1, 1, 1]
    assert rows(t4)["verified_3_days"] == [1, 1, 1]  # A in 1 day; C took 4
    assert t4.notes == ["Initial verification within 3 days: 1 of 4 (25%)"]
    # total, female, under 18 | victim, being identified, not a victim (at the end of H1)
    assert rows(t6)["open_start"] == [0, 0, 0, 0, 0, 0]
    assert rows(t6)["new"] == [4, 3, 2, 2, 2, 0]
    assert rows(t6)["visits"] == [2, 1, 1, 1, 1, 0]
    assert rows(t6)["reached"] == [2, 1, 1, 1, 1, 0]
    assert rows(t6)["stable_livelihood"] == [1, 1, 1, 1, 0, 0]
    assert rows(t6)["closed_reintegrated"] == [1, 0, 0, 0, 1, 0]
    assert rows(t6)["open_end"] == [3, 3, 2, 2, 1, 0]
    # activities, participants, female, male, <18, minority, communes, leaflets, posters
    assert rows(t7)["school_session"] == [2, 55, 30, 25, 6, 0, 1, 0, 0]
    assert rows(t7)["community_meeting"] == [1, 22, 12, 10, 3, 0, 1, 0, 0]
    assert rows(t7)["total"] == [3, 77, 42, 35, 9, 0, 1, 0, 0]


def test_scope_limits_the_counts(store: Store) -> None:
    seed(store)
    assert rows(build_tables(store, UnitScope.of_units(["79"]), H1)[0])["total"][0] == 0
    assert rows(build_tables(store, UnitScope.of_units(["00004"]), H1)[0])["total"][0] == 4


def test_no_identifier_reaches_a_table(store: Store) -> None:
    seed(store)
    text = repr([t.lines() + [t.notes] for t in build_tables(store, UnitScope.all_units(), H1)])
    assert "Tên Giả" not in text
    assert "01-2025-0000" not in text


def test_cli_writes_csv_and_one_workbook(
    store: Store, runner: CliRunner, config: object, tmp_path: Path
) -> None:
    initialise(config, store)  # type: ignore[arg-type]
    seed(store)
    result = runner.invoke(
        main, ["export", "report", "--period", "2025-H1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    t1 = (tmp_path / "2025-H1-T1.csv").read_text(encoding="utf-8")
    assert t1.startswith("\ufeffMã / Code,Nội dung / Item,")
    handover = "Do phía nước ngoài trao trả / Officially handed over by the foreign side"
    assert f"handover_foreign,{handover},2,2" in t1
    book = load_workbook(tmp_path / "2025-H1-report.xlsx")
    assert book.sheetnames == ["Báo cáo", "Report (EN)", *[f"T{n}" for n in range(1, 14)]]
    bad = runner.invoke(main, ["export", "report", "--period", "2025-H3", "--out", str(tmp_path)])
    assert bad.exit_code == 2


def test_completed_periods() -> None:
    from datetime import date

    from exports.periods import completed_periods

    assert [p.name for p in completed_periods(date(2026, 1, 15))] == ["2025-Q4", "2025-H2", "2025"]
    assert [p.name for p in completed_periods(date(2026, 8, 1))] == ["2026-Q2", "2026-H1", "2025"]


def test_scheduled_is_idempotent(store: Store, runner: CliRunner, config: object) -> None:
    initialise(config, store)  # type: ignore[arg-type]
    first = runner.invoke(main, ["export", "scheduled"])
    assert first.exit_code == 0, first.output
    assert first.output.strip().splitlines()[-1] == "3 reports written"
    again = runner.invoke(main, ["export", "scheduled"])
    assert again.output.strip() == "0 reports written"


def test_case_register_without_then_with_identifiers(
    store: Store, runner: CliRunner, config: object, tmp_path: Path
) -> None:
    initialise(config, store)  # type: ignore[arg-type]
    seed(store)
    out = tmp_path / "cases.csv"
    result = runner.invoke(main, ["export", "cases", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("\ufeffcase_code,status,province_code,")
    assert len(lines) == 1 + 5
    assert "Tên Giả" not in out.read_text(encoding="utf-8")
    row_a = next(line for line in lines if line.startswith("01-2025-00001-01"))
    assert row_a.startswith("01-2025-00001-01,follow_up,01,00004,2025-02-10,")
    refused = runner.invoke(main, ["export", "cases", "--out", str(out), "--include-identifiers"])
    assert refused.exit_code == 2
    shown = runner.invoke(
        main,
        [
            "export",
            "cases",
            "--out",
            str(out),
            "--include-identifiers",
            "--reason",
            "court request 12/2025",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert "Tên Giả" in out.read_text(encoding="utf-8")


def test_tables_t5_and_t8(store: Store) -> None:
    # Supports count once their cases' intakes are in (a support of a code nobody holds waits).
    for code, instance in (("01-2025-00001-01", "uuid:i1"), ("01-2025-00002-02", "uuid:i2")):
        store_decrypted(
            store,
            "vt01_intake",
            intake(code, "2025-02-01", "rescued", "female", 20, "forced_labour", "cn"),
            instance,
        )
    store_decrypted(
        store,
        "vt04_support",
        {
            "case_code": "01-2025-00001-01",
            "person_index": "0",
            "support_item": [
                {"support_date": "2025-02-15", "support_type": "ess_food", "amount_vnd": "600000"},
                {"support_date": "2025-02-16", "support_type": "ess_food", "amount_vnd": "400000"},
                {"support_date": "2025-02-16", "support_type": "medical"},
                {"support_date": "2025-08-01", "support_type": "medical"},
            ],
        },
        "uuid:s1",
    )
    store_decrypted(
        store,
        "vt04_support",
        {
            "case_code": "01-2025-00002-02",
            "person_index": "0",
            "support_item": [
                {"support_date": "2025-03-01", "support_type": "ess_food", "amount_vnd": "300000"}
            ],
        },
        "uuid:s2",
    )
    for instance, sex, age, risk, suspected, actions in (
        ("uuid:k1", "female", "16", "high", "yes", "referred hotline_given"),
        ("uuid:k2", "female", "30", "medium", "no", "info_given"),
        ("uuid:k3", "male", "17", "low", "no", "none"),
    ):
        store_decrypted(
            store,
            "vt07_screening",
            {
                "screen_date": "2025-04-01",
                "province": "01",
                "sex": sex,
                "age_years": age,
                "risk_level": risk,
                "suspected_current": suspected,
                "actions_taken": actions,
            },
            instance,
        )
    tables = {t.code: t for t in build_tables(store, UnitScope.all_units(), H1)}
    # persons supported, times given, amount (the August item is outside H1) | victim, being
    # identified, not a victim, minors | F M | <16 16-17 18-29 30-44 45-59 60+ unk
    both = [0, 2, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0]
    assert rows(tables["T5"])["ess_food"] == [2, 3, 1_300_000, *both]
    assert rows(tables["T5"])["medical"] == [1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]
    assert rows(tables["T5"])["legal_aid"] == [0] * 16
    assert rows(tables["T5"])["total"] == [2, 4, 1_300_000, *both]
    # total, female, male, under 18
    assert rows(tables["T8"])["screened"] == [3, 2, 1, 2]
    assert rows(tables["T8"])["high"] == [1, 1, 0, 1]
    assert rows(tables["T8"])["medium"] == [1, 1, 0, 0]
    assert rows(tables["T8"])["suspected"] == [1, 1, 0, 1]
    assert rows(tables["T8"])["referred"] == [1, 1, 0, 1]
    assert rows(tables["T8"])["informed"] == [2, 2, 0, 1]


def test_2026_codes_and_the_anonymous_core_count(store: Store) -> None:
    """Intakes on the 2026 forms: a channel and a closure reason added in 2026, and the ethnic
    minority answer of the anonymous core counting a person who refused consent."""
    refused = intake(
        "01-2026-00011-11",
        "2026-03-02",
        "transfer_other_province",
        "female",
        19,
        "money_benefit",
        "cn",
    )
    refused["core"] |= {"ethnic_minority": "yes", "disability": "no", "res_province": "08"}
    refused["core"]["purpose_detail"] = "child_sale"
    del refused["pii"]  # consent refused: no identity, no ethnicity
    store_decrypted(store, "vt01_intake", refused, "uuid:f")
    majority = intake(
        "01-2026-00012-12", "2026-03-03", "rescued", "male", 30, "forced_labour", "kh"
    )
    majority["core"]["ethnic_minority"] = "no"
    majority["pii"]["ethnicity"] = "unknown"
    store_decrypted(store, "vt01_intake", majority, "uuid:g")
    store_decrypted(
        store,
        "vt05_followup",
        {
            "case_code": "01-2026-00011-11",
            "visit_date": "2026-04-01",
            "contact_made": "yes",
            "case_status": "closed_repatriated",
        },
        "uuid:f-f",
    )
    t1, t2, _t3, _t4, _t5, t6, *_, t11, _t12, _t13 = build_tables(
        store, UnitScope.all_units(), parse_period("2026-H1")
    )
    # total | victim, being identified, not a victim | F M | <16 16-17 18-29 30-44 45-59 60+ unk
    assert rows(t1)["transfer_other_province"] == [1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert rows(t1)["rescued"] == [1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]
    assert rows(t2)["money_benefit"] == [1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0]
    # The refusing person's anonymous core says ethnic minority; the other says no.
    assert rows(t11)["ethnic_minority"] == [1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]
    assert rows(t6)["closed_repatriated"] == [1, 1, 0, 0, 1, 0]
    labels = {code: vi for code, vi, _, _ in t1.rows}
    assert labels["transfer_other_province"] == "Do tỉnh khác chuyển đến"
