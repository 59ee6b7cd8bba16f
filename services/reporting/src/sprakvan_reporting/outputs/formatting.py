"""Numbers, money and dates as Swedish and English readers expect them (Babel's CLDR data)."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date
from babel.numbers import format_decimal

_LOCALES = {"sv": "sv_SE", "en": "en_GB"}


def number(value: float | int | None, lang: str) -> str:
    if value is None:
        return "–"
    return format_decimal(value, locale=_LOCALES[lang], format="#,##0.##")


def sek(value: float | int | None, lang: str) -> str:
    if value is None:
        return "–"
    amount = format_decimal(round(value), locale=_LOCALES[lang], format="#,##0")
    return f"{amount}\u00a0kr" if lang == "sv" else f"SEK\u00a0{amount}"


def day(value: date | str, lang: str) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return format_date(value, format="long", locale=_LOCALES[lang])


def month(value: str, lang: str, *, short: bool = False) -> str:
    """``2019-03`` -> ``mars 2019`` / ``March 2019`` (``short``: ``mars`` / ``Mar``)."""
    year, month_ = value.split("-")
    pattern = "LLL" if short else "LLLL y"
    return format_date(date(int(year), int(month_), 1), format=pattern, locale=_LOCALES[lang])
