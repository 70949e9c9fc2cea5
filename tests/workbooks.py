"""XLSForm workbooks for tests, including ones too large to be forms, made at test time.

A small valid form is written by openpyxl; a large sheet is then streamed straight into the
zip as SpreadsheetML (openpyxl would take longer to write 400,000 rows than the server may take
to refuse them). Zip bombs are written with zipfile and zlib.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator

from openpyxl import Workbook

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def small_form(form_id: str = "big_form", sheets: int = 0) -> bytes:
    """survey (one select_one of list `big`), choices (two rows), settings; plus `sheets`
    empty extra sheets named extra1... (openpyxl stores sheet N as xl/worksheets/sheetN.xml)."""
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::Tiếng Việt (vi)"])
    survey.append(["select_one big", "pick", "Chọn"])
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label::Tiếng Việt (vi)"])
    choices.append(["big", "c0", "Lựa chọn 0"])
    choices.append(["big", "c1", "Lựa chọn 1"])
    settings = book.create_sheet("settings")
    settings.append(["form_id", "encrypted"])
    settings.append([form_id, "no"])
    for n in range(sheets):
        book.create_sheet(f"extra{n + 1}").append(["note"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def choice_rows(count: int, start: int = 2) -> Iterator[bytes]:
    """Rows of the choices sheet, as Excel writes them (inline strings here)."""
    for n in range(start, start + count):
        yield (
            f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>big</t></is></c>'
            f'<c r="B{n}" t="inlineStr"><is><t>c{n}</t></is></c>'
            f'<c r="C{n}" t="inlineStr"><is><t>Lựa chọn {n}</t></is></c></row>'
        ).encode()


def compact_rows(count: int, start: int = 2) -> Iterator[bytes]:
    """Rows of one number each: the most rows a megabyte can hold."""
    for n in range(start, start + count):
        yield f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>'.encode()


def sheet_xml(rows: Iterator[bytes], dimension: str | None = None) -> Iterator[bytes]:
    """A worksheet document around `rows`: a header row, then the given rows."""
    yield f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}">'.encode()
    if dimension:
        yield f'<dimension ref="{dimension}"/>'.encode()
    yield (
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>list_name</t></is></c>'
        b'<c r="B1" t="inlineStr"><is><t>name</t></is></c>'
        b'<c r="C1" t="inlineStr"><is><t>label::Ti\xe1\xba\xbfng Vi\xe1\xbb\x87t (vi)</t></is>'
        b"</c></row>"
    )
    yield from rows
    yield b"</sheetData></worksheet>"


def replace_sheets(workbook: bytes, sheets: dict[str, Iterator[bytes]]) -> bytes:
    """The workbook with some members (e.g. `xl/worksheets/sheet2.xml`) streamed anew."""
    source = zipfile.ZipFile(io.BytesIO(workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in sheets:
                target.writestr(info, source.read(info))
        for name, chunks in sheets.items():
            with target.open(name, "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
    return out.getvalue()


def with_choices(count: int) -> bytes:
    """A valid form whose choices sheet has `count` rows below its header."""
    return replace_sheets(small_form(), {"xl/worksheets/sheet2.xml": sheet_xml(choice_rows(count))})


def zip_bomb(unpacked_bytes: int, name: str = "xl/worksheets/sheet2.xml") -> bytes:
    """A valid form plus one member that inflates `unpacked_bytes` of spaces (deflate, ~1000:1)."""
    source = zipfile.ZipFile(io.BytesIO(small_form()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info, source.read(info))
        with target.open(name, "w", force_zip64=True) as member:
            block = b" " * (1024 * 1024)
            member.write(f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode())
            for _ in range(unpacked_bytes // len(block)):
                member.write(block)
            member.write(b"</sheetData></worksheet>")
    return out.getvalue()


def lying_bomb(real_bytes: int) -> bytes:
    """A zip whose directory says a member is small while its data inflates `real_bytes`."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = deflate.compress(b" " * real_bytes) + deflate.flush()
    name = b"xl/worksheets/sheet1.xml"
    declared = 1000
    crc = zlib.crc32(b" " * declared)
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), declared, len(name), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0,
        crc,
        len(data),
        declared,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + name + data
    directory = central + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end
