"""Reads a CSV or XLSX file of subjects and validates every row before anything is written."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from qrpass.vocabulary import ID_PATTERN, ID_RULE
from token_service.errors import ImportRejected
from token_service.store import FIELDS

MAX_FILE_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 200_000  # QRPASS_IMPORT_MAX_ROWS raises it
MAX_ERRORS = 200
# Reading a file may take this long; the gateway waits 120 s for the whole import.
READ_BUDGET_SECONDS = 60.0
# A real 200,000-row sheet unpacks to well under this; a zip bomb does not.
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_FIELD_LENGTHS = {"id": 64, "registration_no": 64, "stall_number": 64, "name": 200, "email": 254}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RowProblem:
    """One reason a row was rejected."""

    line: int
    field: str
    reason: str


@dataclass(frozen=True)
class ParsedImport:
    """Either the valid rows, or the problems (then nothing may be written)."""

    rows: list[dict[str, str]]
    problems: list[RowProblem]


def detect_format(content: bytes) -> str:
    return "xlsx" if content[:4] == b"PK\x03\x04" else "csv"


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRejected(f"the CSV is not UTF-8 text (byte {error.start})") from None
    if "\x00" in text:
        raise ImportRejected("the CSV contains NUL bytes; is it a binary file?")
    try:
        yield from csv.reader(io.StringIO(text, newline=""), strict=True)
    except csv.Error as error:
        raise ImportRejected(f"the CSV cannot be parsed: {error}") from None


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # spreadsheets store 12345 as 12345.0
    return str(value)


def _too_many_rows(max_rows: int) -> ImportRejected:
    return ImportRejected(
        f"the file has more than {max_rows} rows, blank ones included; raise the token service's "
        "QRPASS_IMPORT_MAX_ROWS, or split the file (each part is then imported on its own)"
    )


def _xlsx_rows(content: bytes, max_rows: int) -> Iterator[list[str]]:
    import openpyxl  # imported here: only XLSX imports pay for it

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ImportRejected("the XLSX file is not a valid zip archive") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ImportRejected("the XLSX file unpacks to more than 256 MB; refusing it")
    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many types for a damaged workbook
        raise ImportRejected(f"the XLSX file cannot be read: {type(error).__name__}") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise ImportRejected("the XLSX file has no worksheet")
        # Columns past the header are never read: a sheet can claim 16,384 columns (its
        # <dimension>) and openpyxl pads every row to that width.
        # The sheet's <dimension> says how many rows it holds: refuse before reading them.
        if (sheet.max_row or 0) - 1 > max_rows:
            raise _too_many_rows(max_rows)
        header = next(sheet.iter_rows(max_row=1, values_only=True), None)
        if header is None:
            return
        width = max((i + 1 for i, v in enumerate(header) if v not in (None, "")), default=1)
        yield [_cell_text(v) for v in header[:width]]
        for values in sheet.iter_rows(min_row=2, max_col=width, values_only=True):
            yield [_cell_text(v) for v in values]
    finally:
        book.close()


def _check_field(field: str, value: str) -> str | None:
    if field == "id":
        return None if ID_PATTERN.fullmatch(value) else f"must match {ID_RULE}"
    if not value:
        return "is empty"
    if len(value) > MAX_FIELD_LENGTHS[field]:
        return f"is longer than {MAX_FIELD_LENGTHS[field]} characters"
    if _CONTROL.search(value):
        return "contains control characters"
    if field == "email" and not _EMAIL.fullmatch(value):
        return "is not an email address"
    return None


def parse(
    kind: str,
    content: bytes,
    file_format: str | None = None,
    budget_seconds: float = READ_BUDGET_SECONDS,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ParsedImport:
    """Validate a whole file. Raises ImportRejected when the file itself is unusable."""
    deadline = time.monotonic() + budget_seconds
    if not content.strip():
        raise ImportRejected("the file is empty")
    if len(content) > MAX_FILE_BYTES:
        raise ImportRejected(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    file_format = file_format or detect_format(content)
    # A CSV row is at least a line (a field holding a line break is refused anyway), so the
    # line count refuses a file over the cap before a row of it is parsed.
    if file_format == "csv" and content.rstrip(b"\r\n").count(b"\n") > max_rows:
        raise _too_many_rows(max_rows)
    rows = _xlsx_rows(content, max_rows) if file_format == "xlsx" else _csv_rows(content)
    columns = ("id", *FIELDS[kind])

    header = next(rows, None)
    if header is None:
        raise ImportRejected("the file is empty")
    positions = {name.strip().lower(): i for i, name in reversed(list(enumerate(header)))}
    missing = [c for c in columns if c not in positions]
    if missing:
        expected = ",".join(columns)
        raise ImportRejected(f"the header lacks {', '.join(missing)}; expected {expected}")

    valid: list[dict[str, str]] = []
    problems: list[RowProblem] = []
    first_line: dict[str, int] = {}
    for line, cells in enumerate(rows, start=2):
        # Blank rows count: a sheet can pad itself with a million of them.
        if line - 1 > max_rows:
            raise _too_many_rows(max_rows)
        if line % 1000 == 0 and time.monotonic() > deadline:
            raise ImportRejected(
                f"reading the file took more than {budget_seconds:g} s; split it into smaller files"
            )
        if not any(c.strip() for c in cells):
            continue  # blank lines, common at the end of spreadsheets
        row = {
            c: (cells[positions[c]].strip() if positions[c] < len(cells) else "") for c in columns
        }
        row_problems = [
            RowProblem(line, field, f"{field} {reason}")
            for field in columns
            if (reason := _check_field(field, row[field])) is not None
        ]
        if not row_problems and row["id"] in first_line:
            reason = f"duplicate id {row['id']!r}, first on line {first_line[row['id']]}"
            row_problems.append(RowProblem(line, "id", reason))
        if row_problems:
            if len(problems) < MAX_ERRORS:
                problems.extend(row_problems)
            continue
        first_line[row["id"]] = line
        valid.append(row)
    if not valid and not problems:
        raise ImportRejected("the file has a header but no data rows")
    return ParsedImport(valid, problems[:MAX_ERRORS])
