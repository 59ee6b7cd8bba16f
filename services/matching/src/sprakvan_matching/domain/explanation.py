"""A proposal's reasons as one plain sentence, in Swedish and in English.

"Båda talar arabiska, båda gillar fotboll, grannstadsdelar, båda är lediga tisdagskvällar."
Labels of interests (and districts) come from the organisation's configuration; a code without a label
is shown as it is. Only criteria that earned points are told.
"""

from __future__ import annotations

from collections.abc import Mapping

from .scoring import Breakdown, Criterion

LANGUAGE_NAMES: dict[str, tuple[str, str]] = {
    "ar": ("arabiska", "Arabic"),
    "fa": ("persiska", "Persian"),
    "prs": ("dari", "Dari"),
    "ps": ("pashto", "Pashto"),
    "ti": ("tigrinja", "Tigrinya"),
    "so": ("somaliska", "Somali"),
    "am": ("amhariska", "Amharic"),
    "ku": ("kurdiska", "Kurdish"),
    "ckb": ("sorani", "Sorani"),
    "kmr": ("kurmanji", "Kurmanji"),
    "tr": ("turkiska", "Turkish"),
    "uk": ("ukrainska", "Ukrainian"),
    "ru": ("ryska", "Russian"),
    "pl": ("polska", "Polish"),
    "bs": ("bosniska", "Bosnian"),
    "sr": ("serbiska", "Serbian"),
    "hr": ("kroatiska", "Croatian"),
    "sq": ("albanska", "Albanian"),
    "en": ("engelska", "English"),
    "fr": ("franska", "French"),
    "de": ("tyska", "German"),
    "es": ("spanska", "Spanish"),
    "it": ("italienska", "Italian"),
    "pt": ("portugisiska", "Portuguese"),
    "th": ("thailändska", "Thai"),
    "vi": ("vietnamesiska", "Vietnamese"),
    "zh": ("kinesiska", "Chinese"),
    "hi": ("hindi", "Hindi"),
    "ur": ("urdu", "Urdu"),
    "bn": ("bengali", "Bengali"),
    "sw": ("swahili", "Swahili"),
    "fi": ("finska", "Finnish"),
    "no": ("norska", "Norwegian"),
    "da": ("danska", "Danish"),
}
WEEKDAY_PREFIX = {
    "mon": ("måndags", "Monday"),
    "tue": ("tisdags", "Tuesday"),
    "wed": ("onsdags", "Wednesday"),
    "thu": ("torsdags", "Thursday"),
    "fri": ("fredags", "Friday"),
    "sat": ("lördags", "Saturday"),
    "sun": ("söndags", "Sunday"),
}
PART_OF_DAY = {
    "morning": ("förmiddagar", "mornings"),
    "afternoon": ("eftermiddagar", "afternoons"),
    "evening": ("kvällar", "evenings"),
}
CLOSE_IN_AGE = 10
Labels = Mapping[str, Mapping[str, str]]  # code -> {"sv": ..., "en": ...}


def _enumerate(items: list[str], lang: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {'och' if lang == 'sv' else 'and'} {items[-1]}"


def _in_sentence(label: str) -> str:
    """ "Promenader" reads "promenader" inside a sentence; an acronym ("SFI") stays as it is."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _phrase(criterion: Criterion, lang: str, interests: Labels) -> str | None:
    sv = lang == "sv"
    detail = criterion.detail
    if criterion.code == "languages":
        shared = detail["shared"]
        if not shared:
            return "inget gemensamt språk utom svenska" if sv else "no shared language but Swedish"
        names = [LANGUAGE_NAMES.get(code, (code, code))[0 if sv else 1] for code in shared]
        return f"båda talar {_enumerate(names, lang)}" if sv else f"both speak {_enumerate(names, lang)}"
    if criterion.code == "interests":
        names = [_in_sentence(interests.get(code, {}).get(lang, code)) for code in detail["shared"]]
        return f"båda gillar {_enumerate(names, lang)}" if sv else f"both like {_enumerate(names, lang)}"
    if criterion.code == "district":
        relation = detail["relation"]
        if relation == "same":
            return "samma stadsdel" if sv else "same district"
        return "grannstadsdelar" if sv else "neighbouring districts"
    if criterion.code == "availability":
        days_parts = [code.split("_", 1) for code in detail["shared"]]
        slots = [
            f"{WEEKDAY_PREFIX[d][0]}{PART_OF_DAY[p][0]}" if sv else f"{WEEKDAY_PREFIX[d][1]} {PART_OF_DAY[p][1]}"
            for d, p in days_parts
        ]
        return f"båda är lediga {_enumerate(slots, lang)}" if sv else f"both free {_enumerate(slots, lang)}"
    if criterion.code == "age":
        years = detail["years_apart"]
        if years > CLOSE_IN_AGE:
            return None
        if years == 0:
            return "jämnåriga" if sv else "the same age"
        return f"nära i ålder ({years} år)" if sv else f"close in age ({years} years apart)"
    if criterion.code == "waiting":
        days = detail["days"]
        return f"den nyanlända har väntat {days} dagar" if sv else f"the newcomer has waited {days} days"
    return None


def sentence(explained: Breakdown, lang: str, interests: Labels | None = None) -> str:
    """The reasons that earned points, in the order of the criteria; ``lang`` is "sv" or "en"."""
    phrases = [p for c in explained.criteria if c.points > 0 and (p := _phrase(c, lang, interests or {}))]
    if not phrases:
        return "Uppfyller alla krav." if lang == "sv" else "Meets every requirement."
    text = ", ".join(phrases)
    return f"{text[0].upper()}{text[1:]}."


def explain(explained: Breakdown, interests: Labels | None = None) -> dict[str, str]:
    return {lang: sentence(explained, lang, interests) for lang in ("sv", "en")}
