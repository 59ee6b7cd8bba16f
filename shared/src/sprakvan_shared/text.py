"""Text and date rules for every field of every service, as pydantic types.

The rules (chosen once, here):

- **Rejected everywhere** (a 422 naming the field, never stripped silently): NUL and the other C0/C1
  control characters except tab, line feed and carriage return; DEL; lone surrogates (not text, and
  PostgreSQL cannot store them); the bidi embedding, override and isolate controls U+202A-U+202E and
  U+2066-U+2069 (they make a name display as something else). ``http.py`` applies this to every string
  of every JSON body and query parameter, so even a field declared as a bare ``str`` is covered.
- **Single-line text** (``Line``, ``Name``) also rejects tab and line breaks (U+2028/U+2029 too): they
  end up in CSV exports and log-like views. It is NFC-normalised and stripped of surrounding whitespace
  and of invisible format characters at either end (zero-width space, word joiner, BOM).
- **Names** (``Name``) must contain a letter: a name of only a zero-width space, punctuation or digits
  is not a name. Zero-width (non-)joiners inside a name stay: Persian and Kurdish spelling needs them.
- **Dates** (``Day``) are ISO ``YYYY-MM-DD`` strings (or ``date`` objects from code), never a number: pydantic
  would read ``0`` as 1970-01-01. Their years lie in ``EARLIEST``..``LATEST``, which keeps day arithmetic and
  time-zone conversion far from ``date.min``/``date.max``. ``Timestamp`` is the same for aware datetimes,
  ``LocalTimestamp`` for datetimes with or without an offset (a wall-clock time the service places in its zone).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)

# Characters no text field may hold: C0 controls but \t \n \r, DEL, C1, lone surrogates, bidi controls.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029\x85]")
_INVISIBLE_EDGES = "\u200b\u2060\ufeff"
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# For the OpenAPI document only (the validators decide): years 1900-2199, so a client generated from
# the document, or a fuzzer, knows the range.
_DAY_PATTERN = r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def problem(value: str) -> str | None:
    """Why ``value`` may not be stored, or None. The message never quotes the value."""
    found = FORBIDDEN.search(value)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        return "contains an invalid character (a lone surrogate)"
    if "\u202a" <= char <= "\u2069":
        return f"contains a bidirectional control character (U+{ord(char):04X})"
    return f"contains a control character (U+{ord(char):04X})"


def _clean(value: str) -> str:
    if (reason := problem(value)) is not None:
        raise ValueError(reason)
    return value


def _clean_line(value: str) -> str:
    value = unicodedata.normalize("NFC", _clean(value)).strip().strip(_INVISIBLE_EDGES).strip()
    if _LINE_BREAKS.search(value):
        raise ValueError("must be a single line (no tabs or line breaks)")
    return value


def _has_letter(value: str) -> str:
    if not any(unicodedata.category(char).startswith("L") for char in value):
        raise ValueError("must contain a letter")
    return value


def _iso_day(value: Any) -> Any:
    if isinstance(value, datetime):
        raise ValueError("a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DAY.match(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


def _in_range(value: date) -> date:
    if not EARLIEST <= (value.date() if isinstance(value, datetime) else value) <= LATEST:
        raise ValueError(f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return value


def _iso_timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DAY.match(value[:10]) or len(value) < 16:
        raise ValueError("a date and time is written in ISO 8601 with a time zone, e.g. 2026-11-02T09:30:00Z")
    return value


def line(max_length: int, min_length: int = 1) -> Any:
    """Single-line text of ``min_length``..``max_length`` characters (after cleaning)."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic's own str check names the type
        value = _clean_line(value)
        if not min_length <= len(value) <= max_length:
            raise ValueError(f"must be {min_length} to {max_length} characters long")
        return value

    return Annotated[
        str, BeforeValidator(check), Field(json_schema_extra={"minLength": min_length, "maxLength": max_length})
    ]


def name(max_length: int = 100) -> Any:
    """A person's (or a thing's) name: single-line text with at least one letter."""
    return Annotated[line(max_length), AfterValidator(_has_letter)]


def text(max_length: int) -> Any:
    """Multi-line free text (notes): line breaks and tabs allowed, nothing else invisible."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = unicodedata.normalize("NFC", _clean(value)).strip()
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters long")
        return value

    return Annotated[str, BeforeValidator(check), Field(json_schema_extra={"maxLength": max_length})]


Line = line(200)
Name = name(100)
Day = Annotated[
    date,
    BeforeValidator(_iso_day),
    AfterValidator(_in_range),
    Field(json_schema_extra={"pattern": _DAY_PATTERN}),
]
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_timestamp),
    AfterValidator(_in_range),
    Field(json_schema_extra={"pattern": r"^(19|20|21)[0-9]{2}-"}),
]
# A date and time with or without an offset (a local wall-clock time, which the caller places in its zone).
LocalTimestamp = Annotated[
    datetime,
    BeforeValidator(_iso_timestamp),
    AfterValidator(_in_range),
    Field(json_schema_extra={"pattern": r"^(19|20|21)[0-9]{2}-"}),
]
