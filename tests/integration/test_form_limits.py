"""An uploaded XLSForm too large to be a form is refused cheaply, before it is read (item 12).

The outside review's 5.4 MB workbook of 400,000 choice rows cost 48 s of CPU and 700 MB to
compile. Here such workbooks, sheets that claim a million rows, too many columns, too many
files and zip bombs go through the real upload service on both databases: each gets its clear
Problem (400.6, the message in Vietnamese on the admin page), nothing is published, and
refusing takes a small, asserted amount of CPU time and memory. The real forms pass.
"""

from __future__ import annotations

import functools
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from forms.compiler import SOURCE_DIR, source_files
from forms.limits import WorkbookLimits, WorkbookTooLarge, check_workbook
from server.blobs import FileBlobStore
from server.config import Config
from server.errors import Problem
from server.services.form_upload import upload_xlsform, workbook_limits
from server.services.setup import initialise
from server.store.db import Store
from server.store.models import FormVersion
from tests.workbooks import (
    choice_rows,
    compact_rows,
    lying_bomb,
    replace_sheets,
    sheet_xml,
    small_form,
    with_choices,
    zip_bomb,
)

CHOICES = "xl/worksheets/sheet2.xml"
# Generous: refusing any of these takes at most 0.6 s of CPU and 2 MB here (compiling the
# review's workbook took 48 s and 700 MB).
MAX_REFUSAL_CPU_SECONDS = 3.0
MAX_REFUSAL_PEAK_BYTES = 32 * 1024 * 1024


def _measured(refuse: Callable[[], object]) -> tuple[Problem, float, int]:
    """The Problem `refuse` raises, the CPU seconds it takes, then (in a second run, since
    tracing slows Python down several times) the peak of Python memory it takes."""
    started = time.process_time()
    with pytest.raises(Problem) as raised:
        refuse()
    spent = time.process_time() - started
    tracemalloc.start()
    try:
        with pytest.raises(Problem):
            refuse()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return raised.value, spent, peak


@pytest.fixture
def upload(config: Config, store: Store) -> Iterator[Callable[[bytes], object]]:
    """Upload a workbook through the service with the configured limits."""
    initialise(config, store)
    blobs = FileBlobStore(config.blob_dir)

    def send(content: bytes) -> object:
        with store.session() as session:
            return upload_xlsform(session, blobs, content, "admin", limits=workbook_limits(config))

    yield send
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(FormVersion)) == 0


def _sheet(*rows: bytes, dimension: str | None = None) -> bytes:
    return b"".join(sheet_xml(iter(rows), dimension))


def _refused(upload: Callable[[bytes], object], content: bytes) -> Problem:
    problem, spent, peak = _measured(lambda: upload(content))
    assert problem.code == "400.6", problem.message
    assert spent < MAX_REFUSAL_CPU_SECONDS, f"refusing took {spent:.2f} s of CPU"
    assert peak < MAX_REFUSAL_PEAK_BYTES, f"refusing took {peak / 2**20:.0f} MB"
    return problem


@functools.cache
def _review_workbooks() -> tuple[bytes, bytes]:
    """400,000 choice rows as numbers and as text (made once: that takes seconds)."""
    numbers = replace_sheets(small_form(), {CHOICES: sheet_xml(compact_rows(400_000))})
    return numbers, with_choices(400_000)


def test_the_reviews_400k_choice_rows_are_refused_quickly(upload) -> None:
    rows, text_rows = _review_workbooks()
    assert len(rows) < 10 * 1024 * 1024  # under the upload size limit, like the review's
    problem = _refused(upload, rows)
    assert problem.message == (
        "Sheet choices has more than 20000 rows. A form may have at most 20000 rows per sheet."
    )
    # The same number of rows written with text cells unpacks past the size limit first.
    problem = _refused(upload, text_rows)
    assert problem.message == (
        "The workbook unpacks to more than 32 MB. A form may unpack to at most 32 MB."
    )


def test_a_sheet_over_the_row_limit(upload) -> None:
    problem = _refused(upload, with_choices(20_000))  # the header makes it 20,001
    assert problem.message == (
        "Sheet choices has more than 20000 rows. A form may have at most 20000 rows per sheet."
    )
    assert problem.details == {"limit": "rows"}


