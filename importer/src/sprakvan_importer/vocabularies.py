"""Free text that should be a code: matched against the code itself and its Swedish and English labels.

The organisation's own vocabularies (programmes, districts, interests, campaigns, referral sources) come
from intake's ``GET /configuration``; the fixed ones of the contracts (role, gender, levels, weekdays...)
are here with their labels. Matching ignores case, diacritics and whitespace: "Skäggetorp", "skaggetorp"
and " SKÄGGETORP" all give ``skaggetorp``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .cells import fold

CONFIGURED = ("programmes", "districts", "interests", "campaigns", "referral_sources")
# intake's standard referral sources, used when the configuration lists none of its own.
STANDARD_REFERRAL_SOURCES = (
    "self", "friend", "municipality", "employment_service", "sfi", "red_cross", "church",
    "womens_association", "library", "fair", "campaign", "other",
)  # fmt: skip

# code: (Swedish label, English label, other spellings)
FIXED: dict[str, dict[str, tuple[str, ...]]] = {
    "role": {
        "newcomer": ("nyanländ", "newcomer", "ny", "nyanland"),
        "established": ("etablerad", "established", "språkvän", "volontär", "volunteer", "flyktingguide"),
    },
    "gender": {
        "woman": ("kvinna", "woman", "k", "f", "female"),
        "man": ("man", "man", "m", "male"),
        "non_binary": ("icke-binär", "non-binary", "ickebinär", "non binary"),
        "undisclosed": ("vill ej uppge", "undisclosed", "uppger ej", "prefer not to say"),
    },
    "language_level": {
        "basic": ("grundläggande", "basic", "lite"),
        "conversational": ("samtal", "conversational", "samtalsnivå"),
        "fluent": ("flytande", "fluent"),
        "native": ("modersmål", "native", "mother tongue"),
    },
    "swedish_level": {
        "none": ("ingen", "none"),
        **{level: (level, level) for level in ("A1", "A2", "B1", "B2", "C1", "C2")},
    },
    "weekday": {
        "mon": ("måndag", "monday", "mån"),
        "tue": ("tisdag", "tuesday", "tis"),
        "wed": ("onsdag", "wednesday", "ons"),
        "thu": ("torsdag", "thursday", "tor", "tors"),
        "fri": ("fredag", "friday", "fre"),
        "sat": ("lördag", "saturday", "lör"),
        "sun": ("söndag", "sunday", "sön"),
    },  # fmt: skip
    "part_of_day": {
        "morning": ("förmiddag", "morning", "morgon", "fm"),
        "afternoon": ("eftermiddag", "afternoon", "em"),
        "evening": ("kväll", "evening"),
    },
    "attendance_outcome": {
        "came": ("kom", "came", "närvarande", "present"),
        "no_show": ("kom inte", "no show", "uteblev", "frånvarande", "absent"),
        "cancelled_late": ("sen avbokning", "cancelled late", "late cancellation"),
    },
    "signup_status": {
        "confirmed": ("bekräftad", "confirmed", "anmäld"),
        "waitlisted": ("reserv", "waitlisted", "väntelista", "waiting list"),
        "cancelled": ("avbokad", "cancelled", "inställd"),
    },
    "pair_origin": {
        "manual": ("manuellt", "manual", "för hand"),
        "proposal": ("förslag", "proposal"),
        "group_meetup": ("gruppträff", "group meetup", "gruppmatchning"),
    },
    "attendee": {
        "newcomer": ("nyanländ", "newcomer"),
        "established": ("etablerad", "established"),
        "coordinator": ("samordnare", "coordinator"),
        "interpreter": ("tolk", "interpreter"),
    },  # fmt: skip
    "pair_end_reason": {
        "moved": ("flyttat", "moved"),
        "completed": ("slutfört", "completed"),
        "did_not_click": ("klickade inte", "did not click"),
        "no_contact": ("ingen kontakt", "no contact"),
        "other": ("annat", "other"),
        "withdrawn": ("avslutad", "withdrawn"),
    },  # fmt: skip
    "follow_up_outcome": {
        "going_well": ("går bra", "going well"),
        "needs_support": ("behöver stöd", "needs support"),
        "not_meeting": ("träffas inte", "not meeting"),
        "not_reached": ("nåddes inte", "not reached"),
    },  # fmt: skip
    "partnership_row": {
        "partnership": ("partnerskap", "partnership"),
        "contribution": ("bidrag", "contribution", "part"),
        "goal": ("mål", "goal"),
    },
    "goal": {
        "more_new_pairs": ("fler nya par", "more new pairs"),
        "regular_activity_in_district": ("regelbunden aktivitet i stadsdel", "regular activity in district"),
        "keep_mean_attendance": ("behåll närvaron", "keep mean attendance"),
        "text": ("text", "text"),
    },
    "withdrawal_reason": {
        "moved": ("flyttat", "moved"),
        "no_time": ("ingen tid", "no time"),
        "found_contacts": ("har fått kontakter", "found contacts"),
        "not_interested": ("ej intresserad", "not interested"),
        "unreachable": ("går ej att nå", "unreachable"),
        "other": ("annat", "other"),
    },  # fmt: skip
}


@dataclass(frozen=True)
class Vocabulary:
    name: str
    by_form: Mapping[str, str]  # folded code or label -> code
    codes: frozenset[str] = field(default_factory=frozenset)

    def code_of(self, value: str) -> str | None:
        return self.by_form.get(fold(value))


def vocabulary(name: str, entries: Iterable[tuple[str, Iterable[str]]]) -> Vocabulary:
    listed = [(code, tuple(labels)) for code, labels in entries]
    by_form = {fold(code): code for code, _ in listed}
    for code, labels in listed:
        for label in labels:
            by_form.setdefault(fold(label), code)  # a code wins over another code's label
    return Vocabulary(name, by_form, frozenset(code for code, _ in listed))


def vocabularies(configuration: Mapping[str, Any] | None) -> dict[str, Vocabulary]:
    """Every vocabulary a sheet may use: the configured ones of this organisation and the fixed ones."""
    found = {name: vocabulary(name, table.items()) for name, table in FIXED.items()}
    configuration = configuration or {}
    for name in CONFIGURED:
        listed = configuration.get(name)
        if listed is None and name == "referral_sources":
            entries = [(code, ()) for code in STANDARD_REFERRAL_SOURCES]
        else:
            entries = [(e["code"], tuple((e.get("labels") or {}).values())) for e in listed or ()]
        found[name] = vocabulary(name, entries)
    return found
