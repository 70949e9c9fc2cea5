"""The forms as Viet Nam is in 2026 (issue 15): the law's categories, the institutions after the
2025 reorganisation, the 3,321 communes filtered by province and defaulted to the collector's
unit, retired codes kept for old answers only, and the anonymous contact log (vt08)."""

from __future__ import annotations

import csv
import re

import pytest
from lxml import etree

from forms.compiler import MEDIA_DIR, RETIRED_VALUES, CompiledForm

NS = {
    "h": "http://www.w3.org/1999/xhtml",
    "x": "http://www.w3.org/2002/xforms",
    "jr": "http://openrosa.org/javarosa",
}
COLLECTOR = "instance('collector')/root/item"
# The unit questions that default to the collector's unit (residence and "handed over by" do not).
OWN_UNIT = {
    "vt01_intake": ("reception/office_province", "reception/office_commune"),
    "vt06_outreach": ("province", "commune"),
    "vt07_screening": ("province", None),
    "vt08_contact": ("province", "commune"),
}


def tree(form: CompiledForm) -> etree._Element:
    return etree.fromstring(form.xml)


def itemset(form: CompiledForm, path: str) -> str:
    found = tree(form).xpath(f"//h:body//*[@ref='/data/{path}']/x:itemset/@nodeset", namespaces=NS)
    assert found, path
    return str(found[0])


def control(form: CompiledForm, path: str) -> etree._Element:
    found = tree(form).xpath(f"//h:body//*[@ref='/data/{path}']", namespaces=NS)
    assert found, path
    return found[0]


def bind(form: CompiledForm, path: str) -> etree._Element:
    found = tree(form).xpath(f"//x:bind[@nodeset='/data/{path}']", namespaces=NS)
    assert found, path
    return found[0]


