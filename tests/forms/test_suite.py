"""The XLSForm suite: compiles, validates, encrypts, keeps identity behind consent."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from lxml import etree
from openpyxl import load_workbook

from crypto.keys import generate_private_key, public_key_base64
from forms.compiler import SOURCE_DIR, CompiledForm, compile_form
from forms.dictionary import DICTIONARY_PATH, render
from forms.errors import FormError
from forms.workbook import read_workbook

NS = {
    "h": "http://www.w3.org/1999/xhtml",
    "x": "http://www.w3.org/2002/xforms",
    "jr": "http://openrosa.org/javarosa",
}
FORM_IDS = [
    "vt01_intake",
    "vt02_verification",
    "vt03_needs_plan",
    "vt04_support",
    "vt05_followup",
    "vt06_outreach",
    "vt07_screening",
    "vt08_contact",
]
# Where FORMS.md allows direct identifiers (P3), field by field.
P3_ALLOWED = {
    "vt01_intake": {
        "full_name",
        "other_names",
        "dob",
        "id_doc_number",
        "res_address_detail",
        "phone",
        "relative_contact",
        "minor_name",
        "minor_dob",
    },
    "vt02_verification": {"doc_number"},
    "vt07_screening": {"contact_name", "contact_phone"},
}


def tree(form: CompiledForm) -> etree._Element:
    return etree.fromstring(form.xml)


def bind(form: CompiledForm, path: str) -> etree._Element:
    found = tree(form).xpath(f"//x:bind[@nodeset='/data/{path}']", namespaces=NS)
    assert found, path
    return found[0]


def test_eight_forms_compile_validate_and_encrypt(compiled: dict[str, CompiledForm]) -> None:
    assert sorted(compiled) == FORM_IDS
    for form_id, form in compiled.items():
        submission = tree(form).xpath("//x:submission", namespaces=NS)
        if form_id == "vt06_outreach":  # aggregate counts only, no personal data
            assert not form.encrypted
            assert not submission
        else:
            assert form.encrypted, form_id
            assert submission[0].get("base64RsaPublicKey")
        assert tree(form).xpath("//x:instance/x:data/x:meta/x:instanceID", namespaces=NS)
        assert not [w for w in form.warnings if "error" in w.lower()]


def test_vietnamese_first_with_english(compiled: dict[str, CompiledForm]) -> None:
    for form in compiled.values():
        languages = tree(form).xpath("//x:itext/x:translation/@lang", namespaces=NS)
        assert languages[0] == "Tiếng Việt (vi)"
        assert "English (en)" in languages
        default = tree(form).xpath("//x:translation[@default='true()']/@lang", namespaces=NS)
        assert default == ["Tiếng Việt (vi)"]


def test_instance_name_never_holds_a_name(compiled: dict[str, CompiledForm]) -> None:
    for form in compiled.values():
        calculation = bind(form, "meta/instanceName").get("calculate")
        referenced = set(re.findall(r"/data/([a-z0-9_/]+)", calculation))
        assert referenced <= {
            "reception/case_code",
            "session_date",
            "screen_date",
            "contact_date",
            "case_code",
        }


def test_no_location_or_photos_in_case_forms(compiled: dict[str, CompiledForm]) -> None:
    for form_id, form in compiled.items():
        types = {f.type for f in form.fields}
        assert not types & {"geopoint", "geotrace", "geoshape", "image", "video"}, form_id


# Skip logic, as in pyxform's tests: rows of (field, expected relevance fragment or None).
CONSENT_PATH = """
| path                      | relevant                               |
| pii                       | /data/consent/consent_intake ='yes'    |
| experience                | /data/consent/consent_intake ='yes'    |
| minors/minor_name         | ../minor_consent_intake ='yes'         |
| minors/minor_dob          | ../minor_consent_intake ='yes'         |
| core/sex                  | -                                      |
| consent/age_years         | -                                      |
| core/purpose              | -                                      |
| core/destination_country  | -                                      |
| core/res_province         | -                                      |
| core/ethnic_minority      | -                                      |
| core/disability           | -                                      |
| core/purpose_detail       | -                                      |
| reception/reception_channel | -                                    |
| minors/minor_sex          | -                                      |
"""


def _table(text: str) -> list[tuple[str, str]]:
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.strip().splitlines()
    ]
    return [(path, relevant) for path, relevant in rows[1:]]


@pytest.mark.parametrize(("path", "relevant"), _table(CONSENT_PATH))
def test_refusal_path_keeps_the_anonymous_core(
    compiled: dict[str, CompiledForm], path: str, relevant: str
) -> None:
    found = bind(compiled["vt01_intake"], path).get("relevant")
    if relevant == "-":
        assert found is None or "consent_intake" not in found
    else:
        assert found is not None
        assert relevant.replace(" ", "") in found.replace(" ", "")


def test_identity_fields_need_consent_first(compiled: dict[str, CompiledForm]) -> None:
    form = compiled["vt01_intake"]
    names = [f.name for f in form.fields]
    assert names.index("consent_intake") < names.index("full_name")
    assert bind(form, "consent/consent_intake").get("required") == "true()"


def test_minors_are_a_repeat(compiled: dict[str, CompiledForm]) -> None:
    xform = tree(compiled["vt01_intake"])
    assert xform.xpath("//x:repeat[@nodeset='/data/minors']", namespaces=NS)
    assert bind(compiled["vt01_intake"], "minors/minor_age_years").get("constraint") == (
        ". >= 0 and . < 18"
    )
    # a count first, so no empty copy opens by itself
    assert xform.xpath("//x:repeat[@nodeset='/data/minors']/@jr:count", namespaces=NS) == [
        " /data/n_minors "
    ]
    assert bind(compiled["vt01_intake"], "n_minors").get("required") == "true()"
    minor_fields = {f.name for f in compiled["vt01_intake"].fields if f.repeat == "minors"}
    assert {"minor_index", "minor_sex", "minor_age_years", "minor_name"} <= minor_fields
    assert xform.xpath("//x:repeat[@nodeset='/data/support_item']", namespaces=NS) == []
    assert tree(compiled["vt04_support"]).xpath(
        "//x:repeat[@nodeset='/data/support_item']", namespaces=NS
    )


def test_dates_not_in_the_future_and_ages_in_range(compiled: dict[str, CompiledForm]) -> None:
    for form in compiled.values():
        for field in form.fields:
            if field.type == "date" and field.name not in ("plan_target_date", "next_visit_date"):
                assert "today()" in (bind(form, field.path).get("constraint") or ""), (
                    form.form_id,
                    field.name,
                )
    assert "<= 100" in bind(compiled["vt01_intake"], "consent/age_years").get("constraint")


def test_later_forms_check_the_case_code(compiled: dict[str, CompiledForm]) -> None:
    from forms.case_code import CHECK_XPATH

    for form_id in ("vt02_verification", "vt03_needs_plan", "vt04_support", "vt05_followup"):
        constraint = bind(compiled[form_id], "case_code").get("constraint")
        assert constraint == CHECK_XPATH.replace("'", "'"), form_id


def test_p3_fields_only_where_allowed(compiled: dict[str, CompiledForm]) -> None:
    for form_id, form in compiled.items():
        p3 = {f.name for f in form.fields if f.sensitivity == "P3"}
        assert p3 <= P3_ALLOWED.get(form_id, set()), (form_id, p3)
    assert {f.name for f in compiled["vt01_intake"].fields if f.sensitivity == "P3"} == (
        P3_ALLOWED["vt01_intake"]
    )


def test_every_question_has_a_sensitivity_class(compiled: dict[str, CompiledForm]) -> None:
    meta = {"start", "end", "today"}
    for form in compiled.values():
        missing = [
            f.name
            for f in form.fields
            if f.sensitivity not in ("P1", "P2", "P3")
            and f.name not in meta
            and f.type not in ("acknowledge",)
        ]
        assert missing == [], form.form_id


def test_choice_codes_are_stable_snake_case_and_never_reused(
    compiled: dict[str, CompiledForm],
) -> None:
    meaning: dict[str, str] = {}
    for form in compiled.values():
        for list_name, rows in form.choices.items():
            assert re.fullmatch(r"[a-z0-9_]+", list_name)
            for row in rows:
                code = str(row["name"])
                assert re.fullmatch(r"[a-z0-9_]+", code), (list_name, code)
                english = str(row["label::English (en)"])
                key = f"{list_name}:{code}"
                assert meaning.setdefault(key, english) == english, key


def test_unchanged_source_same_version_changed_label_new_version(tmp_path: Path) -> None:
    key = public_key_base64(generate_private_key())
    source = SOURCE_DIR / "vt02_verification.xlsx"
    first = compile_form(source, public_key=key, validate=False)
    copy = tmp_path / "vt02_verification.xlsx"
    book = load_workbook(source)
    book.save(copy)  # saved again: new timestamps, same content
    assert compile_form(copy, public_key=key, validate=False).version == first.version
    book["survey"]["C8"] = str(book["survey"]["C8"].value) + " (sửa)"
    book.save(copy)
    assert compile_form(copy, public_key=key, validate=False).version != first.version
    other_key = public_key_base64(generate_private_key())
    assert compile_form(source, public_key=other_key, validate=False).version != first.version


def test_pyxform_error_is_a_form_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xlsx"
    shutil.copy(SOURCE_DIR / "vt02_verification.xlsx", broken)
    book = load_workbook(broken)
    book["survey"].append(["select_one no_such_list", "oops", "Sai", "Wrong"])
    book.save(broken)
    with pytest.raises(FormError, match="no_such_list"):
        compile_form(broken, public_key=None, validate=False)


def test_odk_validate_errors_are_kept(tmp_path: Path) -> None:
    if shutil.which("java") is None:
        pytest.skip("java is needed by ODK Validate")
    broken = tmp_path / "badxpath.xlsx"
    shutil.copy(SOURCE_DIR / "vt02_verification.xlsx", broken)
    book = load_workbook(broken)
    book["survey"].append(
        [
            "calculate",
            "bad",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "no_such_function(1)",
        ]
    )
    book.save(broken)
    with pytest.raises(FormError, match="no_such_function"):
        compile_form(broken, public_key=None, validate=True)


def test_not_an_xlsx(tmp_path: Path) -> None:
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"not a workbook")
    with pytest.raises(FormError, match="not a readable"):
        read_workbook(fake)


def test_data_dictionary_is_up_to_date(compiled: dict[str, CompiledForm]) -> None:
    from forms.compiler import compile_all

    expected = render(compile_all(public_key="placeholder-key-not-used", validate=False))
    assert DICTIONARY_PATH.read_text(encoding="utf-8") == expected, (
        "run `fieldcase forms dictionary` and commit docs/data-dictionary.md"
    )
    for form in compiled.values():
        for field in form.fields:
            assert f"`{field.name}`" in expected


def test_unsafe_form_id_and_attachment_names_are_refused(tmp_path: Path) -> None:
    for column, value, message in (
        ("settings", "a/b", "form_id must be"),
        ("survey", "select_one_from_file ../etc.csv", "plain file"),
    ):
        broken = tmp_path / "unsafe.xlsx"
        shutil.copy(SOURCE_DIR / "vt02_verification.xlsx", broken)
        book = load_workbook(broken)
        if column == "settings":
            book["settings"]["A2"] = value
        else:
            book["survey"].append([value, "x", "X", "X"])
        book.save(broken)
        with pytest.raises(FormError, match=message):
            compile_form(broken, public_key=None, validate=False)
