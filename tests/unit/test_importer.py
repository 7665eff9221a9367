"""The importer's parsing and validation, without a database."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from token_service import importer
from token_service.errors import ImportRejected


def test_valid_rows_with_unknown_columns_and_blank_lines() -> None:
    content = b"\xef\xbb\xbfName,ID,Registration_No,email,notes\nAnn,s1,R1,a@b.io,hi\n\n,,,,\n"
    parsed = importer.parse("student", content)
    assert parsed.problems == []
    assert parsed.rows == [{"id": "s1", "registration_no": "R1", "name": "Ann", "email": "a@b.io"}]


def test_formula_like_cells_are_kept_as_text() -> None:
    parsed = importer.parse("stall", b"id,stall_number,name\nT1,=cmd|'/c calc'!A1,+SUM(1)\n")
    assert parsed.rows[0]["stall_number"] == "=cmd|'/c calc'!A1"


def test_control_characters_and_long_fields_are_rejected() -> None:
    content = b"id,stall_number,name\nT1,A\x07,ok\nT2,B," + b"n" * 201 + b"\n"
    parsed = importer.parse("stall", content)
    assert [(p.line, p.field) for p in parsed.problems] == [(2, "stall_number"), (3, "name")]


def test_zip_bomb_posing_as_xlsx_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 1024 * 1024))
    with pytest.raises(ImportRejected, match="256 MB"):
        importer.parse("student", buffer.getvalue())


def test_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(ImportRejected, match="larger than"):
        importer.parse("student", b"x" * (importer.MAX_FILE_BYTES + 1))


def test_unbalanced_quotes_are_a_clear_error() -> None:
    with pytest.raises(ImportRejected, match="cannot be parsed"):
        importer.parse("stall", b'id,stall_number,name\nT1,"A,B\n')


def _padded_xlsx() -> bytes:
    """A 5 KB sheet that claims 16,384 columns and a million rows: one cell in the last row."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "registration_no", "name", "email"])
    sheet.append(["S1", "R1", "One", "one@campus.edu"])
    sheet.cell(row=1_048_576, column=1, value="x")
    buffer = io.BytesIO()
    book.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    patched = io.BytesIO()
    with zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', data)
                assert b"XFD1048576" in data
            target.writestr(item, data)
    return patched.getvalue()


def test_a_sheet_padded_with_blank_rows_is_refused_quickly() -> None:
    import time

    content = _padded_xlsx()
    assert len(content) < 10_000
    started = time.monotonic()
    with pytest.raises(ImportRejected, match="more than 200000 rows, blank ones included; raise"):
        importer.parse("student", content)
    assert time.monotonic() - started < 20  # it was minutes, a million rows of 16,384 cells


def test_reading_has_a_time_budget() -> None:
    csv = b"id,registration_no,name,email\n" + b"".join(
        f"S{i},R{i},Name {i},s{i}@campus.edu\n".encode() for i in range(5000)
    )
    with pytest.raises(ImportRejected, match="took more than 0 s; split it"):
        importer.parse("student", csv, budget_seconds=0)
    assert len(importer.parse("student", csv).rows) == 5000


def test_the_row_cap_is_a_setting_and_a_file_over_it_is_refused_before_its_rows_are_read() -> None:
    header = b"id,registration_no,name,email\n"
    rows = b"".join(f"S{i},R{i},Name {i},s{i}@campus.edu\n".encode() for i in range(11))
    assert len(importer.parse("student", header + rows, max_rows=11).rows) == 11
    with pytest.raises(ImportRejected, match=r"more than 10 rows.*QRPASS_IMPORT_MAX_ROWS.*split"):
        importer.parse("student", header + rows, max_rows=10)
    # Refused from the line count alone: the file is not even decoded (it is not UTF-8).
    with pytest.raises(ImportRejected, match="more than 11 rows"):
        importer.parse("student", header + rows + b"\xff,R,N,e@x.org\n", max_rows=11)
    with pytest.raises(ImportRejected, match="not UTF-8"):
        importer.parse("student", header + rows + b"\xff,R,N,e@x.org\n", max_rows=12)


def test_a_sheet_over_the_row_cap_is_refused_from_its_declared_size() -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "registration_no", "name", "email"])
    for i in range(6):
        sheet.append([f"S{i}", f"R{i}", f"Name {i}", f"s{i}@campus.edu"])
    buffer = io.BytesIO()
    book.save(buffer)
    assert len(importer.parse("student", buffer.getvalue(), max_rows=6).rows) == 6
    with pytest.raises(ImportRejected, match="more than 5 rows"):
        importer.parse("student", buffer.getvalue(), max_rows=5)
