"""Small-cell suppression for report tables shared beyond the official reporting line.

Exact counts go up the official line; anything published further gets cells of 1 to
threshold-1 hidden (shown as "<threshold"), and then enough other cells hidden that a hidden
cell cannot be worked out from a total. The totals a reader can subtract from are:
- each row's "total" column against its sex columns (female + male) and its age columns
  (under 16, 16-17, 18 and over), in each block of the column template;
- for tables whose rows exclude each other (T1 channels, T3 countries), each column's "total"
  row against the rows above it.
A table that declares its sums (`column_sums`, `row_sums`: every table exports/reports.py
builds, subtotal rows included) is protected on exactly those instead. Every such sum
that holds a hidden cell is made to hold at least two. Sums that do not add up exactly
(unknown sex or age) are treated as if they did, which hides more, never less. This stops
recovery from any single total; it is not a full linear-programming audit.
"""

from __future__ import annotations

from dataclasses import replace

from exports.reports import ReportTable

EXCLUSIVE_ROWS = {"T1", "T3"}
Cell = tuple[int, int]  # (row index, column index)


def _declared(table: ReportTable) -> list[tuple[Cell, list[Cell]]]:
    """The sums a table declares: columns adding up in every row, rows in every column."""
    codes = [code for code, _, _ in table.columns]
    row_codes = [code for code, _, _, _ in table.rows]
    found: list[tuple[Cell, list[Cell]]] = []
    for marginal, parts in table.column_sums:
        if marginal not in codes:
            continue
        cells = [codes.index(p) for p in parts if p in codes]
        for row in range(len(table.rows)):
            found.append(((row, codes.index(marginal)), [(row, c) for c in cells]))
    for marginal, parts in table.row_sums:
        if marginal not in row_codes:
            continue
        rows = [row_codes.index(p) for p in parts if p in row_codes]
        for column in range(len(codes)):
            found.append(((row_codes.index(marginal), column), [(r, column) for r in rows]))
    return found


def _partitions(table: ReportTable) -> list[tuple[Cell, list[Cell]]]:
    """(marginal cell, cells that add up to it) for every total a reader can use."""
    if table.column_sums or table.row_sums:
        return _declared(table)
    codes = [code for code, _, _ in table.columns]
    found: list[tuple[Cell, list[Cell]]] = []
    for row in range(len(table.rows)):
        for position, code in enumerate(codes):
            if not code.endswith("total"):
                continue
            prefix = code[: -len("total")]
            for group in (("female", "male"), ("u16", "16_17", "adult")):
                parts = [codes.index(prefix + name) for name in group if prefix + name in codes]
                if len(parts) == len(group):
                    found.append(((row, position), [(row, p) for p in parts]))
    row_codes = [code for code, _, _, _ in table.rows]
    if table.code in EXCLUSIVE_ROWS and "total" in row_codes:
        total_row = row_codes.index("total")
        others = [r for r in range(len(table.rows)) if r != total_row]
        for column in range(len(codes)):
            found.append(((total_row, column), [(r, column) for r in others]))
    return found


def suppress(table: ReportTable, threshold: int = 5) -> ReportTable:
    """A copy of `table` whose small cells, and the cells that would reveal them, are hidden."""
    if threshold < 2:
        return table
    values = [list(counts) for _, _, _, counts in table.rows]
    hidden = {
        (r, c)
        for r, row in enumerate(values)
        for c, v in enumerate(row)
        if isinstance(v, int) and 0 < v < threshold
    }
    partitions = _partitions(table)
    changed = True
    while changed:
        changed = False
        for marginal, parts in partitions:
            group = [marginal, *parts]
            if sum(cell in hidden for cell in group) != 1:
                continue
            candidates = [
                cell for cell in group if cell not in hidden and values[cell[0]][cell[1]] > 0
            ]
            if not candidates:
                continue
            hidden.add(
                min(candidates, key=lambda cell: (cell == marginal, values[cell[0]][cell[1]]))
            )
            changed = True
    rows = [
        (
            code,
            vi,
            en,
            [f"<{threshold}" if (r, c) in hidden else v for c, v in enumerate(values[r])],
        )
        for r, (code, vi, en, _) in enumerate(table.rows)
    ]
    notes = [
        *table.notes,
        f"Cells of 1 to {threshold - 1} are shown as <{threshold}, and "
        "some others are hidden so that they cannot be worked out from totals.",
    ]
    return replace(table, rows=rows, notes=notes)
