"""The forms in JavaRosa, the engine of ODK Collect, with their media files as a phone has them:
the collector's unit becomes the default, communes are those of the chosen province, retired
codes are not offered, and the minors repeat opens exactly as many copies as counted.

ODK Validate checks a form's structure but reads no CSV file; this runs the form itself
(tests/forms/javarosa/FormProbe.java, compiled here against the JavaRosa that pyxform ships)."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
import pyxform

from forms.compiler import CompiledForm

JAR = Path(pyxform.__file__).parent / "validators" / "odk_validate" / "bin" / "ODK_Validate.jar"
PROBE = Path(__file__).parent / "javarosa" / "FormProbe.java"
HEADER = "unit_code,province_code,commune_code,province_hotline\n"

pytestmark = pytest.mark.skipif(
    shutil.which("javac") is None or shutil.which("java") is None, reason="needs a JDK"
)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    classes = tmp_path_factory.mktemp("probe")
    subprocess.run(
        ["javac", "-cp", str(JAR), "-d", str(classes), str(PROBE)], check=True, timeout=120
    )
    return classes


class Results:
    """The probe's answers, in order: `found[key]` is the first, `found.all(key)` every one."""

    def __init__(self, lines: list[str]) -> None:
        self.pairs = [tuple(line.partition("=")[::2]) for line in lines]

    def all(self, key: str) -> list[str]:
        return [value for name, value in self.pairs if name == key]

    def __getitem__(self, key: str) -> str:
        found = self.all(key)
        assert found, key
        return found[0]


def run(
    probe: Path, tmp_path: Path, form: CompiledForm, collector_row: str, *commands: str
) -> Results:
    """Open `form` as a new form on a phone whose collector.csv has `collector_row`."""
    media = tmp_path / form.form_id
    media.mkdir()
    for name, content in form.attachments.items():
        (media / name).write_bytes(content)
    (media / "collector.csv").write_text(HEADER + collector_row + "\n", encoding="utf-8")
    (media / "form.xml").write_bytes(form.xml)
    done = subprocess.run(
        ["java", "-cp", f"{JAR}:{probe}", "FormProbe", str(media / "form.xml"), str(media)]
        + list(commands),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return Results(done.stdout.splitlines())


def communes_of(province: str) -> set[str]:
    with (
        Path(__file__)
        .resolve()
        .parents[2]
        .joinpath("forms/media/admin_units.csv")
        .open(encoding="utf-8", newline="") as handle
    ):
        return {
            row["name"]
            for row in csv.DictReader(handle)
            if row["level"] == "commune" and row["province_code"] == province
        }


def offered(result: str) -> list[str]:
    count, _, values = result.partition(":")
    found = values.split(",") if values else []
    assert int(count) == len(found)
    return found


def test_the_intake_opens_on_the_collectors_unit(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm]
) -> None:
    found = run(
        probe,
        tmp_path,
        compiled["vt01_intake"],
        "06712,22,06712,0203 3000 111",  # Móng Cái 1, Quảng Ninh
        *("value", "/data/reception/office_province"),
        *("value", "/data/reception/office_commune"),
        *("choices", "/data/reception/office_commune"),
        *("set", "/data/reception/office_province", "01"),
        *("choices", "/data/reception/receiving_unit"),
        *("choices", "/data/core/purpose"),
    )
    assert found["value /data/reception/office_province"] == "22"
    assert found["value /data/reception/office_commune"] == "06712"
    communes = offered(found["choices /data/reception/office_commune"])
    assert set(communes) == communes_of("22")
    assert "06712" in communes
    assert "00004" not in communes
    assert found["set /data/reception/office_province"] == "constraint"  # not its province
    receiving = offered(found["choices /data/reception/receiving_unit"])
    assert "province_health" in receiving
    assert "labour_social_body" not in receiving  # retired
    assert "police" not in receiving
    assert offered(found["choices /data/core/purpose"]) == [
        "money_benefit",
        "sexual_exploitation",
        "forced_labour",
        "organ_removal",
        "other_inhumane",
        "unknown",
    ]


def test_without_a_unit_nothing_is_defaulted_or_refused(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm]
) -> None:
    found = run(
        probe,
        tmp_path,
        compiled["vt01_intake"],
        ",,,",  # the placeholder the form carries: any ODK server, or no unit
        *("value", "/data/reception/office_province"),
        *("choices", "/data/reception/office_commune"),
        *("set", "/data/reception/office_province", "01"),
        *("choices", "/data/reception/office_commune"),
    )
    assert found["value /data/reception/office_province"] == ""
    assert offered(found["choices /data/reception/office_commune"]) == []  # none before a province
    assert found["set /data/reception/office_province"] == "ok"
    after = found.all("choices /data/reception/office_commune")[1]
    assert set(offered(after)) == communes_of("01")


