"""Fuzzing the XLSForm upload: any workbook an admin uploads gives a published version or a
clear Problem, never a crash, and writes nothing outside the data directory."""

from __future__ import annotations

import io
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from server.blobs import FileBlobStore
from server.config import Config
from server.errors import Problem
from server.services.form_upload import upload_xlsform
from server.services.setup import initialise
from server.store.db import Store

TYPES = [
    "text",
    "integer",
    "select_one yn",
    "select_one missing",
    "begin_group",
    "end_group",
    "begin_repeat",
    "end_repeat",
    "calculate",
    "date",
    "note",
    "geopoint",
    "bogus type",
    "",
]
cell = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)


def _workbook(rows: list[tuple[str, str, str, str]], form_id: str) -> bytes:
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::Tiếng Việt (vi)", "calculation"])
    for row in rows:
        survey.append(list(row))
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label::Tiếng Việt (vi)"])
    choices.append(["yn", "yes", "Có"])
    choices.append(["yn", "no", "Không"])
    settings_sheet = book.create_sheet("settings")
    settings_sheet.append(["form_id", "encrypted"])
    settings_sheet.append([form_id, "yes"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.skipif(shutil.which("java") is None, reason="ODK Validate needs java")
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(st.tuples(st.sampled_from(TYPES), cell, cell, cell), max_size=6),
    form_id=st.sampled_from(["fuzz", "", "thử nghiệm", "a/b"]),
    garbage=st.binary(max_size=64),
)
def test_any_upload_is_published_or_refused_clearly(
    config: Config,
    store: Store,
    rows: list[tuple[str, str, str, str]],
    form_id: str,
    garbage: bytes,
) -> None:
    initialise(config, store)
    blobs = FileBlobStore(config.blob_dir)
    outside = {p for p in config.data_dir.parent.iterdir() if p != config.data_dir}
    refusals: list[Problem] = []
    for content in (_workbook(rows, form_id), b"PK\x03\x04" + garbage, garbage):
        with store.session() as session:
            try:
                upload_xlsform(session, blobs, content, "fuzz")
            except Problem as problem:
                refusals.append(problem)
    assert [p.message for p in refusals if p.status != 400] == []
    assert len(refusals) >= 2  # the two non-workbooks at least
    assert {p for p in config.data_dir.parent.iterdir() if p != config.data_dir} == outside
