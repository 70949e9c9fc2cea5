"""The consent questions in the forms (issue 17): age before consent, the age rule on the
phone (run in JavaRosa, the form engine of ODK Collect), per-recipient referral consent, the
children's own consent, and the consent change section of vt03 and vt05."""

from __future__ import annotations

from pathlib import Path

from forms.compiler import CompiledForm
from tests.forms.test_javarosa import offered, probe, run
from tests.forms.test_suite import bind

__all__ = ["probe"]  # the module-scoped JavaRosa probe fixture


def test_age_is_asked_before_consent(compiled: dict[str, CompiledForm]) -> None:
    names = [f.name for f in compiled["vt01_intake"].fields]
    assert names.index("age_years") < names.index("consent_by") < names.index("consent_intake")
    assert "consent_referral" not in names  # the blanket question gave way to one per type
    for name in ("consent_referral_to", "consent_police", "consent_data_use"):
        assert name in names
    for name in ("minor_consent_by", "minor_consent_intake", "minor_consent_data_use"):
        assert names.index("minor_age_years") < names.index(name) < names.index("minor_name")


def test_the_phone_refuses_a_consent_that_breaks_the_age_rule(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm]
) -> None:
    steps: list[str] = []
    cases = [
        ("15", "legal_rep"),
        ("15", "self"),
        ("15", "both"),
        ("5", "self"),
        ("5", "legal_rep"),
        ("30", "legal_rep"),
        ("30", "self"),
    ]
    for age, giver in cases:
        steps += ["set", "/data/consent/age_years", age, "set", "/data/consent/consent_by", giver]
    found = run(probe, tmp_path, compiled["vt01_intake"], "01,01,,", *steps)
    assert found.all("set /data/consent/consent_by") == [
        "constraint",  # a 15-year-old with only the representative
        "constraint",
        "ok",
        "constraint",
        "ok",
        "constraint",
        "ok",
    ]


def test_referral_consent_is_per_recipient_type(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm]
) -> None:
    form = compiled["vt01_intake"]
    relevant = bind(form, "consent/consent_referral_to").get("relevant", "")
    assert "/data/consent/consent_intake ='yes'" in relevant
    found = run(
        probe,
        tmp_path,
        form,
        "01,01,,",
        *("set", "/data/consent/consent_intake", "yes"),
        *("choices", "/data/consent/consent_referral_to"),
        *("set", "/data/consent/consent_referral_to", "swc none"),
        *("set", "/data/consent/consent_referral_to", "swc legal_aid_centre"),
    )
    assert {"swc", "police", "legal_aid_centre", "intl_ngo", "none"} <= set(
        offered(found["choices /data/consent/consent_referral_to"])
    )
    assert found.all("set /data/consent/consent_referral_to") == ["constraint", "ok"]


def test_the_change_section_of_vt03_and_vt05(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm]
) -> None:
    for form_id in ("vt03_needs_plan", "vt05_followup"):
        form = compiled[form_id]
        names = [f.name for f in form.fields]
        for name in (
            "consent_change",
            "consent_change_by",
            "consent_change_date",
            "consent_withdraw",
            "consent_withdraw_referral",
            "consent_give",
            "consent_give_referral",
            "safe_contact_method",
        ):
            assert name in names, (form_id, name)
        found = run(
            probe,
            tmp_path,
            form,
            "01,01,,",
            *("set", "/data/contact_made", "yes") * (form_id == "vt05_followup"),
            *("set", "/data/consent_section/consent_change", "yes"),
            *("set", "/data/consent_section/consent_withdraw", "intake data_use"),
            *("set", "/data/consent_section/consent_give", "data_use"),
            *("set", "/data/consent_section/consent_give", "followup_contact"),
            *("choices", "/data/consent_section/consent_withdraw_referral"),
            *("choices", "/data/consent_section/consent_give_referral"),
            *("set", "/data/consent_section/consent_change_date", "2999-01-01"),
        )
        # The same purpose cannot be withdrawn and given at once.
        assert found.all("set /data/consent_section/consent_give") == ["constraint", "ok"]
        withdraw = offered(found["choices /data/consent_section/consent_withdraw_referral"])
        give = offered(found["choices /data/consent_section/consent_give_referral"])
        assert withdraw[0] == "all"
        assert "all" not in give
        assert set(give) == set(withdraw) - {"all"}
        assert found["set /data/consent_section/consent_change_date"] == "constraint"
