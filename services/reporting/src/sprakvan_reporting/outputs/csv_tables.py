"""Each review table as a CSV that Swedish Excel opens as it is: UTF-8 with a BOM, ``;`` between cells,
CRLF line ends, numbers raw (no thousands separator; a decimal comma in Swedish), and text cells that
start like a formula escaped with a leading apostrophe."""

from __future__ import annotations

import csv
import io
from typing import Any

from .texts import column_heading, label

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CODE_KINDS = {"text", "number", "sek", "month"}


def safe_cell(value: str) -> str:
    """A text cell that a spreadsheet would take for a formula is prefixed with an apostrophe."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _cell(value: Any, kind: str, lang: str, labels: dict[str, Any]) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        written = repr(value) if value != int(value) else str(int(value))
        return written.replace(".", ",") if lang == "sv" else written
    if kind not in _CODE_KINDS:
        value = label(kind, value, lang, labels)
    return safe_cell(str(value))


def table_csv(table: dict[str, Any], lang: str, labels: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    columns = table["columns"]
    writer.writerow([safe_cell(column_heading(c["key"], lang)) for c in columns])
    for row in table["rows"]:
        writer.writerow([_cell(v, c["kind"], lang, labels) for v, c in zip(row, columns, strict=True)])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