def _units_instance() -> etree._Element:
    """admin_units.csv as JavaRosa reads a CSV dataset: root/item with one child per column."""
    root = etree.Element("root")
    with (MEDIA_DIR / "admin_units.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            item = etree.SubElement(root, "item")
            for column, value in row.items():
                etree.SubElement(item, column).text = value
    return etree.ElementTree(root).getroot()


UNITS = _units_instance()


def offered_units(nodeset: str, answers: dict[str, str]) -> list[str]:
    """The codes an admin-units question offers, its filter evaluated with these answers."""
    match = re.fullmatch(r"instance\('admin_units'\)/root/(item\[.*\])", nodeset)
    assert match is not None, nodeset
    expression = match.group(1)
    for path, value in answers.items():
        expression = expression.replace(f" /data/{path} ", f"'{value}'")
    assert "/data/" not in expression, expression
    return [str(v) for v in UNITS.xpath(f"{expression}/name/text()")]


def test_communes_are_filtered_by_province_and_none_shows_before_one_is_chosen(
    compiled: dict[str, CompiledForm],
) -> None:
    intake = compiled["vt01_intake"]
    provinces = offered_units(itemset(intake, "reception/office_province"), {})
    assert len(provinces) == 34
    communes = itemset(intake, "reception/office_commune")
    assert offered_units(communes, {"reception/office_province": ""}) == []
    ha_noi = offered_units(communes, {"reception/office_province": "01"})
    assert {"00004", "00070"} <= set(ha_noi)
    assert "06712" not in ha_noi
    assert "01" not in ha_noi
    quang_ninh = offered_units(communes, {"reception/office_province": "22"})
    assert "06712" in quang_ninh
    residence = itemset(intake, "pii/res_commune")
    assert offered_units(residence, {"core/res_province": "79"}) != []
    handed_from = offered_units(
        itemset(intake, "reception/from_province"), {"reception/office_province": "22"}
    )
    assert len(handed_from) == 33
    assert "22" not in handed_from


def test_unit_questions_are_searchable_and_labelled_as_in_2025(
    compiled: dict[str, CompiledForm],
) -> None:
    for form in compiled.values():
        for field in form.fields:
            if field.choice_list != "admin_units.csv":
                continue
            appearance = control(form, field.path).get("appearance") or ""
            assert "autocomplete" in appearance.split(), (form.form_id, field.name)
            if "commune" in field.name:
                assert "Xã/phường/đặc khu" in field.label_vi, (form.form_id, field.name)


def test_unit_questions_default_to_the_collectors_unit_and_are_checked_against_it(
    compiled: dict[str, CompiledForm],
) -> None:
    for form_id, (province, commune) in OWN_UNIT.items():
        form = compiled[form_id]
        assert "collector.csv" in form.attachments
        assert tree(form).xpath("//x:instance[@id='collector']/@src", namespaces=NS) == [
            "jr://file-csv/collector.csv"
        ]
        for path, column in ((province, "province_code"), (commune, "commune_code")):
            if path is None:
                continue
            setvalue = tree(form).xpath(f"//x:setvalue[@ref='/data/{path}']", namespaces=NS)
            assert [(s.get("event"), s.get("value")) for s in setvalue] == [
                ("odk-instance-first-load", f"{COLLECTOR}/{column}")
            ], (form_id, path)
            assert bind(form, path).get("constraint") == (
                f"{COLLECTOR}/{column} = '' or . = {COLLECTOR}/{column}"
            )
    residence = compiled["vt01_intake"]
    assert not tree(residence).xpath("//x:setvalue[@ref='/data/core/res_province']", namespaces=NS)


def _choice_rows(form: CompiledForm, list_name: str) -> list[dict[str, object]]:
    return form.choices[list_name]


def _active(form: CompiledForm, list_name: str) -> list[str]:
    return [
        str(row["name"])
        for row in _choice_rows(form, list_name)
        if str(row.get("retired", "")).lower() not in RETIRED_VALUES
    ]


def _retired(form: CompiledForm, list_name: str) -> list[str]:
    return [
        str(row["name"])
        for row in _choice_rows(form, list_name)
        if str(row.get("retired", "")).lower() in RETIRED_VALUES
    ]


def test_purposes_are_the_five_of_the_law(compiled: dict[str, CompiledForm]) -> None:
    for form_id in ("vt01_intake", "vt02_verification"):
        form = compiled[form_id]
        assert _active(form, "purpose") == [
            "money_benefit",
            "sexual_exploitation",
            "forced_labour",
            "organ_removal",
            "other_inhumane",
            "unknown",
        ]
        labels = {
            str(r["name"]): r["label::Tiếng Việt (vi)"] for r in _choice_rows(form, "purpose")
        }
        # Law 53/2024/QH15 Art 2(1), word for word
        assert labels["money_benefit"] == "Nhận tiền, tài sản, lợi ích vật chất khác"
        assert labels["organ_removal"] == "Lấy bộ phận cơ thể người"
        assert labels["other_inhumane"] == "Mục đích vô nhân đạo khác"
        assert set(_retired(form, "purpose")) == {
            "forced_marriage",
            "surrogacy",
            "child_sale",
            "forced_criminality",
            "labour_dispatch_abroad",
            "other",
        }
        details = {str(r["name"]): r for r in _choice_rows(form, "purpose_detail")}
        assert details["surrogacy"]["label::English (en)"] == "Commercial surrogacy"
    assert "labour_dispatch_abroad" in _active(compiled["vt01_intake"], "recruit_method")


def test_retired_codes_are_offered_nowhere_but_keep_their_labels(
    compiled: dict[str, CompiledForm],
) -> None:
    seen = 0
    for form in compiled.values():
        for field in form.fields:
            if field.choice_list not in form.choices or not _retired(form, field.choice_list):
                continue
            seen += 1
            nodeset = itemset(form, field.path)
            assert (
                nodeset.endswith("[not(retired = 'yes')]") or "and not(retired = 'yes')" in nodeset
            )
            texts = tree(form).xpath(
                "//x:translation[@lang='Tiếng Việt (vi)']/x:text/x:value/text()", namespaces=NS
            )
            for row in _choice_rows(form, field.choice_list):
                if str(row["name"]) in _retired(form, field.choice_list):
                    assert row["label::Tiếng Việt (vi)"] in texts  # old answers still read
    assert seen >= 10


def test_institutions_after_the_2025_reorganisation(compiled: dict[str, CompiledForm]) -> None:
    for form_id, list_name in (
        ("vt01_intake", "receiving_unit"),
        ("vt02_verification", "verif_agency"),
        ("vt06_outreach", "organiser"),
    ):
        form = compiled[form_id]
        active = _active(form, list_name)
        assert {"province_health", "province_police", "commune_police", "border_guard"} <= set(
            active
        ), form_id
        assert {"labour_social_body", "police"} == set(_retired(form, list_name)), form_id
        labels = {
            str(r["name"]): r["label::Tiếng Việt (vi)"] for r in _choice_rows(form, list_name)
        }
        # Law 53/2024 Art 27 as amended in 2025 names the provincial health body
        assert labels["province_health"] == "Cơ quan chuyên môn về y tế cấp tỉnh (Sở Y tế)"
    receiving = set(_active(compiled["vt01_intake"], "receiving_unit"))
    assert {
        "commune_pc",
        "commune_culture_social",
        "commune_health_station",
        "swc",
        "social_assistance_facility",
        "women_union",
        "youth_union",
        "intl_ngo",
    } <= receiving


WORDS_GONE = (
    "chuyển gửi",
    "nước bị bóc lột",
    "hộ riêng",
    "lao động – xã hội",
    "lao động - xã hội",
    "phát hiện tại việt nam",
    "trong thời gian xác minh",
    "1800 1769",
)


def test_the_old_wording_is_gone_from_everything_a_new_answer_sees(
    compiled: dict[str, CompiledForm],
) -> None:
    for form in compiled.values():
        visible = [f.label_vi for f in form.fields]
        for list_name in form.choices:
            retired = set(_retired(form, list_name))
            visible += [
                str(r.get("label::Tiếng Việt (vi)", ""))
                for r in _choice_rows(form, list_name)
                if str(r["name"]) not in retired
            ]
        for text in visible:
            for word in WORDS_GONE:
                assert word not in text.lower(), (form.form_id, text)
        assert b"1800 1769" not in form.xml  # local numbers are configuration, not form text


def test_status_and_nationality_are_separate(compiled: dict[str, CompiledForm]) -> None:
    intake = compiled["vt01_intake"]
    assert _active(intake, "person_type") == [
        "awaiting_id",
        "victim",
        "not_victim",
        "minor_accompanying",
    ]
    assert _retired(intake, "person_type") == ["foreign_victim"]
    assert "stateless" in _active(intake, "nationality")
    assert "stateless" not in _active(intake, "country")  # not a destination
    assert bind(intake, "core/stateless_resident").get("relevant") == (
        " /data/core/nationality ='stateless'"
    )


def test_supports_follow_decree_162(compiled: dict[str, CompiledForm]) -> None:
    support = compiled["vt04_support"]
    codes = set(_active(support, "support"))
    assert {
        "ess_school_items",
        "ess_medical_items",
        "med_check_reception",
        "med_first_aid",
        "med_treatment",
        "family_tracing",
        "community_model",
        "loan_women_union",
        "referral_service",
        "repatriation",
    } <= codes
    assert {"ess_clothing", "medical"} == set(_retired(support, "support"))
    days = bind(support, "support_item/ess_days").get("constraint")
    assert ". <= 120" in days
    assert "ess_extended" in days
    escorted = bind(support, "support_item/minor_escorted").get("relevant")
    assert "main_person_under18" in escorted
    assert "person_index" in escorted
    assert _retired(support, "legal_kind") == ["representation"]
    labels = {
        str(r["name"]): r["label::Tiếng Việt (vi)"] for r in _choice_rows(support, "legal_kind")
    }
    assert "bảo vệ quyền và lợi ích hợp pháp của bị hại" in labels["victim_counsel"]
    assert "closed_repatriated" in _active(compiled["vt05_followup"], "case_status")


def test_outreach_counts_training_by_role_and_names_no_local_number(
    compiled: dict[str, CompiledForm],
) -> None:
    outreach = compiled["vt06_outreach"]
    assert {"rally_30_7", "law_contest", "staged_performance", "talk", "training"} <= set(
        _active(outreach, "activity")
    )
    assert _retired(outreach, "activity") == ["officials_training"]
    assert tree(outreach).xpath("//x:repeat[@nodeset='/data/trainees']", namespaces=NS)
    assert bind(outreach, "n_officials").get("calculate") == "sum( /data/trainees/trainee_count )"
    assert bind(outreach, "commune").get("required") in (None, "false()")
    assert {"village_head", "swc_collaborator", "prestige_person"} <= set(
        _active(outreach, "official_type")
    )
    assert bind(outreach, "province_hotline").get("calculate") == f"{COLLECTOR}/province_hotline"


@pytest.mark.parametrize("kind", ["text", "date", "geopoint", "image"])
def test_the_contact_log_holds_no_identity(compiled: dict[str, CompiledForm], kind: str) -> None:
    contact = compiled["vt08_contact"]
    assert contact.encrypted
    types = {f.name: f.type for f in contact.fields}
    if kind == "date":
        assert [n for n, t in types.items() if t == "date"] == ["contact_date"]
    else:
        assert kind not in types.values()  # no free text anywhere: nothing to write a name in
    assert {f.sensitivity for f in contact.fields} <= {"P1", "P2", "-"}
    assert "case_code" not in types
    assert set(_active(contact, "contact_channel")) == {
        "hotline_111",
        "province_line",
        "walk_in",
        "online",
        "other",
    }
    assert set(_active(contact, "contact_action")) >= {
        "advice",
        "referral_police",
        "referral_support",
        "rescue_request",
    }
