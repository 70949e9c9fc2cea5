"""Notes show `${...}` references filled from the submission (identifying ones masked), and
country codes are shown as the country's name in the page's language."""

# ruff: noqa: E501
from __future__ import annotations

from forms.labels import parse_form_labels
from server.i18n_text import country_display, country_name
from server.services import submission_view
from server.services.identifying import MASK
from server.services.submission_view import Group, Leaf, RepeatTable
from tests.web.conftest import WebDeployment

XFORM = """<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">
<h:head><h:title>t</h:title><model><instance><data id="t">
<case_code/><full_name/><destination_country/><g><n_note/></g><who_note/><rows><x/></rows>
</data></instance></model></h:head><h:body>
<input ref="/data/case_code"><label>Mã hồ sơ</label></input>
<input ref="/data/full_name"><label>Họ tên</label></input>
<input ref="/data/destination_country"><label>Nước</label></input>
<group ref="/data/g"><label>Nhóm <output value=" /data/case_code "/></label>
<input ref="/data/g/n_note"><label>Ghi lại mã <output value=" /data/case_code "/> trên giấy</label></input>
</group>
<input ref="/data/who_note"><label>Người: <output value="/data/full_name"/>, <output value="/data/unknown_q"/></label></input>
<repeat nodeset="/data/rows"><input ref="/data/rows/x"><label>Mã <output value=" /data/case_code "/></label></input></repeat>
</h:body></h:html>"""

DATA = {
    "case_code": "01-2025-abcdef",
    "full_name": "Nguyễn Thị Lan",
    "destination_country": "CN",
    "g": {"n_note": ""},
    "who_note": "",
    "rows": [{"x": "1"}],
}


def _labels(items: list[Leaf | Group | RepeatTable]) -> list[str]:
    found: list[str] = []
    for item in items:
        found.append(item.label)
        if isinstance(item, Group):
            found += _labels(item.items)
        if isinstance(item, RepeatTable):
            found += [label for _name, label in item.columns]
    return found


def test_references_in_labels_are_filled_from_the_submission() -> None:
    labels = parse_form_labels(XFORM)
    assert labels.question("g/n_note", "vi") == "Ghi lại mã ${case_code} trên giấy"
    shown = _labels(submission_view.with_references(DATA, labels, "vi"))
    assert "Ghi lại mã 01-2025-abcdef trên giấy" in shown
    assert "Nhóm 01-2025-abcdef" in shown
    assert "Mã 01-2025-abcdef" in shown  # a repeat's column
    # an identifying answer stays masked; an unknown reference stays as written
    assert f"Người: {MASK}, ${{unknown_q}}" in shown
    assert "Nguyễn Thị Lan" not in " ".join(shown)
    revealed = _labels(submission_view.with_references(DATA, labels, "vi", revealed=True))
    assert "Người: Nguyễn Thị Lan, ${unknown_q}" in revealed


def test_country_codes_are_named_in_the_page_language() -> None:
    assert country_name("CN", "vi") == "Trung Quốc"
    assert country_name("kh", "en") == "Cambodia"
    assert country_name("OTHER", "vi") is None
    assert country_display("destination_country", "KH", "KH", "vi") == "Campuchia"
    assert country_display("transit_countries", "CN LA", "CN LA", "en") == "China Laos"
    assert (
        country_display("destination_country", "CN", "Trung Quốc (TQ)", "vi") == "Trung Quốc (TQ)"
    )
    assert country_display("sex", "CN", "CN", "vi") == "CN"  # not a country question
    labels = parse_form_labels(XFORM)
    leaves = [i for i in submission_view.with_references(DATA, labels, "vi") if isinstance(i, Leaf)]
    assert {leaf.label: leaf.display for leaf in leaves}["Nước"] == "Trung Quốc"


def test_the_dashboard_names_countries(web: WebDeployment) -> None:
    from server.web.labels import CategoryNamer

    with web.app.test_request_context(), web.store.session() as session:
        assert CategoryNamer(session, "vi").name("destination", "KH") in ("Campuchia",)
        assert CategoryNamer(session, "en").name("destination", "KH") == "Cambodia"
