"""Import files into sheets of rows: XLSX (a sheet per kind), a CSV per kind, or a directory of CSVs.

CSV as Swedish Excel writes it: UTF-8 with a BOM (or Windows-1252 from the older "CSV" choice), ``;`` as the
separator (``,`` and tab are recognised too). The first non-empty row holds the headers; row numbers are the
spreadsheet's own, so that a refusal can be found in the file.

A file is small (the web page takes 10 MB) but an XLSX is a zip: a crafted one unpacks to gigabytes, or
declares a sheet as wide as Excel's last column so that a few bytes become millions of empty cells. Before
openpyxl opens it, the zip's members are checked against ``MAX_UNPACKED_BYTES`` (each member's declared size:
``zipfile`` reads no further than it and fails the CRC check on a member that lies), and reading stops at
``MAX_CELLS`` cells of the workbook (CSV too), counted as openpyxl yields them, padding included.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cells import is_blank, text
from .kinds import Kind, kind_of_sheet

MAX_CELL = 100_000  # a cell longer than this is no spreadsheet's value
# The benchmark's file (bench/import.py, scale 1: 10,000 participants, 5,000 pairs, 100,000 attendance rows)
# is 2.4 MB, unpacks to 29 MB and holds 550,000 cells: a 10 MB file of such data, about 120 MB and 2.3 million.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_CELLS = 3_000_000
MAX_MEMBERS = 10_000  # files inside the zip: a workbook has a few per sheet


class FileError(ValueError):
    """The file cannot be read as an import file at all."""


@dataclass
class Sheet:
    kind: Kind
    name: str  # as in the file, for messages
    headers: list[str]
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)  # (row number, cells)


@dataclass
class Workbook:
    sheets: dict[str, Sheet] = field(default_factory=dict)  # by kind name
    ignored_sheets: list[str] = field(default_factory=list)

    def add(self, name: str, table: Iterable[tuple[int, list[Any]]]) -> None:
        kind = kind_of_sheet(name)
        if kind is None:
            self.ignored_sheets.append(name)
            return
        if kind.name in self.sheets:
            raise FileError(f"two sheets for {kind.name}: {self.sheets[kind.name].name} and {name}")
        rows = iter(table)
        for _number, cells in rows:
            if not all(is_blank(c) for c in cells):
                sheet = Sheet(kind, name, [text(c) if not is_blank(c) else "" for c in cells])
                break
        else:
            return  # an empty sheet: nothing to import
        sheet.rows = [(n, cells) for n, cells in rows if not all(is_blank(c) for c in cells)]
        self.sheets[kind.name] = sheet


class _CellBudget:
    """The cells one file may still yield; shared by its sheets."""

    def __init__(self, name: str) -> None:
        self.name, self.left = name, MAX_CELLS

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise FileError(
                f"{self.name} holds more than {MAX_CELLS:,} cells (empty ones included): split it, "
                "for example one sheet per file"
            )


def _numbered(rows: Iterable[Iterable[Any]], budget: _CellBudget) -> Iterator[tuple[int, list[Any]]]:
    for number, cells in enumerate(rows, start=1):
        listed = []
        for cell in cells:  # counted as it comes: a padded row of 16,384 cells stops within its first budget
            listed.append(cell)
            if len(listed) % 1024 == 0:
                budget.spend(1024)
        budget.spend(len(listed) % 1024)
        if any(isinstance(c, str) and len(c) > MAX_CELL for c in listed):
            raise FileError(f"row {number} has a cell longer than {MAX_CELL} characters")
        yield number, listed


def check_unpacked_size(name: str, data: bytes) -> None:
    """Refuse a zip that would unpack beyond ``MAX_UNPACKED_BYTES`` (a zip bomb) before anything unpacks it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise FileError("not a readable XLSX file (BadZipFile)") from None
    unpacked = sum(m.file_size for m in members)
    if len(members) > MAX_MEMBERS or unpacked > MAX_UNPACKED_BYTES:
        raise FileError(
            f"{name} would unpack to {unpacked // (1024 * 1024):,} MB in {len(members):,} parts, more than "
            f"an import reads ({MAX_UNPACKED_BYTES // (1024 * 1024)} MB): is it really a spreadsheet?"
        )


def decode_csv(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def csv_rows(data: bytes) -> list[list[str]]:
    content = decode_csv(data)
    if "\x00" in content:
        raise FileError("the CSV file contains NUL characters: is it really a CSV file?")
    first_line = content.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count) if first_line else ";"
    return list(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter))


def read_xlsx(data: bytes, name: str = "the file") -> Workbook:
    from openpyxl import load_workbook

    check_unpacked_size(name, data)
    budget = _CellBudget(name)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise FileError(f"not a readable XLSX file ({type(exc).__name__})") from None
    workbook = Workbook()
    try:
        for sheet in book.worksheets:
            workbook.add(sheet.title, _numbered(sheet.iter_rows(values_only=True), budget))
    except FileError:
        raise
    except Exception as exc:  # noqa: BLE001 - a sheet's XML broken half-way, a member failing its CRC check
        raise FileError(f"not a readable XLSX file ({type(exc).__name__})") from None
    finally:
        book.close()
    return workbook


def read_file(name: str, data: bytes, workbook: Workbook | None = None) -> Workbook:
    """One uploaded file: XLSX, or a CSV named after its kind (``deltagare.csv``, ``pairs.csv``)."""
    suffix = Path(name).suffix.casefold()
    if suffix in (".xlsx", ".xlsm") or data.startswith(b"PK\x03\x04"):
        if workbook is not None and workbook.sheets:
            raise FileError("an XLSX file holds every sheet: import it alone")
        return read_xlsx(data, name)
    workbook = workbook if workbook is not None else Workbook()
    workbook.add(Path(name).stem, _numbered(csv_rows(data), _CellBudget(name)))
    return workbook


def read_path(path: Path) -> Workbook:
    """A file, or a directory of CSV files (one per kind, as ``sprakvan export`` writes them)."""
    if path.is_dir():
        workbook = Workbook()
        for item in sorted(path.glob("*.csv")):
            read_file(item.name, item.read_bytes(), workbook)
        return workbook
    return read_file(path.name, path.read_bytes())
