"""The statutory report of 2026-H1 (15/12/2025-14/6/2026) for two units, every cell worked out
by hand from the persons written out below.

Unit 01 (Hà Nội, commune 00004):
- A  intake 14/12/2025 (the day before the window): F 20, handed over, verified victim 5/1/2026;
     supports on 10/12/2025, 20/12/2025 and 20/6/2026 in one submission (spans three windows).
- B  intake 15/12/2025 (first day): M 17, rescued, resident in 01, verified victim 10/1/2026
     (verification started 16/12, within 3 days); trafficked within Viet Nam.
- C  intake 14/6/2026 (last day): F 30, returned on her own, resident in 08 (another province),
     ethnic minority, disability; one accompanying minor (F 4); no verification yet.
- D  intake 15/6/2026 (the day after): not in this report.
- E  intake 1/2/2026: F 45, reported herself, resident in 01; verified not a victim 1/3/2026;
     closed (referred) at a follow-up on 5/3/2026.
- F  intake 10/3/2026: M 62, handed over, resident in 01, verification pending from 12/3;
     found not a victim on 20/6/2026, after the window: still being identified here.
- G  intake 1/4/2026: F 15, Lao national trafficked in Viet Nam, no residence in Viet Nam;
     transferred to unit 79, which verified her a victim on 20/4 and counselled her on 1/5:
     counted once, by unit 01.
Unit 79 (Hồ Chí Minh, commune 25747):
- H  intake 20/1/2026: F 22, handed over by another province, resident in 01; verified victim
     1/2 (started 21/1); legal aid and food on 5/2.
- I  intake 5/5/2026: sex and age not recorded, rescued, resident in 79; no verification.
Outreach, training and contacts are listed with their unit where they are stored.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from exports.periods import parse_period
from exports.report_json import MergeError, merge, report_document
from exports.reports import ReportTable, build_tables
from forms.admin_units import DEFAULT_PATH
from server.cli import main
from server.clock import utcnow
from server.services import holdings
from server.services.setup import initialise
from server.store.db import Store
from server.store.scope import UnitScope
from tests.factories import store_decrypted

H1 = parse_period("2026-H1")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def intake(
    code: str,
    day: str,
    channel: str,
    sex: str | None,
    age: int | None,
    purpose: str,
    destination: str,
    *,
    unit: tuple[str, str] = ("01", "00004"),
    residence: str | None = None,
    minority: str = "no",
    disability: str = "no",
    nationality: str = "vn",
    minors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    core: dict[str, Any] = {
        "purpose": purpose,
        "destination_country": destination,
        "nationality": nationality,
        "ethnic_minority": minority,
        "disability": disability,
    }
    if sex:
        core["sex"] = sex
    if age is not None:
        core["age_years"] = str(age)
    if residence:
        core["res_province"] = residence
    return {
        "case_code": code,
        "reception": {
            "office_province": unit[0],
            "office_commune": unit[1],
            "reception_date": day,
            "reception_channel": channel,
        },
        "core": core,
        "pii": {"full_name": "Người Thử"},
        "minors": minors or [],
    }


def verification(code: str, outcome: str, start: str, decision: str | None, **more: str) -> dict:
    data = {"case_code": code, "verif_outcome": outcome, "verif_start_date": start}
    if decision:
        data["decision_date"] = decision
    return data | more


A, B, C, D = "01-2025-00001-01", "01-2025-00002-02", "01-2026-00003-03", "01-2026-00004-04"
E, F, G = "01-2026-00005-05", "01-2026-00006-06", "01-2026-00007-07"
H, I = "79-2026-00008-08", "79-2026-00009-09"  # noqa: E741 - the persons are A..I
HCM = ("79", "25747")


def seed(store: Store) -> None:
    """The persons, supports, follow-ups, outreach and contacts of the module docstring."""
    for data, instance in (
        (intake(A, "2025-12-14", "handover_foreign", "female", 20, "forced_labour", "cn"), "a"),
        (
            intake(B, "2025-12-15", "rescued", "male", 17, "forced_labour", "vn", residence="01"),
            "b",
        ),
        (
            intake(
                C,
                "2026-06-14",
                "self_return",
                "female",
                30,
                "sexual_exploitation",
                "cn",
                residence="08",
                minority="yes",
                disability="yes",
                minors=[{"minor_index": "1", "minor_sex": "female", "minor_age_years": "4"}],
            ),
            "c",
        ),
        (intake(D, "2026-06-15", "self_return", "female", 25, "forced_labour", "cn"), "d"),
        (
            intake(
                E,
                "2026-02-01",
                "self_reported_domestic",
                "female",
                45,
                "other_inhumane",
                "vn",
                residence="01",
            ),
            "e",
        ),
        (
            intake(
                F,
                "2026-03-10",
                "handover_foreign",
                "male",
                62,
                "forced_labour organ_removal",
                "kh",
                residence="01",
            ),
            "f",
        ),
        (
            intake(
                G,
                "2026-04-01",
                "foreign_victim_in_vn",
                "female",
                15,
                "sexual_exploitation",
                "vn",
                nationality="la",
            ),
            "g",
        ),
    ):
        store_decrypted(store, "vt01_intake", data, f"uuid:{instance}")
    for data, instance in (
        (verification(A, "confirmed", "2025-12-20", "2026-01-05"), "a-v"),
        (
            verification(
                B,
                "confirmed",
                "2025-12-16",
                "2026-01-10",
                purpose_confirmed="forced_labour",
                destination_confirmed="vn",
            ),
            "b-v",
        ),
        (verification(E, "not_victim", "2026-02-20", "2026-03-01"), "e-v"),
        (verification(F, "pending", "2026-03-12", None), "f-v1"),
        (verification(F, "not_victim", "2026-03-12", "2026-06-20"), "f-v2"),
    ):
        store_decrypted(store, "vt02_verification", data, f"uuid:{instance}")
    store_decrypted(
        store,
        "vt04_support",
        {
            "case_code": A,
            "person_index": "0",
            "support_item": [
                {"support_date": "2025-12-10", "support_type": "ess_food", "amount_vnd": "500000"},
                {"support_date": "2025-12-20", "support_type": "ess_food", "amount_vnd": "300000"},
                {"support_date": "2026-06-20", "support_type": "med_treatment"},
            ],
        },
        "uuid:a-s",
    )
    for code, day, status, instance in (
        (B, "2026-05-01", "follow_up", "b-f"),
        (E, "2026-03-05", "closed_referred", "e-f"),
        (A, "2026-06-20", "follow_up", "a-f"),
    ):
        store_decrypted(
            store,
            "vt05_followup",
            {
                "case_code": code,
                "visit_date": day,
                "contact_made": "yes",
                "livelihood": "stable_job" if code == B else "unemployed",
                "case_status": status,
            },
            f"uuid:{instance}",
        )
    with store.session() as session:
        holdings.transfer(session, G, "79", "admin")
    store_decrypted(
        store,
        "vt02_verification",
        verification(
            G,
            "confirmed",
            "2026-04-10",
            "2026-04-20",
            purpose_confirmed="sexual_exploitation",
            destination_confirmed="vn",
            victim_doc_type="police_certificate",
        ),
        "uuid:g-v",
        unit="79",
    )
    store_decrypted(
        store,
        "vt04_support",
        {
            "case_code": G,
            "person_index": "0",
            "support_item": [{"support_date": "2026-05-01", "support_type": "psych_counselling"}],
        },
        "uuid:g-s",
        unit="79",
    )
    # Unit 79's own cases.
    store_decrypted(
        store,
        "vt01_intake",
        intake(
            H,
            "2026-01-20",
            "transfer_other_province",
            "female",
            22,
            "sexual_exploitation",
            "cn",
            unit=HCM,
            residence="01",
        ),
        "uuid:h",
        unit="79",
    )
    store_decrypted(
        store,
        "vt02_verification",
        verification(H, "confirmed", "2026-01-21", "2026-02-01"),
        "uuid:h-v",
        unit="79",
    )
    store_decrypted(
        store,
        "vt04_support",
        {
            "case_code": H,
            "person_index": "0",
            "support_item": [
                {"support_date": "2026-02-05", "support_type": "legal_aid"},
                {"support_date": "2026-02-05", "support_type": "ess_food", "amount_vnd": "600000"},
            ],
        },
        "uuid:h-s",
        unit="79",
    )
    store_decrypted(
        store,
        "vt01_intake",
        intake(
            I, "2026-05-05", "rescued", None, None, "unknown", "unknown", unit=HCM, residence="79"
        ),
        "uuid:i",
        unit="79",
    )
    # Outreach: a talk and a training in 01 (and one the day before the window), a talk in 79.
    for day, kind, male, female, under18, trainees, unit, commune, instance in (
        ("2025-12-14", "talk", 50, 50, 0, [], "01", "00004", "o0"),
        ("2026-01-15", "talk", 10, 15, 5, [], "01", "00004", "o1"),
        (
            "2026-03-01",
            "training",
            8,
            7,
            0,
            [("village_head", 12), ("swc_collaborator", 3)],
            "01",
            "00004",
            "o2",
        ),
        ("2026-02-10", "talk", 4, 6, 0, [], "79", "25747", "o3"),
    ):
        store_decrypted(
            store,
            "vt06_outreach",
            {
                "session_date": day,
                "province": unit,
                "commune": commune,
                "activity_type": kind,
                "n_male": str(male),
                "n_female": str(female),
                "n_under18": str(under18),
                "trainees": [
                    {"trainee_role": role, "trainee_count": str(n)} for role, n in trainees
                ],
            },
            f"uuid:{instance}",
            unit=unit,
        )
    for day, channel, suspected, actions, unit, instance in (
        ("2026-01-02", "hotline_111", "yes", "advice referral_police", "01", "k1"),
        ("2026-06-14", "walk_in", "no", "advice", "01", "k2"),
        ("2026-06-15", "walk_in", "yes", "advice", "01", "k3"),  # after the window
        ("2026-03-03", "province_line", "yes", "rescue_request", "79", "k4"),
    ):
        store_decrypted(
            store,
            "vt08_contact",
            {
                "contact_date": day,
                "province": unit,
                "contact_channel": channel,
                "caller_type": "relative",
                "suspected_trafficking": suspected,
                "actions_taken": actions,
            },
            f"uuid:{instance}",
            unit=unit,
        )


def communes_of(province: str) -> int:
    with DEFAULT_PATH.open(encoding="utf-8") as handle:
        return sum(1 for row in csv.DictReader(handle) if row["province_code"] == province)


def check(table: ReportTable, expected: dict[str, list[int]]) -> None:
    """Every row of `table` is as expected; rows not named are all zeros."""
    width = len(table.columns)
    for code, _, _, counts in table.rows:
        assert counts == expected.get(code, [0] * width), (table.code, code)
    assert set(expected) <= {code for code, _, _, _ in table.rows}, table.code


# T1, T9, T10, T11 columns: total | victim, being identified, not a victim | F M |
# <16 16-17 18-29 30-44 45-59 60+ unk (| accompanying minors in T1).
# T2, T3: the same without "not a victim".
UNIT_01 = {
    "T1": {
        "handover_foreign": [1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0],  # F
        "self_return": [1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1],  # C and her child
        "from_abroad": [2, 0, 2, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 1],
        "rescued": [1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0],  # B
        "self_reported_domestic": [1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0],  # E
        "domestic": [2, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0],
        "foreign_victim_in_vn": [1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0],  # G
        "total": [5, 2, 2, 1, 3, 2, 1, 1, 0, 1, 1, 1, 0, 1],
    },
    "T2": {
        "forced_labour": [2, 1, 1, 0, 2, 0, 1, 0, 0, 0, 1, 0],  # B, F
        "organ_removal": [1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0],  # F
        "sexual_exploitation": [2, 1, 1, 2, 0, 1, 0, 0, 1, 0, 0, 0],  # C, G
        "total": [4, 2, 2, 2, 2, 1, 1, 0, 1, 0, 1, 0],  # E is not a victim
    },
    "T3": {
        "vn": [2, 2, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0],  # B, G
        "cn": [1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0],  # C
        "kh": [1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0],  # F
        "total": [4, 2, 2, 2, 2, 1, 1, 0, 1, 0, 1, 0],
    },
    # total, female, under 18
    "T4": {
        "received": [5, 3, 2],
        "confirmed": [2, 1, 2],  # B, G
        "not_victim": [1, 1, 0],  # E
        "awaiting": [2, 1, 0],  # C, F
        "doc_police_certificate": [1, 1, 1],  # G
        "verified_3_days": [2, 0, 1],  # B (1 day), F (2 days)
    },
    # persons, times, amount | victim, being identified, not a victim, minors | F M | ages
    "T5": {
        "ess_food": [1, 1, 300_000, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],  # A on 20/12
        "psych_counselling": [1, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0],  # G, by 79
        "total": [2, 2, 300_000, 2, 0, 0, 0, 2, 0, 1, 0, 1, 0, 0, 0, 0],
    },
    # total, female, under 18 | victim, being identified, not a victim (main persons received
    # by the end: A B C E F G; status at the end)
    "T6": {
        "open_start": [1, 1, 0, 1, 0, 0],  # A, received 14/12/2025
        "new": [5, 3, 2, 2, 2, 1],
        "visits": [2, 1, 1, 1, 0, 1],  # B, E (A's visit is on 20/6)
        "reached": [2, 1, 1, 1, 0, 1],
        "stable_livelihood": [1, 0, 1, 1, 0, 0],  # B
        "closed_referred": [1, 1, 0, 0, 0, 1],  # E
        "open_end": [5, 3, 2, 3, 2, 0],  # A B C F G
    },
    # sessions, participants, F, M, <18, minority, communes, leaflets, posters
    "T7": {
        "talk": [1, 25, 15, 10, 5, 0, 1, 0, 0],
        "training": [1, 15, 7, 8, 0, 0, 1, 0, 0],
        "total": [2, 40, 22, 18, 5, 0, 1, 0, 0],
        "communes_of_units": [0, 0, 0, 0, 0, 0, communes_of("01"), 0, 0],
    },
    "T8": {},
    "T9": {
        "00004": [5, 2, 2, 1, 3, 2, 1, 1, 0, 1, 1, 1, 0],  # G included: received here
        "total": [5, 2, 2, 1, 3, 2, 1, 1, 0, 1, 1, 1, 0],
    },
    "T10": {
        "same": [3, 1, 1, 1, 1, 2, 0, 1, 0, 0, 1, 1, 0],  # B, E, F
        "other_provinces": [1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0],  # C
        "p08": [1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0],
        "no_residence": [1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0],  # G
        "total": [5, 2, 2, 1, 3, 2, 1, 1, 0, 1, 1, 1, 0],
    },
    "T11": {
        "disability": [1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0],  # C
        "ethnic_minority": [1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0],  # C
        "foreign": [1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0],  # G
        "received": [5, 2, 2, 1, 3, 2, 1, 1, 0, 1, 1, 1, 0],
    },
    # sessions with the role, persons trained
    "T12": {"village_head": [1, 12], "swc_collaborator": [1, 3], "total": [1, 15]},
    # contacts, suspected, advice, referral to police, referral to support, rescue request
    "T13": {
        "hotline_111": [1, 1, 1, 1, 0, 0],
        "walk_in": [1, 0, 1, 0, 0, 0],
        "total": [2, 1, 2, 1, 0, 0],
    },
}
UNIT_79 = {
    "T1": {
        "transfer_other_province": [1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0],  # H
        "rescued": [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],  # I: sex, age unknown
        "domestic": [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        "total": [2, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0],
    },
    "T2": {
        "sexual_exploitation": [1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],
        "unknown": [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        "total": [2, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1],
    },
    "T3": {
        "cn": [1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],
        "unknown": [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        "total": [2, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1],
    },
    "T4": {
        "received": [2, 1, 0],
        "confirmed": [1, 1, 0],
        "awaiting": [1, 0, 0],
        "verified_3_days": [1, 1, 0],
    },
    "T5": {
        "ess_food": [1, 1, 600_000, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],
        "legal_aid": [1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],
        "total": [1, 2, 600_000, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],
    },
    "T6": {"new": [2, 1, 0, 1, 1, 0], "open_end": [2, 1, 0, 1, 1, 0]},
    "T7": {
        "talk": [1, 10, 6, 4, 0, 0, 1, 0, 0],
        "total": [1, 10, 6, 4, 0, 0, 1, 0, 0],
        "communes_of_units": [0, 0, 0, 0, 0, 0, communes_of("79"), 0, 0],
    },
    "T8": {},
    "T9": {
        "25747": [2, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
        "total": [2, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
    },
    "T10": {
        "same": [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],  # I
        "other_provinces": [1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],  # H, from 01
        "p01": [1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0],
        "total": [2, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
    },
    "T11": {"received": [2, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]},
    "T12": {},
    "T13": {"province_line": [1, 1, 0, 0, 0, 1], "total": [1, 1, 0, 0, 0, 1]},
}
TOTALS_01 = {"T1": 5, "T2": 4, "T3": 4, "T4": 5, "T5": 2, "T6": 5, "T7": 2, "T8": 0}
TOTALS_01 |= {"T9": 5, "T10": 5, "T11": 5, "T12": 15, "T13": 2}


@pytest.mark.parametrize(("unit", "expected"), [("01", UNIT_01), ("79", UNIT_79)])
def test_every_cell_of_both_units(store: Store, unit: str, expected: dict) -> None:
    seed(store)
    tables = build_tables(store, UnitScope.of_units([unit]), H1)
    assert [t.code for t in tables] == [f"T{n}" for n in range(1, 14)]
    for table in tables:
        check(table, expected[table.code])
    if unit == "01":
        assert {t.code: t.total for t in tables} == TOTALS_01
        t4 = tables[3]
        assert t4.notes == ["Initial verification within 3 days: 2 of 5 (40%)"]
        t7 = tables[6]
        assert t7.notes[0].startswith(
            f"Xã, phường được truyền thông / Communes reached: 1 / {communes_of('01')} ("
        )
    text = repr([t.lines() + [t.notes] for t in tables])
    assert "Người Thử" not in text
    assert "-2026-0000" not in text
    assert "-2025-0000" not in text


def _cells(document: dict) -> dict:
    return {
        table["id"]: ({row["key"]: row["values"] for row in table["rows"]}, table["total"])
        for table in document["tables"]
    }


def test_merge_of_two_units_equals_the_report_of_both(store: Store) -> None:
    seed(store)
    now = utcnow()
    one = report_document(build_tables(store, UnitScope.of_units(["01"]), H1), H1, "01", now)
    two = report_document(build_tables(store, UnitScope.of_units(["79"]), H1), H1, "79", now)
    both = report_document(
        build_tables(store, UnitScope.of_units(["01", "79"]), H1), H1, "01,79", now
    )
    merged = merge([json.loads(json.dumps(one)), json.loads(json.dumps(two))], now)
    assert _cells(merged) == _cells(both)
    assert merged["unit"] == "01,79"
    assert merged["period"] == {"code": "2026-H1", "start": "2025-12-15", "end": "2026-06-14"}
    for table in merged["tables"]:  # rows only one unit has come before the totals
        keys = [row["key"] for row in table["rows"]]
        if "total" in keys:
            assert set(keys[keys.index("total") + 1 :]) <= {"communes_of_units"}, table["id"]
    # The shape of the issue, exactly.
    assert set(one) == {"period", "unit", "generated_at", "definitions_version", "tables"}
    first = one["tables"][0]
    assert set(first) == {"id", "title", "columns", "rows", "total"}
    assert first["id"] == "T1"
    assert set(first["rows"][0]) == {"key", "label", "values"}
    assert set(first["title"]) == {"vi", "en"}
    # Refusals: another definitions version, another period, the same unit twice.
    with pytest.raises(MergeError, match="definitions version"):
        merge([one, two | {"definitions_version": "2025.1"}], now)
    with pytest.raises(MergeError, match="reports"):
        merge([one, two | {"period": {"code": "2026", "start": "x", "end": "y"}}], now)
    with pytest.raises(MergeError, match="twice"):
        merge([one, one], now)


def test_cli_report_window_json_merge_and_the_signable_workbook(
    store: Store, runner: CliRunner, config: object, tmp_path: Path
) -> None:
    initialise(config, store)  # type: ignore[arg-type]
    seed(store)
    outputs = {}
    for unit in ("01", "79"):
        out = tmp_path / unit
        result = runner.invoke(
            main,
            [
                "export",
                "report",
                "--period",
                "2026-H1",
                "--unit",
                unit,
                "--out",
                str(out),
                "--place",
                "Hà Nội",
            ],
        )
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[0] == (
            "2026-H1: 15/12/2025 - 14/6/2026 (state reporting window)"
        )
        outputs[unit] = out
    calendar = runner.invoke(
        main,
        ["export", "report", "--period", "2026-H1", "--calendar", "--out", str(tmp_path / "c")],
    )
    assert calendar.output.splitlines()[0] == "2026-H1: 1/1/2026 - 30/6/2026 (calendar period)"
    merged = tmp_path / "province.json"
    result = runner.invoke(
        main,
        [
            "export",
            "merge-reports",
            str(outputs["01"] / "report.json"),
            str(outputs["79"] / "report.json"),
            "--out",
            str(merged),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(merged.read_text(encoding="utf-8"))
    assert _cells(document)["T1"][0]["total"]["total"] == 7
    other = json.loads((outputs["79"] / "report.json").read_text(encoding="utf-8"))
    other["definitions_version"] = "1999.1"
    (tmp_path / "old.json").write_text(json.dumps(other), encoding="utf-8")
    refused = runner.invoke(
        main,
        [
            "export",
            "merge-reports",
            str(outputs["01"] / "report.json"),
            str(tmp_path / "old.json"),
            "--out",
            str(tmp_path / "no.json"),
        ],
    )
    assert refused.exit_code == 2
    assert "definitions version" in refused.output
    assert not (tmp_path / "no.json").exists()

    xlsx = outputs["01"] / "2026-H1-report.xlsx"
    book = load_workbook(xlsx)
    sheet = book["Báo cáo"]
    texts = [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
    for wanted in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập – Tự do – Hạnh phúc",
        "THÀNH PHỐ HÀ NỘI",
        "Kỳ báo cáo: từ 15/12/2025 đến 14/6/2026",
        "NGƯỜI LẬP BIỂU",
        "THỦ TRƯỞNG ĐƠN VỊ",
    ):
        assert wanted in texts, wanted
    assert any(t.startswith("Biểu 1 (T1). ") for t in texts)
    assert any(t.startswith("Biểu 13 (T13). ") for t in texts)
    assert any(t.startswith("BÁO CÁO 6 THÁNG") for t in texts)
    assert any(t.startswith("Hà Nội, ngày ") for t in texts)
    assert sheet.page_setup.orientation == "landscape"
    assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4)
    assert sheet.page_setup.fitToWidth == 1
    fonts = {c.font.name for row in sheet.iter_rows() for c in row if c.value is not None}
    assert fonts == {"Times New Roman"}
    total_row = next(
        row for row in sheet.iter_rows() if row[0].value == "Tổng cộng" and row[1].value == 5
    )
    assert total_row[0].font.bold
    assert book["Report (EN)"]["A1"].value == "Thành phố Hà Nội"
    _render_first_page(xlsx, tmp_path)


def _render_first_page(xlsx: Path, tmp_path: Path) -> None:
    """LibreOffice opens the workbook and prints it; page 1 is kept as a PNG to look at."""
    soffice, pdftoppm = shutil.which("soffice"), shutil.which("pdftoppm")
    if not soffice or not pdftoppm:
        pytest.skip("LibreOffice or poppler-utils missing (scripts/office-deps.sh installs them)")
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(xlsx),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = tmp_path / (xlsx.stem + ".pdf")
    assert pdf.exists()
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    # pdftotext may split a word where the substitute font kerns ("đ ến"): compare unspaced
    assert "Kỳbáocáo:từ15/12/2025đến14/6/2026" in "".join(text.split())
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        [
            pdftoppm,
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(ARTIFACTS / "report-2026-H1-page1"),
        ],
        check=True,
        timeout=60,
    )
    assert (ARTIFACTS / "report-2026-H1-page1.png").stat().st_size > 10_000


def test_suppression_protects_every_sum_the_tables_declare(store: Store) -> None:
    from exports.suppression import suppress

    seed(store)
    for table in build_tables(store, UnitScope.of_units(["01", "79"]), H1):
        published = suppress(table, threshold=5)
        codes = [code for code, _, _ in table.columns]
        keys = [key for key, _, _, _ in table.rows]
        shown = {key: counts for key, _, _, counts in published.rows}
        true = {key: counts for key, _, _, counts in table.rows}
        for counts in shown.values():
            assert not any(isinstance(v, int) and 0 < v < 5 for v in counts), table.code
        sums = [
            [(key, codes.index(m)), *[(key, codes.index(p)) for p in parts if p in codes]]
            for m, parts in table.column_sums
            for key in keys
        ] + [
            [(m, c), *[(p, c) for p in parts if p in keys]]
            for m, parts in table.row_sums
            if m in keys
            for c in range(len(codes))
        ]
        for marginal, *parts in sums:
            hidden = [c for c in (marginal, *parts) if not isinstance(shown[c[0]][c[1]], int)]
            if len(hidden) != 1:
                continue
            # One hidden cell in a sum: a reader works it out when the sum holds exactly (sex
            # columns do not when someone's sex is unknown).
            values = {cell: true[cell[0]][cell[1]] for cell in (marginal, *parts)}
            if hidden[0] == marginal:
                worked_out = sum(values[p] for p in parts)
            else:
                worked_out = values[marginal] - sum(values[p] for p in parts if p != hidden[0])
            assert worked_out != values[hidden[0]], (table.code, marginal, parts)
