"""The pure parts of the web view: labels, display tree, unit scopes, charts."""

from __future__ import annotations

from forms.identifying import collect_identifying
from forms.labels import parse_form_labels
from server.services import submission_view
from server.services.identifying import MASK
from server.store.scope import UnitScope
from server.web.charts import bar_chart
from tests.web.builders import intake_xform


def test_labels_from_itext_inline_items_and_itemsets() -> None:
    labels = parse_form_labels(intake_xform())
    assert labels.question("reception_channel", "vi") == "Hình thức tiếp nhận"
    assert labels.question("reception_channel", "en") == "Reception channel"
    assert labels.display("reception_channel", "rescued", "vi") == "Được giải cứu"
    assert labels.display("sex", "male", "en") == "Male"
    assert labels.display("purpose", "forced_labour sexual_exploitation", "vi") == (
        "Cưỡng bức lao động, Bóc lột tình dục"
    )
    assert labels.display("sex", "other", "vi") == "other"  # unknown codes shown as they are
    assert labels.question("minors/minor_age_years", "en") == "Age"
    assert labels.question("minors", "vi") == "Người dưới 18 tuổi đi cùng"
    assert labels.data_type("photo_doc") == "binary"
    assert labels.path_of("full_name") == "pii/full_name"


def test_plain_labels_without_translations() -> None:
    xform = """<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">
    <h:head><h:title>t</h:title><model><instance><data id="t"><q/></data></instance></model>
    </h:head><h:body><select1 ref="/data/q"><label>Câu hỏi</label>
    <item><label>Có</label><value>yes</value></item></select1></h:body></h:html>"""
    labels = parse_form_labels(xform)
    assert labels.question("q", "en") == "Câu hỏi"
    assert labels.display("q", "yes", "en") == "Có"


def test_display_tree_masks_identifying_values() -> None:
    labels = parse_form_labels(intake_xform())
    data = {
        "reception_channel": "rescued",
        "pii": {"full_name": "Lò Thị Mai", "phone": ""},
        "minors": [{"minor_sex": "female", "minor_name": "Lò Văn A"}],
        "meta": {"instanceID": "uuid:1"},
    }
    items = submission_view.build(data, labels, "vi")
    text = repr(items)
    assert "Lò Thị Mai" not in text
    assert "Lò Văn A" not in text
    assert MASK in text
    assert "uuid:1" not in text  # meta is shown in the header, not the data
    revealed = repr(submission_view.build(data, labels, "vi", revealed=True))
    assert "Lò Thị Mai" in revealed
    assert "Lò Văn A" in revealed
    assert submission_view.has_identifying(data)
    assert collect_identifying(data) == [
        ("pii/full_name", "Lò Thị Mai"),
        ("minors[1]/minor_name", "Lò Văn A"),
    ]


def test_unit_scope() -> None:
    scope = UnitScope.of_units(["01", "00004", "123", " "])
    assert scope.provinces == ("01",)
    assert scope.communes == ("00004",)
    assert scope.allows("01", None)
    assert scope.allows("02", "00004")
    assert not scope.allows("02", "00005")
    assert not scope.allows(None, None)
    assert UnitScope.all_units().allows(None, None)


def test_bar_chart_geometry() -> None:
    chart = bar_chart([("a", 10), ("b", 5), ("c", 0)])
    assert [bar.width for bar in chart.bars] == [180, 90, 0]
    assert chart.total == 15
    many = bar_chart([(str(n), 1) for n in range(20)])
    assert len(many.bars) == 12
    assert many.bars[-1].count == 9
