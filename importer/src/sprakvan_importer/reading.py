"""Import files into sheets of rows: XLSX (a sheet per kind), a CSV per kind, or a directory of CSVs.

CSV as Swedish Excel writes it: UTF-8 with a BOM (or Windows-1252 from the older "CSV" choice), ``;`` as the
separator (``,`` and tab are recognised too). The first non-empty row holds the headers; row numbers are the
spreadsheet's own, so that a refusal can be found in the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cells import is_blank, text
from .kinds import Kind, kind_of_sheet

MAX_CELL = 100_000  # a cell longer than this is no spreadsheet's value


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


def _numbered(rows: Iterable[Iterable[Any]]) -> Iterator[tuple[int, list[Any]]]:
    for number, cells in enumerate(rows, start=1):
        listed = list(cells)
        if any(isinstance(c, str) and len(c) > MAX_CELL for c in listed):
            raise FileError(f"row {number} has a cell longer than {MAX_CELL} characters")
        yield number, listed


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


def read_xlsx(data: bytes) -> Workbook:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise FileError(f"not a readable XLSX file ({type(exc).__name__})") from None
    workbook = Workbook()
    try:
        for sheet in book.worksheets:
            workbook.add(sheet.title, _numbered(sheet.iter_rows(values_only=True)))
    finally:
        book.close()
    return workbook


def read_file(name: str, data: bytes, workbook: Workbook | None = None) -> Workbook:
    """One uploaded file: XLSX, or a CSV named after its kind (``deltagare.csv``, ``pairs.csv``)."""
    suffix = Path(name).suffix.casefold()
    if suffix in (".xlsx", ".xlsm") or data.startswith(b"PK\x03\x04"):
        if workbook is not None and workbook.sheets:
            raise FileError("an XLSX file holds every sheet: import it alone")
        return read_xlsx(data)
    workbook = workbook if workbook is not None else Workbook()
    workbook.add(Path(name).stem, _numbered(csv_rows(data)))
    return workbook


def read_path(path: Path) -> Workbook:
    """A file, or a directory of CSV files (one per kind, as ``sprakvan export`` writes them)."""
    if path.is_dir():
        workbook = Workbook()
        for item in sorted(path.glob("*.csv")):
            read_file(item.name, item.read_bytes(), workbook)
        return workbook
    return read_file(path.name, path.read_bytes())
