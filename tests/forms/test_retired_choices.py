"""Retired choice codes: kept in the form so old answers keep their labels, hidden from new
answers by a choice_filter the compiler adds (joined to the question's own filter)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from lxml import etree
from openpyxl import Workbook

from forms.compiler import CompiledForm, compile_form
from forms.errors import FormError
from forms.labels import parse_form_labels

NS = {"x": "http://www.w3.org/2002/xforms"}
VI, EN = "label::Tiếng Việt (vi)", "label::English (en)"


def _workbook(path: Path, retired: str = "yes") -> Path:
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", VI, EN, "choice_filter"])
    survey.append(["select_one colour", "first", "Màu", "Colour"])
    survey.append(["select_multiple colour", "many", "Các màu", "Colours", "name != 'green'"])
    survey.append(["select_one size", "size", "Cỡ", "Size"])
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", VI, EN, "retired"])
    choices.append(["colour", "red", "Đỏ", "Red"])
    choices.append(["colour", "blue", "Xanh dương", "Blue", retired])
    choices.append(["colour", "green", "Xanh lá", "Green"])
    choices.append(["size", "big", "To", "Big"])
    settings = book.create_sheet("settings")
    settings.append(["form_id", "default_language", "encrypted"])
    settings.append(["retire_test", "Tiếng Việt (vi)", "no"])
    book.save(path)
    return path


def _itemset(form: CompiledForm, question: str) -> etree._Element | None:
    found = etree.fromstring(form.xml).xpath(
        f"//*[@ref='/data/{question}']/x:itemset", namespaces=NS
    )
    return found[0] if found else None


def _offered(form: CompiledForm, question: str) -> list[str]:
    """The codes the phone offers: the itemset's XPath evaluated on its secondary instance."""
    itemset = _itemset(form, question)
    match = re.fullmatch(r"instance\('(\w+)'\)/(.*)", itemset.get("nodeset"))
    assert match is not None
    instance = etree.fromstring(form.xml).xpath(
        f"//x:instance[@id='{match.group(1)}']", namespaces=NS
    )[0]
    plain = etree.fromstring(
        etree.tostring(instance).replace(b' xmlns="http://www.w3.org/2002/xforms"', b"")
    )
    return [str(v) for v in plain.xpath(match.group(2) + "/name/text()")]


def test_a_retired_code_is_hidden_from_new_answers_and_keeps_its_label(tmp_path: Path) -> None:
    validate = shutil.which("java") is not None
    form = compile_form(
        _workbook(tmp_path / "retire_test.xlsx"), public_key=None, validate=validate
    )
    assert _itemset(form, "first").get("nodeset") == (
        "instance('colour')/root/item[not(retired = 'yes')]"
    )
    assert _itemset(form, "many").get("nodeset") == (
        "instance('colour')/root/item[(name != 'green') and not(retired = 'yes')]"
    )
    assert _offered(form, "first") == ["red", "green"]
    assert _offered(form, "many") == ["red"]
    # a list without retired codes is left as it was
    assert _itemset(form, "size").get("nodeset") == "instance('size')/root/item"
    labels = parse_form_labels(form.xml.decode("utf-8"))
    assert labels.choice("first", "blue", "vi") == "Xanh dương"
    assert labels.choice("many", "blue", "en") == "Blue"
    assert labels.display("many", "red blue", "vi") == "Đỏ, Xanh dương"


def test_retiring_a_code_gives_a_new_version(tmp_path: Path) -> None:
    kept = compile_form(_workbook(tmp_path / "a.xlsx", retired=""), public_key=None, validate=False)
    retired = compile_form(_workbook(tmp_path / "b.xlsx"), public_key=None, validate=False)
    assert _offered(kept, "first") == ["red", "blue", "green"]
    assert kept.version != retired.version


def test_a_retired_column_with_another_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FormError, match="column retired must be yes or empty, not 'maybe'"):
        compile_form(
            _workbook(tmp_path / "c.xlsx", retired="maybe"), public_key=None, validate=False
        )
