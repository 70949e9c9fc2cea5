"""The consent rules (forms/consent.py): the age rule, what the latest decision means, and
what each form's answers record."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from forms import consent as rules
from forms.consent import Decision, decisions_in, standing
from forms.workbook import read_workbook

XLSFORMS = Path(__file__).resolve().parents[2] / "forms" / "xlsforms"


@pytest.mark.parametrize(
    ("given_by", "age", "flag"),
    [
        ("self", 30, None),
        ("both", 30, None),
        ("legal_rep", 30, rules.ADULT_NOT_ASKED),
        ("self", 18, None),
        ("self", 17, rules.NO_LEGAL_REP),
        ("legal_rep", 15, rules.CHILD_NOT_ASKED),  # a 15-year-old must agree as well
        ("both", 15, None),
        ("legal_rep", 7, rules.CHILD_NOT_ASKED),
        ("legal_rep", 6, None),
        ("both", 6, None),
        ("self", 6, rules.NO_LEGAL_REP),
        ("self", None, rules.AGE_UNKNOWN),
        ("both", None, None),
        (None, 30, rules.NO_GIVER),
    ],
)
def test_age_rule(given_by: str | None, age: int | None, flag: str | None) -> None:
    assert rules.age_rule_flag("yes", given_by, age) == flag


def test_a_refusal_always_counts() -> None:
    for given_by in (None, "self", "legal_rep", "both"):
        for age in (None, 5, 15, 40):
            assert rules.age_rule_flag("no", given_by, age) is None


def test_required_givers() -> None:
    assert rules.required_givers(15) == ("both",)
    assert rules.required_givers(5) == ("legal_rep", "both")
    assert rules.required_givers(40) == ("self", "both")


def test_age_on_adds_whole_years() -> None:
    assert rules.age_on(17, date(2025, 3, 1), date(2026, 2, 28)) == 17
    assert rules.age_on(17, date(2025, 3, 1), date(2026, 3, 1)) == 18
    assert rules.age_on(17, None, date(2026, 3, 1)) == 17


def _d(purpose: str, answer: str, on: str, by: str = "self", age: int = 30, **kw: str) -> Decision:
    return Decision(purpose, answer, by, age, date.fromisoformat(on), kw.get("recipient"))


def test_latest_decision_counts_and_no_after_yes_is_withdrawn() -> None:
    given = _d("intake", "yes", "2025-01-01")
    withdrawn = _d("intake", "no", "2025-02-01")
    assert standing([given], "intake").state == rules.GIVEN
    assert standing([given, withdrawn], "intake").state == rules.WITHDRAWN
    assert standing([withdrawn], "intake").state == rules.REFUSED
    again = _d("intake", "yes", "2025-03-01")
    assert standing([again, withdrawn, given], "intake").allows


def test_silence_is_not_consent() -> None:
    assert standing([], "data_use").state == rules.NOT_ASKED
    assert not standing([_d("intake", "yes", "2025-01-01")], "data_use").allows


def test_a_15_year_old_with_only_the_representative_is_flagged_and_not_given() -> None:
    found = standing([_d("intake", "yes", "2025-01-01", by="legal_rep", age=15)], "intake")
    assert found.state == rules.INVALID
    assert found.flag == rules.CHILD_NOT_ASKED
    assert not found.allows


def test_referral_is_per_recipient_type() -> None:
    decisions = [
        _d("intake", "yes", "2025-01-01"),
        _d("referral", "yes", "2025-01-01", recipient="swc"),
    ]
    assert standing(decisions, "referral", "swc").allows
    assert not standing(decisions, "referral", "police").allows
    # A yes naming no recipient is not specific: nothing given.
    blanket = [_d("intake", "yes", "2025-01-01"), _d("referral", "yes", "2025-01-01")]
    assert standing(blanket, "referral", "swc").state == rules.INVALID
    # A later refusal naming no recipient refuses every one.
    refused = [*decisions, _d("referral", "no", "2025-02-01")]
    assert standing(refused, "referral", "swc").state == rules.WITHDRAWN
    with pytest.raises(ValueError, match="per recipient"):
        standing(decisions, "referral")


def test_identity_purposes_stop_with_the_intake_consent() -> None:
    decisions = [
        _d("intake", "yes", "2025-01-01"),
        _d("followup_contact", "yes", "2025-01-01"),
        _d("data_use", "yes", "2025-01-01"),
    ]
    assert standing(decisions, "followup_contact").allows
    decisions.append(_d("intake", "no", "2025-05-01"))
    assert standing(decisions, "followup_contact").state == rules.SUSPENDED
    assert standing(decisions, "data_use").allows  # non-identifying: its own decision


def test_same_day_ties_are_broken_by_recording_order() -> None:
    first = Decision("intake", "yes", "self", 30, date(2025, 1, 1), order=(1,))
    second = Decision("intake", "no", "self", 30, date(2025, 1, 1), order=(2,))
    assert standing([second, first], "intake").state == rules.WITHDRAWN


def test_intake_answers_record_each_person_and_purpose() -> None:
    data = {
        "reception": {"reception_date": "2025-03-01"},
        "consent": {
            "consent_by": "both",
            "consent_intake": "yes",
            "consent_referral_to": "swc legal_aid_centre none",
            "consent_police": "no",
            "consent_followup_contact": "yes",
            "safe_contact_method": "via_office",
            "safe_contact_times": "morning weekend",
        },
        "core": {"age_years": "15"},
        "minors": [
            {
                "minor_index": "1",
                "minor_age_years": "9",
                "minor_consent_by": "legal_rep",
                "minor_consent_intake": "yes",
            }
        ],
    }
    found = decisions_in("vt01_intake", data)
    by = {(f.person_index, f.decision.purpose, f.decision.recipient_type): f for f in found}
    assert set(by) == {
        (0, "intake", None),
        (0, "referral", "swc"),
        (0, "referral", "legal_aid_centre"),
        (0, "police", None),
        (0, "followup_contact", None),
        (1, "intake", None),
    }
    assert by[(0, "intake", None)].decision.age_years == 15
    assert by[(0, "intake", None)].decision.flag is None
    assert by[(0, "followup_contact", None)].details == {
        "safe_contact_method": "via_office",
        "safe_contact_times": "morning weekend",
    }
    # The 9-year-old minor: the representative alone is not enough.
    assert by[(1, "intake", None)].decision.flag == rules.CHILD_NOT_ASKED


def test_older_blanket_referral_answer_counts_only_as_a_refusal() -> None:
    yes = decisions_in(
        "vt01_intake", {"consent": {"consent_by": "self", "consent_referral": "yes"}}
    )
    assert [f.decision.purpose for f in yes] == []
    no = decisions_in("vt01_intake", {"consent": {"consent_by": "self", "consent_referral": "no"}})
    assert [(f.decision.purpose, f.decision.recipient_type) for f in no] == [("referral", None)]


def test_a_change_section_records_for_its_person_with_the_age_from_the_intake() -> None:
    intake = {
        "reception": {"reception_date": "2024-03-01"},
        "core": {"age_years": "30"},
        "minors": [{"minor_index": "1", "minor_age_years": "6"}],
    }
    change = {
        "person_index": "1",
        "visit_date": "2025-06-01",
        "consent_section": {
            "consent_change": "yes",
            "consent_change_by": "legal_rep",
            "consent_withdraw": "data_use",
            "consent_withdraw_referral": "all",
            "consent_give": "followup_contact",
        },
    }
    found = decisions_in("vt05_followup", change, intake)
    assert [
        (f.person_index, f.decision.purpose, f.decision.decision, f.decision.recipient_type)
        for f in found
    ] == [
        (1, "data_use", "no", None),
        (1, "referral", "no", None),
        (1, "followup_contact", "yes", None),
    ]
    assert {f.decision.age_years for f in found} == {7}  # 6 at reception, 7 fifteen months on
    assert found[2].decision.flag == rules.CHILD_NOT_ASKED
    assert found[0].decision.decided_on == date(2025, 6, 1)
    # No change asked: nothing recorded.
    assert (
        decisions_in("vt05_followup", {"consent_change": "no", "consent_withdraw": "intake"}) == []
    )


def test_recipient_types_are_the_forms_referral_targets() -> None:
    book = read_workbook(XLSFORMS / "vt01_intake.xlsx")
    codes = [r["name"] for r in book.sheets["choices"] if r["list_name"] == "referral_target"]
    assert tuple(c for c in codes if c != "none") == rules.RECIPIENT_TYPES


def test_free_text_fields_erased_are_every_text_question_but_the_case_code() -> None:
    from forms.identifying import FREE_TEXT_FIELDS, P3_FIELDS

    found = set()
    for path in sorted(XLSFORMS.glob("*.xlsx")):
        for row in read_workbook(path).sheets["survey"]:
            name = row.get("name")
            if str(row.get("type", "")).strip() == "text" and name not in P3_FIELDS:
                found.add(name)
    assert found - {"case_code"} == FREE_TEXT_FIELDS
