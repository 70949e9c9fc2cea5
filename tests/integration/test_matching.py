"""The match key: the same person across diacritic and spacing variants, a warning at intake
without showing the other case, a supervisor's link counted once; the key never shown."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from exports.periods import ReportCalendar
from exports.reports import received
from forms import case_code
from server.cli import main
from server.config import Config
from server.errors import Problem
from server.services import case_view, matching
from server.store import audit
from server.store.db import Store
from server.store.models import PersonKey
from server.store.scope import UnitScope
from tests.integration import test_unit_rule
from tests.integration.test_transfers import SUP_01, SUP_02
from tests.integration.test_unit_rule import CODE, Phones, _case

phones = test_unit_rule.phones
HOME = case_code.make("02", 2025, "00077")
OTHER = case_code.make("02", 2025, "00078")


def _intake(
    phones: Phones, phone: str, code: str, province: str, name: str, dob: str, id_number: str = ""
) -> str:
    body = (
        f"<reception><office_province>{province}</office_province>"
        f"<reception_date>2025-03-02</reception_date><case_code>{code}</case_code></reception>"
        f"<core><sex>female</sex><age_years>19</age_years></core><pii><full_name>{name}"
        f"</full_name><dob>{dob}</dob><id_doc_number>{id_number}</id_doc_number></pii>"
    )
    return phones.send(phone, "vt01_intake", body)


def test_names_are_compared_without_diacritics_or_spacing() -> None:
    assert matching.normalise_name("  Đặng   Thị Ánh ") == "dang thi anh"
    assert matching.normalise_name("LÒ THỊ MAI") == matching.normalise_name("Lo thi  mai")
    assert matching.normalise_name("Nguyễn") != matching.normalise_name("Nguyên Văn")
    secret = b"s" * 32
    one = matching.keys_of({"pii": {"full_name": "Lò Thị Mai", "dob": "2006-01-02"}}, secret)
    two = matching.keys_of({"full_name": "LO  THI MAI", "dob": "2006-01-02"}, secret)
    assert one == two
    assert one[matching.NAME_DOB] != matching.keys_of(
        {"full_name": "Lò Thị Mai", "dob": "2006-01-03"}, secret
    ).get(matching.NAME_DOB)
    # keyed: another installation's secret gives another key
    assert one != matching.keys_of({"full_name": "Lò Thị Mai", "dob": "2006-01-02"}, b"t" * 32)
    by_id = matching.keys_of({"id_doc_number": "001 190-012345"}, secret)
    assert by_id == matching.keys_of({"id_doc_number": "001190012345"}, secret)
    assert matching.keys_of({"full_name": "Lò Thị Mai"}, secret) == {}  # no date of birth


def _case_id(store: Store, code: str) -> int:
    case = _case(store, code)
    assert case is not None
    return case.id


def test_warned_at_intake_and_linked_once(
    phones: Phones,
    store: Store,
    config: Config,
    runner: CliRunner,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _intake(phones, "p01", CODE, "01", "Lò Thị Mai", "2006-01-02")
    _intake(phones, "p02", HOME, "02", "LO  THI   MAI", "2006-01-02")
    _intake(phones, "p02", OTHER, "02", "Lò Thị Mai", "2001-05-05")  # another person
    first, home, other = (_case_id(store, c) for c in (CODE, HOME, OTHER))
    with store.session() as session:
        at_home = case_view.case_page(session, SUP_02, home, "vi", revealed=True)
        at_border = case_view.case_page(session, SUP_01, first, "vi", revealed=False)
        unrelated = case_view.case_page(session, SUP_02, other, "vi", revealed=False)
        assert matching.counted_elsewhere(session) == set()
    assert at_home.possible_duplicate
    assert at_border.possible_duplicate
    assert not unrelated.possible_duplicate
    # the warning does not show the other case: nothing of unit 01's case on unit 02's page
    assert CODE not in repr(at_home)
    with store.session() as session, pytest.raises(Problem) as foreign:
        matching.link_same_person(session, SUP_01, home)
    assert foreign.value.status == 404
    with store.session() as session, pytest.raises(Problem) as nothing:
        matching.link_same_person(session, SUP_02, other)
    assert nothing.value.status == 400
    window = ReportCalendar().period("2025")  # 15/12/2024-14/12/2025
    before = {p.case_id for p in received(store, UnitScope.all_units(), window)}
    assert {first, home, other} <= before
    with store.session() as session:
        assert matching.link_same_person(session, SUP_02, home) == 1
    # the statutory tables count the linked person once, by the case received first
    after = {p.case_id for p in received(store, UnitScope.all_units(), window)}
    assert after == before - {home}
    with store.session() as session:
        # counted once: the case received first counts, the later one is left out
        assert matching.counted_elsewhere(session) == {HOME}
        assert not case_view.case_page(session, SUP_02, home, "vi", False).possible_duplicate
        entry = audit.recent(session, 1, "person.link")[0]
        keys = [k.match_key for k in session.query(PersonKey).all()]
        pages = repr(case_view.case_page(session, SUP_01, first, "vi", revealed=True))
        entries = repr([(e.action, e.target, e.detail) for e in audit.recent(session, 200)])
    assert entry.detail == {"linked_cases": 1}
    assert len(keys) == 3  # name + date of birth for each case; no ID number given
    out = tmp_path / "intake.zip"
    result = runner.invoke(
        main, ["export", "submissions", "--form", "vt01_intake", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as archive:
        exported = "".join(
            archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
        )
    assert "p01" in exported  # the export holds the intakes (by their collectors)
    assert "p02" in exported
    for key in keys:
        for text in (pages, entries, exported, caplog.text, result.output):
            assert key not in text
            assert key[:16] not in text
    # the secret was made once in the data directory, private, and is the one keys use
    secret_file = config.data_dir / matching.MATCH_KEY_FILE
    assert secret_file.stat().st_mode & 0o077 == 0
