"""Writing report tables: one safe CSV per table and one XLSX workbook, a sheet per table."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from exports.csvsafe import csv_text, neutralise
from exports.files import atomic_output
from exports.reports import ReportTable


def write_report(tables: list[ReportTable], out_dir: Path, period_name: str) -> list[Path]:
    """Write `<period>-T1.csv`... and `<period>-report.xlsx` into `out_dir`, atomically."""
    written = []
    for table in tables:
        path = out_dir / f"{period_name}-{table.code}.csv"
        rows = table.lines() + [[note] for note in table.notes]
        with atomic_output(path) as handle:
            handle.write(csv_text(rows).encode("utf-8"))
        written.append(path)
    book = Workbook()
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(table.code)
        sheet.append([f"{table.code}. {table.title_vi} / {table.title_en} ({period_name})"])
        sheet["A1"].font = Font(bold=True)
        for row in table.lines():
            sheet.append([neutralise(cell) for cell in row])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for note in table.notes:
            sheet.append([neutralise(note)])
        sheet.column_dimensions["B"].width = 48
    buffer = io.BytesIO()
    book.save(buffer)
    xlsx = out_dir / f"{period_name}-report.xlsx"
    with atomic_output(xlsx) as handle:
        handle.write(buffer.getvalue())
    written.append(xlsx)
    return written
