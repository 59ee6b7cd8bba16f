"""One spreadsheet cell into the value an import row carries, as Swedish Excel writes it.

Numbers may have a decimal comma and spaces between thousands ("1 234,5"), dates are ``2024-03-05`` and
datetimes ``2024-03-05 18:00`` (local time, Europe/Stockholm, sent with its offset); XLSX cells come typed
(datetime, int, float, bool). A :class:`CellError` says what is wrong without quoting the cell.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DATETIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2})[:.](\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2})?")
_TRUE = {"ja", "j", "yes", "y", "true", "sant", "1", "x"}
_FALSE = {"nej", "n", "no", "false", "falskt", "0"}
FORMULA_START = ("=", "+", "-", "@")


class CellError(ValueError):
    """The cell cannot be read as its column's type; the message never contains the cell."""


@functools.lru_cache(maxsize=65536)  # a sheet repeats its few labels on every row
def fold(text: str) -> str:
    """Case, diacritics and whitespace insensitive form of a label: "Skäggetorp " -> "skaggetorp"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", bare).strip()


def header_form(text: str) -> str:
    """A column header compared loosely: "E-post" and "e_post" and "E post" are the same column."""
    return re.sub(r"[^a-z0-9]+", "_", fold(text)).strip("_")


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(value: object) -> str:
    """The cell as text: whitespace trimmed, the apostrophe our CSV export puts before a formula dropped."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    result = str(value).strip()
    if len(result) > 1 and result[0] == "'" and result[1] in FORMULA_START:
        result = result[1:]
    return result


def number(value: object) -> float:
    if isinstance(value, bool):
        raise CellError("expected a number")
    if isinstance(value, int | float):
        return float(value)
    raw = _SPACES.sub("", text(value))
    if not _NUMBER.fullmatch(raw):
        raise CellError("expected a number (decimal comma or point)")
    return float(raw.replace(",", "."))


def integer(value: object) -> int:
    result = number(value)
    if not result.is_integer():
        raise CellError("expected a whole number")
    return int(result)


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    folded = fold(text(value))
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise CellError("expected ja/nej or yes/no")


def day(value: object) -> str:
    """A date as ``YYYY-MM-DD``; a datetime cell at midnight is its day (Excel types dates so)."""
    if isinstance(value, datetime):
        if value.time() != time(0):
            raise CellError("expected a date without a time")
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    match = _DATE.fullmatch(text(value))
    if not match:
        raise CellError("expected a date as 2024-03-05")
    try:
        return date(*(int(part) for part in match.groups())).isoformat()
    except ValueError:
        raise CellError("not a date of the calendar") from None


def moment(value: object) -> str:
    """A datetime with its offset (local Stockholm time when the cell has none); a bare date stays a date,
    which the services read as 12:00 Europe/Stockholm."""
    if isinstance(value, datetime):
        if value.tzinfo is None and value.time() == time(0):
            return value.date().isoformat()
        aware = value if value.tzinfo else value.replace(tzinfo=STOCKHOLM)
        return aware.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raw = text(value)
    if _DATE.fullmatch(raw):
        return day(raw)
    match = _DATETIME.fullmatch(raw)
    if not match:
        raise CellError("expected a date (2024-03-05) or a date and time (2024-03-05 18:00)")
    year, month, dd, hour, minute, second, offset = match.groups()
    try:
        naive = datetime(int(year), int(month), int(dd), int(hour), int(minute), int(second or 0))
    except ValueError:
        raise CellError("not a date and time of the calendar") from None
    if offset is None:
        return naive.replace(tzinfo=STOCKHOLM).isoformat()
    return datetime.fromisoformat(raw.replace(" ", "T").replace("Z", "+00:00")).isoformat()


def clock(value: object) -> str:
    """A time of day as ``HH:MM`` (XLSX gives a time, CSV text like 18:00 or 18.00)."""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, datetime):
        return value.strftime("%H:%M")
    match = re.fullmatch(r"(\d{1,2})[:.](\d{2})(?::00)?", text(value))
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise CellError("expected a time of day as 18:00")
    return f"{int(match[1]):02d}:{match[2]}"


def items(value: object) -> list[str]:
    """A list in one cell: "fika, walks" (commas, or new lines as Excel's Alt+Enter makes)."""
    return [part.strip() for part in re.split(r"[,\n]", text(value)) if part.strip()]


def pairs(value: object) -> list[tuple[str, str]]:
    """Two-part items "ar:native, sv:A1" (or "ar native")."""
    found = []
    for item in items(value):
        first, sep, second = item.replace(":", " ", 1).partition(" ")
        if not sep or not second.strip():
            raise CellError("expected items like ar:native, separated by commas")
        found.append((first.strip(), second.strip()))
    return found
