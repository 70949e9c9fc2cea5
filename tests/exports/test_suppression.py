"""Suppression: nothing small is published, and no hidden cell can be worked out from a total."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from exports.reports import TEMPLATE, ReportTable
from exports.suppression import suppress

CODES = [code for code, _, _ in TEMPLATE]


def _row(female: int, male: int, u16: int, mid: int, minority: int, foreign: int) -> list[int]:
    total = female + male
    adult = total - u16 - mid
    return [total, female, male, u16, mid, adult, minority, foreign]


def _table(code: str, rows: list[list[int]]) -> ReportTable:
    table = ReportTable(code, "Bảng", "Table", list(TEMPLATE))
    for n, counts in enumerate(rows):
        table.rows.append((f"r{n}", "hàng", "row", counts))
    table.rows.append(("total", "Tổng", "Total", [sum(col) for col in zip(*rows, strict=True)]))
    return table


def _recoverable(original: ReportTable, published: ReportTable) -> list[tuple[int, int]]:
    """Cells a reader can recover: alone hidden in a sum whose other terms are all shown."""
    values = [counts for *_, counts in original.rows]
    shown = [counts for *_, counts in published.rows]
    sums: list[tuple[tuple[int, int], list[tuple[int, int]]]] = []
    total, female, male, u16, mid, adult = (
        CODES.index(c) for c in ("total", "female", "male", "u16", "16_17", "adult")
    )
    for r in range(len(values)):
        sums.append(((r, total), [(r, female), (r, male)]))
        sums.append(((r, total), [(r, u16), (r, mid), (r, adult)]))
    last = len(values) - 1
    for c in range(len(CODES)):
        sums.append(((last, c), [(r, c) for r in range(last)]))
    found = []
    for marginal, parts in sums:
        cells = [marginal, *parts]
        unknown = [cell for cell in cells if not isinstance(shown[cell[0]][cell[1]], int)]
        if len(unknown) == 1:
            found.append(unknown[0])
    return found


def test_small_cells_and_their_giveaways_are_hidden() -> None:
    table = _table(
        "T1", [_row(3, 0, 1, 2, 0, 0), _row(20, 15, 3, 7, 4, 2), _row(12, 9, 0, 0, 8, 1)]
    )
    published = suppress(table, threshold=5)
    for *_, counts in published.rows:
        for value in counts:
            assert not (isinstance(value, int) and 0 < value < 5)
    assert _recoverable(table, published) == []
    assert published.rows[0][3][0] == "<5"  # 3 persons in the first row: hidden
    assert "shown as <5" in published.notes[-1]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 12),
            st.integers(0, 12),
            st.integers(0, 5),
            st.integers(0, 5),
            st.integers(0, 6),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_random_tables_cannot_be_undone(rows: list[tuple[int, ...]]) -> None:
    counts = []
    for female, male, u16, mid, minority, foreign in rows:
        u16 = min(u16, female + male)
        mid = min(mid, female + male - u16)
        counts.append(
            _row(female, male, u16, mid, min(minority, female + male), min(foreign, female + male))
        )
    table = _table("T1", counts)
    published = suppress(table, threshold=5)
    for *_, cells in published.rows:
        assert all(not (isinstance(v, int) and 0 < v < 5) for v in cells)
    assert _recoverable(table, published) == []


def test_threshold_one_changes_nothing() -> None:
    table = _table("T3", [_row(1, 1, 1, 0, 0, 0)])
    assert suppress(table, threshold=1) == table
