"""Writing sheets: XLSX, or a directory of CSVs for Swedish Excel (UTF-8 with BOM, ``;``, CRLF).

Used for templates (headers only, and a sheet that explains each column) and for exports. A text cell
that starts with ``= + - @`` is written as text, never as a formula (in CSV behind an apostrophe, which the
reader drops again).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cells import FORMULA_START
from .kinds import KINDS, Column, Kind, Type


@dataclass
class Table:
    name: str
    headers: list[str]
    rows: list[Sequence[Any]] = field(default_factory=list)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() else repr(value)).replace(".", ",")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_bytes(table: Table) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(table.headers)
    writer.writerows([_csv_cell(v) for v in row] for row in table.rows)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def xlsx_bytes(tables: Iterable[Table]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    for table in tables:
        sheet = book.create_sheet(table.name[:31])  # Excel's limit for a sheet name
        sheet.append(table.headers)
        for row in table.rows:
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # never a formula
                cells.append(cell)
            sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write(tables: list[Table], out: Path) -> list[Path]:
    """``out.xlsx``: one workbook; anything else: a directory with a CSV per table."""
    if out.suffix.casefold() == ".xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(xlsx_bytes(tables))
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        path = out / f"{table.name}.csv"
        path.write_bytes(csv_bytes(table))
        written.append(path)
    return written


_TYPE_WORDS = {
    Type.TEXT: ("text", "text"),
    Type.INTEGER: ("heltal", "whole number"),
    Type.NUMBER: ("tal, decimalkomma", "number, decimal comma or point"),
    Type.BOOLEAN: ("ja/nej", "yes/no"),
    Type.DATE: ("datum 2024-03-05", "date 2024-03-05"),
    Type.MOMENT: ("datum, ev. med tid: 2024-03-05 18:00", "date, or date and time: 2024-03-05 18:00"),
    Type.TIME: ("klockslag 18:00", "time of day 18:00"),
    Type.CODE: ("kod eller benämning i", "code or label of"),
    Type.CODES: ("koder eller benämningar, kommaseparerade, i", "codes or labels, comma-separated, of"),
    Type.PAIRS: ("par som ar:native, kommaseparerade", "pairs like ar:native, comma-separated"),
    Type.PARTICIPANT: ("nyckel i bladet deltagare", "key in the participants sheet"),
    Type.KEY: ("nyckel i bladet", "key in the sheet"),
}


def _explain(kind: Kind, column: Column, language: str) -> list[str]:
    sv = language == "sv"
    words = _TYPE_WORDS[column.type][0 if sv else 1]
    if column.type in (Type.CODE, Type.CODES) and column.vocabulary:
        words = f"{words} {column.vocabulary}"
    if column.type is Type.KEY and column.refers_to:
        from .kinds import BY_NAME

        words = f"{words} {BY_NAME[column.refers_to].sheet(language)}"
    required = ("ja" if sv else "yes") if column.required else ""
    return [kind.sheet(language), column.header(language), column.field, words, required]


def template(language: str) -> list[Table]:
    """A sheet per kind with its headers, and one that explains every column."""
    tables = [Table(kind.sheet(language), [c.header(language) for c in kind.columns]) for kind in KINDS]
    sv = language == "sv"
    headers = ["blad", "kolumn", "fält", "innehåll", "krävs"]
    if not sv:
        headers = ["sheet", "column", "field", "what", "required"]
    guide = Table("anvisningar" if sv else "instructions", headers)
    guide.rows = [_explain(kind, column, language) for kind in KINDS for column in kind.columns]
    return tables + [guide]