@pytest.mark.parametrize(
    ("sheet", "why"),
    [
        (_sheet(dimension="A1:C1048576"), "a dimension openpyxl would trust"),
        (_sheet(b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>'), "a jump"),
        (b"".join(sheet_xml(choice_rows(1, start=30_000))), "one row far down"),
    ],
)
def test_sheets_that_claim_rows_they_do_not_hold(upload, sheet: bytes, why: str) -> None:
    problem = _refused(upload, replace_sheets(small_form(), {CHOICES: iter([sheet])}))
    assert "rows" in problem.message, why


@pytest.mark.parametrize(
    "sheet",
    [
        _sheet(dimension="A1:XFD3"),
        _sheet(b'<row r="2"><c r="A2"><v>1</v></c><c r="ZZ2"><v>1</v></c></row>'),
        _sheet(b'<row r="2">' + b"<c><v>1</v></c>" * 300 + b"</row>"),
    ],
)
def test_too_many_columns(upload, sheet: bytes) -> None:
    problem = _refused(upload, replace_sheets(small_form(), {CHOICES: iter([sheet])}))
    assert problem.message == (
        "Sheet choices has more than 200 columns. A form may have at most 200 columns per sheet."
    )


def test_many_sheets_each_within_the_limits(upload) -> None:
    # 19,000 rows x 200 columns each, claimed by two tiny sheets: 7.6 million cells to fill in.
    sheets = {
        f"xl/worksheets/sheet{n}.xml": sheet_xml(iter([]), dimension="A1:GR19000") for n in (4, 5)
    }
    problem = _refused(upload, replace_sheets(small_form(sheets=2), sheets))
    assert problem.message == (
        "The workbook has more than 1000000 cells in all. Make its sheets smaller."
    )


def test_a_zip_bomb_is_refused_from_the_directory(upload) -> None:
    content = zip_bomb(1024 * 1024 * 1024)  # 1 GB of spaces in about 1 MB
    assert len(content) < 2 * 1024 * 1024
    problem = _refused(upload, content)
    assert problem.message == (
        "The workbook unpacks to more than 32 MB. A form may unpack to at most 32 MB."
    )


def test_a_zip_bomb_under_the_size_limit_is_refused_by_its_ratio(upload) -> None:
    problem = _refused(upload, zip_bomb(20 * 1024 * 1024))
    assert problem.message == (
        "The workbook is compressed more than 100 times over, as a zip bomb is; it was not opened."
    )


def test_a_zip_whose_directory_lies_is_not_unpacked_past_its_word(upload) -> None:
    problem = _refused(upload, lying_bomb(200 * 1024 * 1024))
    assert problem.message.startswith("The form has errors:"), problem.message
    assert "not a readable .xlsx file" in problem.message


def test_too_many_files_in_the_zip(upload) -> None:
    import io
    import zipfile

    content = io.BytesIO(small_form())
    with zipfile.ZipFile(content, "a") as archive:
        for n in range(250):
            archive.writestr(f"xl/media/image{n}.png", b"\x89PNG")
    problem = _refused(upload, content.getvalue())
    assert problem.message == (
        "The workbook holds more than 200 files; an .xlsx form holds far fewer."
    )


def test_the_limits_are_settings(config: Config, store: Store) -> None:
    initialise(config, store)
    blobs = FileBlobStore(config.blob_dir)
    tight = config.with_changes(form_max_rows=2, form_max_unpacked_bytes=10 * 1024 * 1024)
    with store.session() as session, pytest.raises(Problem) as raised:
        upload_xlsform(session, blobs, small_form(), "admin", limits=workbook_limits(tight))
    assert raised.value.message.startswith("Sheet choices has more than 2 rows.")
    small = config.with_changes(form_max_unpacked_bytes=1000)
    with store.session() as session, pytest.raises(Problem) as raised:
        upload_xlsform(session, blobs, small_form(), "admin", limits=workbook_limits(small))
    assert raised.value.message.startswith("The workbook unpacks to more than 0 MB.")
    assert Config.from_env({"FIELDCASE_FORM_MAX_ROWS": "500"}).form_max_rows == 500


def test_a_form_at_the_limits_passes_them(tmp_path: Path) -> None:
    # 20,000 rows with the header. Compiling it then takes pyxform about 4.5 s and 150 MB and
    # ODK Validate 3 s more, measured on the 2-core machine: the cost the default allows.
    path = tmp_path / "at_limit.xlsx"
    path.write_bytes(with_choices(19_999))
    check_workbook(path, WorkbookLimits())
    with pytest.raises(WorkbookTooLarge):
        check_workbook(path, WorkbookLimits(max_rows=19_999))


def test_the_real_forms_are_far_within_the_limits() -> None:
    tight = WorkbookLimits(max_rows=1000, max_unpacked_bytes=1024 * 1024)
    paths = source_files(SOURCE_DIR)
    assert len(paths) >= 7
    for path in paths:
        check_workbook(path, tight)  # raises when over
