"""Writing a report: a safe CSV per table, `report.json`, and one XLSX workbook laid out as a
Vietnamese administrative report that a head of unit can sign.

The workbook's first sheet ("Báo cáo") is the report itself: the national motto block, the
reporting unit, the report's name and period ("Kỳ báo cáo: từ 15/12/2025 đến 14/6/2026"), the
numbered tables with Vietnamese headings and their totals rows, the notes on definitions and
the signature block (Người lập biểu / Thủ trưởng đơn vị, place and date); A4 landscape, one
page wide. The second ("Report (EN)") is the same in English; then one plain sheet per table.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from exports.csvsafe import csv_text, neutralise
from exports.files import atomic_output
from exports.periods import KIND_NAMES, Period
from exports.report_json import dumps, report_document
from exports.reports import ReportTable

FONT = "Times New Roman"  # the font of Vietnamese administrative documents (Decree 30/2020)
THIN = Side(style="thin", color="000000")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
LABEL_WIDTH = 52
NUMBER_WIDTH = 10.5


@dataclass(frozen=True)
class ReportHeading:
    """Who reports, where and when: what the heading and signature block say."""

    unit_code: str
    unit_name: str
    place: str = ""
    generated_at: datetime | None = None


DEFINITIONS = {
    "vi": [
        "Người được tiếp nhận: người được cơ quan, đơn vị tiếp nhận trong kỳ, mỗi người một lần "
        "mỗi hồ sơ; hồ sơ chuyển đơn vị được tính cho đơn vị tiếp nhận đầu tiên.",
        "Tình trạng theo kết quả xác minh (mẫu VT02) đến ngày cuối kỳ: nạn nhân (đã xác định), "
        "đang trong quá trình xác định là nạn nhân, không phải nạn nhân.",
        "Biểu 2 và 3 chỉ tính nạn nhân và người đang được xác định.",
        "Nhóm tuổi theo mẫu tiếp nhận (VT01); 45 tuổi trở lên = 45-59 và từ 60 trở lên.",
    ],
    "en": [
        "People received: persons a unit received in the period, once per case; a case moved "
        "between units counts for the unit that first received it.",
        "Status from verification (form VT02) up to the last day of the period: identified "
        "victim, being identified, not a victim.",
        "Tables 2 and 3 count identified victims and persons being identified only.",
        "Age groups as the intake form (VT01) computes them; 45 and over = 45-59 and 60+.",
    ],
}


def _date_line(heading: ReportHeading, language: str) -> str:
    when = heading.generated_at or datetime.now()
    place = heading.place or "……………"
    if language == "vi":
        return f"{place}, ngày {when.day} tháng {when.month} năm {when.year}"
    return f"{place}, {when.day}/{when.month}/{when.year}"


def _write_sheet(
    sheet: Worksheet,
    tables: list[ReportTable],
    period: Period,
    heading: ReportHeading,
    language: str,
) -> None:
    vi = language == "vi"
    width = 1 + max(len(t.columns) for t in tables)
    last = get_column_letter(width)
    plain = Font(name=FONT, size=11)
    bold = Font(name=FONT, size=11, bold=True)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    left = Alignment(horizontal="left", vertical="top", wrap_text=True)
    split = max(2, width // 2)
    motto_from = get_column_letter(split + 1)

    def put(row: int, text: str, font: Font, first: str, end: str, align: Alignment) -> None:
        sheet.merge_cells(f"{first}{row}:{end}{row}")
        cell = sheet[f"{first}{row}"]
        cell.value = neutralise(text)
        cell.font = font
        cell.alignment = align

    row = 1
    unit_line = heading.unit_name.upper() if vi else heading.unit_name
    put(row, unit_line, bold, "A", get_column_letter(split), centre)
    put(
        row,
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" if vi else "SOCIALIST REPUBLIC OF VIET NAM",
        bold,
        motto_from,
        last,
        centre,
    )
    row += 1
    put(
        row,
        f"Mã đơn vị: {heading.unit_code}" if vi else f"Unit code: {heading.unit_code}",
        plain,
        "A",
        get_column_letter(split),
        centre,
    )
    put(
        row,
        "Độc lập – Tự do – Hạnh phúc" if vi else "Independence – Freedom – Happiness",
        Font(name=FONT, size=12, bold=True, underline="single"),
        motto_from,
        last,
        centre,
    )
    row += 1
    put(
        row,
        _date_line(heading, language),
        Font(name=FONT, size=11, italic=True),
        motto_from,
        last,
        centre,
    )
    row += 2
    kind_vi, kind_en = KIND_NAMES[period.kind]
    title = (
        f"{kind_vi.upper()} CÔNG TÁC TIẾP NHẬN, XÁC MINH, BẢO VỆ, HỖ TRỢ NẠN NHÂN "
        "VÀ PHÒNG NGỪA MUA BÁN NGƯỜI"
        if vi
        else f"{kind_en.upper()}: RECEPTION, IDENTIFICATION, PROTECTION AND SUPPORT OF VICTIMS, "
        "AND PREVENTION OF TRAFFICKING IN PERSONS"
    )
    put(row, title, Font(name=FONT, size=13, bold=True), "A", last, centre)
    sheet.row_dimensions[row].height = 36
    row += 1
    put(
        row,
        period.line_vi() if vi else period.line_en(),
        Font(name=FONT, size=12, italic=True),
        "A",
        last,
        centre,
    )
    if period.calendar:
        row += 1
        put(
            row,
            "(kỳ theo năm dương lịch, để phân tích)" if vi else "(calendar period, for analysis)",
            plain,
            "A",
            last,
            centre,
        )
    row += 2
    for number, table in enumerate(tables, start=1):
        name = table.title_vi if vi else table.title_en
        label = "Biểu" if vi else "Table"
        put(row, f"{label} {number} ({table.code}). {name}", bold, "A", last, left)
        row += 1
        header = ["Nội dung" if vi else "Item"] + [
            (cvi if vi else cen) for _, cvi, cen in table.columns
        ]
        for column, text in enumerate(header, start=1):
            cell = sheet.cell(row=row, column=column, value=text)
            cell.font = Font(name=FONT, size=10, bold=True)
            cell.alignment = centre
            cell.border = BOX
        sheet.row_dimensions[row].height = 54
        row += 1
        children = {
            part for key, parts in table.row_sums if key in table.subtotal_rows for part in parts
        }
        for key, rvi, ren, counts in table.rows:
            strong = key == "total" or key in table.subtotal_rows
            cell = sheet.cell(row=row, column=1, value=neutralise(rvi if vi else ren))
            cell.font = Font(name=FONT, size=10, bold=strong)
            cell.alignment = Alignment(
                horizontal="left", vertical="top", wrap_text=True, indent=2 * (key in children)
            )
            label_lines = -(-len(str(cell.value)) // int(LABEL_WIDTH * 1.15))
            if label_lines > 1:  # LibreOffice does not grow a row for wrapped text by itself
                sheet.row_dimensions[row].height = 13.5 * label_lines
            cell.border = BOX
            for column, value in enumerate(counts, start=2):
                cell = sheet.cell(row=row, column=column, value=neutralise(value))
                cell.font = Font(name=FONT, size=10, bold=strong)
                cell.alignment = Alignment(horizontal="right", vertical="top")
                cell.border = BOX
                if isinstance(value, int):
                    cell.number_format = "#,##0"
            row += 1
        for note in table.notes:
            put(row, note, Font(name=FONT, size=9, italic=True), "A", last, left)
            if len(note) > 180:
                sheet.row_dimensions[row].height = 24
            row += 1
        row += 1
    put(row, "Ghi chú về định nghĩa:" if vi else "Definitions:", bold, "A", last, left)
    row += 1
    for note in DEFINITIONS[language]:
        put(row, f"- {note}", Font(name=FONT, size=10), "A", last, left)
        sheet.row_dimensions[row].height = 28
        row += 1
    row += 1
    put(
        row,
        _date_line(heading, language),
        Font(name=FONT, size=11, italic=True),
        motto_from,
        last,
        centre,
    )
    row += 1
    put(row, "NGƯỜI LẬP BIỂU" if vi else "PREPARED BY", bold, "A", get_column_letter(split), centre)
    put(row, "THỦ TRƯỞNG ĐƠN VỊ" if vi else "HEAD OF UNIT", bold, motto_from, last, centre)
    row += 1
    put(
        row,
        "(Ký, ghi rõ họ tên)" if vi else "(signature, full name)",
        Font(name=FONT, size=10, italic=True),
        "A",
        get_column_letter(split),
        centre,
    )
    put(
        row,
        "(Ký, ghi rõ họ tên, đóng dấu)" if vi else "(signature, full name, seal)",
        Font(name=FONT, size=10, italic=True),
        motto_from,
        last,
        centre,
    )
    sheet.column_dimensions["A"].width = LABEL_WIDTH
    for column in range(2, width + 1):
        sheet.column_dimensions[get_column_letter(column)].width = NUMBER_WIDTH
    setup = sheet.page_setup
    setup.paperSize = sheet.PAPERSIZE_A4
    setup.orientation = sheet.ORIENTATION_LANDSCAPE
    setup.fitToWidth = 1
    setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.print_title_rows = None


def workbook_bytes(tables: list[ReportTable], period: Period, heading: ReportHeading) -> bytes:
    """The report as an XLSX workbook."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Báo cáo"
    _write_sheet(sheet, tables, period, heading, "vi")
    _write_sheet(book.create_sheet("Report (EN)"), tables, period, heading, "en")
    for table in tables:
        plain = book.create_sheet(table.code)
        plain.append([f"{table.code}. {table.title_vi} / {table.title_en} ({period.name})"])
        plain["A1"].font = Font(name=FONT, bold=True)
        for line in table.lines():
            plain.append([neutralise(cell) for cell in line])
        for cell in plain[2]:
            cell.font = Font(name=FONT, bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for note in table.notes:
            plain.append([neutralise(note)])
        plain.column_dimensions["B"].width = 48
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_report(
    tables: list[ReportTable], out_dir: Path, period: Period, heading: ReportHeading
) -> list[Path]:
    """Write `<period>-T1.csv`..., `<period>-report.xlsx` and `report.json` into `out_dir`,
    each atomically."""
    name = period.name
    written = []
    for table in tables:
        path = out_dir / f"{name}-{table.code}.csv"
        rows = table.lines() + [[note] for note in table.notes]
        with atomic_output(path) as handle:
            handle.write(csv_text(rows).encode("utf-8"))
        written.append(path)
    xlsx = out_dir / f"{name}-report.xlsx"
    with atomic_output(xlsx) as handle:
        handle.write(workbook_bytes(tables, period, heading))
    written.append(xlsx)
    document = report_document(
        tables, period, heading.unit_code, heading.generated_at or datetime.now()
    )
    json_path = out_dir / "report.json"
    with atomic_output(json_path) as handle:
        handle.write(dumps(document).encode("utf-8"))
    written.append(json_path)
    return written


def heading_for(
    units: tuple[str, ...] | list[str],
    generated_at: datetime,
    unit_name: str | None = None,
    place: str = "",
) -> ReportHeading:
    """The heading of a report on `units` (none: every unit), named from the units list."""
    from exports.reports import unit_names

    names = unit_names()
    codes = sorted(units)
    code = ",".join(codes) if codes else "all"
    if unit_name:
        name = unit_name
    elif codes:
        name = ", ".join(names.get(c, c) for c in codes)
    else:
        name = "Tất cả đơn vị / All units"
    return ReportHeading(code, name, place, generated_at)
