"""The fixed choices of the sign-up form (what intake's contract allows), in display order."""

from __future__ import annotations

from sprakvan_shared.contracts.intake import Gender, PartOfDay, SwedishLevel, Weekday

ROLES = ("newcomer", "established")
GENDERS = tuple(g.value for g in (Gender.WOMAN, Gender.MAN, Gender.NON_BINARY, Gender.UNDISCLOSED))
SWEDISH_LEVELS = tuple(level.value for level in SwedishLevel)
WEEKDAYS = tuple(day.value for day in Weekday)
PARTS_OF_DAY = tuple(part.value for part in PartOfDay)
CAPACITIES = (1, 2, 3)
# Languages offered as checkboxes: those most spoken among newcomers here, then Swedish and English.
# ISO 639 codes as intake takes them (Dari is ``prs``, Northern Kurdish ``kmr``).
LANGUAGES = ("ar", "prs", "fa", "ps", "so", "ti", "am", "ckb", "kmr", "uk", "ru", "tr", "fr", "es", "en", "sv")
# Babel's CLDR has no name for some ISO 639-3 codes: the nearest name it has.
CLDR_LANGUAGE = {"prs": "fa_AF", "kmr": "ku"}