def test_the_minors_repeat_opens_as_many_copies_as_counted(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm]
) -> None:
    found = run(
        probe,
        tmp_path,
        compiled["vt01_intake"],
        "01,01,,",
        *("walk", "/data/minors"),
        *("set", "/data/n_minors", "2"),
        *("walk", "/data/minors"),
        *("set", "/data/n_minors", "1"),
        *("walk", "/data/minors"),
    )
    # questions shown in the whole form / of which in the minors repeat (8 per minor before
    # the child's consent is answered: relation, sex, age, born abroad, birth registered, who
    # consents, intake consent, data-use consent; name and date of birth only after a yes)
    walks = found.all("walk /data/minors")
    assert [w.split("/")[1] for w in walks] == ["0", "16", "8"]


def test_outreach_and_contact_forms_default_to_the_unit_and_show_its_hotline(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm]
) -> None:
    outreach = run(
        probe,
        tmp_path,
        compiled["vt06_outreach"],
        "22,22,,0203 3000 111",
        *("value", "/data/province"),
        *("value", "/data/commune"),
        *("value", "/data/province_hotline"),
        *("choices", "/data/activity_type"),
    )
    assert outreach["value /data/province"] == "22"
    assert outreach["value /data/commune"] == ""  # a province-level collector: no commune
    assert outreach["value /data/province_hotline"] == "0203 3000 111"
    assert "officials_training" not in offered(outreach["choices /data/activity_type"])
    contact = run(
        probe,
        tmp_path,
        compiled["vt08_contact"],
        "00004,01,00004,",
        *("value", "/data/province"),
        *("value", "/data/commune"),
        *("set", "/data/commune", "00070"),
    )
    assert (contact["value /data/province"], contact["value /data/commune"]) == ("01", "00004")
    assert contact["set /data/commune"] == "constraint"  # Hoàn Kiếm is not this collector's


def _with_case_list(form: CompiledForm, rows: str) -> CompiledForm:
    """The form as a phone holds it after downloading its collector's `cases.csv`."""
    from dataclasses import replace

    from server.services.case_assignments import CASES_COLUMNS

    content = (",".join(CASES_COLUMNS) + "\n" + rows).encode("utf-8")
    return replace(form, attachments={**form.attachments, "cases.csv": content})


CASE_ROWS = (
    "01-2025-00001-32,01-2025-00001-32 · Phường Ba Đình · hạn/due 2026-01-05,"
    "2026-01-05,2025-10-07,follow_up,00004\n"
    "01-2025-00002-29,01-2025-00002-29 · Phường Ba Đình · hạn/due 2026-02-01,"
    "2026-02-01,,awaiting_verification,00004\n"
)


@pytest.mark.parametrize(
    "form_id", ["vt02_verification", "vt03_needs_plan", "vt04_support", "vt05_followup"]
)
def test_later_forms_offer_the_phones_case_list_and_keep_the_typed_code(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm], form_id: str
) -> None:
    from forms.case_code import is_valid

    assert is_valid("01-2025-00001-32")
    assert is_valid("01-2025-00002-29")
    found = run(
        probe,
        tmp_path,
        _with_case_list(compiled[form_id], CASE_ROWS),
        "01,01,,",
        *("choices", "/data/case_pick"),
        *("set", "/data/case_pick", "01-2025-00002-29"),
        *("value", "/data/case_code"),
        *("set", "/data/case_code", "01-2025-00003-26"),  # a case not on the list, typed
        *("value", "/data/case_code"),
        *("set", "/data/case_code", "01-2025-00003-27"),  # a typing error
    )
    assert offered(found["choices /data/case_pick"]) == ["01-2025-00001-32", "01-2025-00002-29"]
    assert found.all("value /data/case_code") == ["01-2025-00002-29", "01-2025-00003-26"]
    assert found["set /data/case_code"] == "ok"
    assert found.all("set /data/case_code")[1] == "constraint"


def test_followup_shows_what_the_list_says_of_the_case(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm]
) -> None:
    found = run(
        probe,
        tmp_path,
        _with_case_list(compiled["vt05_followup"], CASE_ROWS),
        "01,01,,",
        *("set", "/data/case_pick", "01-2025-00001-32"),
        *("value", "/data/listed_due"),
        *("value", "/data/listed_last_visit"),
    )
    assert found["value /data/listed_due"] == "2026-01-05"
    assert found["value /data/listed_last_visit"] == "2025-10-07"


def test_an_empty_case_list_hides_the_choice_and_the_code_is_typed(
    probe: Path, tmp_path: Path, compiled: dict[str, CompiledForm]
) -> None:
    found = run(
        probe,
        tmp_path,
        compiled["vt05_followup"],  # the placeholder: a header, no case
        "01,01,,",
        *("walk", "/data/case_pick"),
        *("set", "/data/case_code", "01-2025-00003-26"),
    )
    assert found["walk /data/case_pick"].endswith("/0")  # the list question never shows
    assert found["set /data/case_code"] == "ok"
