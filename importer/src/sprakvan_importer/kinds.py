"""The sheets of an import file: one per kind, in the order they are sent, with their columns.

Each column has its field in the service's import row (a dotted path builds a nested object:
``wishes.age_min``), a Swedish and an English header (both are recognised, and the field name itself), and
a type that says how the cell is read (``cells.py``) and whether it is a code of a vocabulary or a
reference to another sheet's row. The services document the same fields under "Import" in their READMEs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .cells import header_form


class Type(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    MOMENT = "moment"  # a date, or a date and time
    TIME = "time"  # a time of day, HH:MM
    CODE = "code"  # one code of ``vocabulary``
    CODES = "codes"  # a list of codes of ``vocabulary``
    PAIRS = "pairs"  # "ar:native, sv:fluent" -> [{names[0]: "ar", names[1]: "native"}]
    PARTICIPANT = "participant"  # a participant's key in the participants sheet: sent as the participant's id
    KEY = "key"  # a key of another sheet of the same service (``refers_to``), sent as it is


@dataclass(frozen=True)
class Column:
    field: str
    sv: str
    en: str
    type: Type = Type.TEXT
    vocabulary: str | None = None
    refers_to: str | None = None  # KEY: the kind whose key this is
    names: tuple[str, str] = ("", "")  # PAIRS: the two fields of each item
    vocabularies: tuple[str | None, str | None] = (None, None)  # PAIRS: the vocabularies of its two parts
    required: bool = False

    def header(self, language: str) -> str:
        return self.sv if language == "sv" else self.en


@dataclass(frozen=True)
class Kind:
    name: str  # as in the endpoint: POST /imports/{name}, GET /exports/{name}
    service: str
    sv: str  # the sheet's Swedish name
    en: str
    columns: tuple[Column, ...]

    def sheet(self, language: str) -> str:
        return self.sv if language == "sv" else self.en

    def column_by_header(self) -> dict[str, Column]:
        found = {}
        for column in self.columns:
            for name in (column.field, column.sv, column.en, column.field.replace(".", "_")):
                found[header_form(name)] = column
        return found

    def references(self) -> list[Column]:
        return [c for c in self.columns if c.type in (Type.PARTICIPANT, Type.KEY)]


KEY = Column("key", "nyckel", "key", required=True)
T = Type


def _c(field: str, sv: str, en: str, type_: Type = T.TEXT, vocabulary: str | None = None, **more) -> Column:
    return Column(field, sv, en, type_, vocabulary, **more)


PARTICIPANTS = Kind("participants", "intake", "deltagare", "participants", (
    KEY,
    _c("role", "roll", "role", T.CODE, "role", required=True),
    _c("programme", "program", "programme", T.CODE, "programmes", required=True),
    _c("first_name", "förnamn", "first name"),
    _c("last_name", "efternamn", "last name"),
    _c("email", "e-post", "email"),
    _c("phone", "telefon", "phone"),
    _c("gender", "kön", "gender", T.CODE, "gender"),
    _c("birth_year", "födelseår", "birth year", T.INTEGER),
    _c("district", "stadsdel", "district", T.CODE, "districts"),
    _c("languages", "språk", "languages", T.PAIRS, names=("code", "level"), vocabularies=(None, "language_level")),
    _c("swedish_level", "svenskanivå", "swedish level", T.CODE, "swedish_level"),
    _c("interests", "intressen", "interests", T.CODES, "interests"),
    _c("availability", "tider", "availability", T.PAIRS, names=("weekday", "part_of_day"),
       vocabularies=("weekday", "part_of_day")),
    _c("wishes.same_gender", "samma kön", "same gender", T.BOOLEAN),
    _c("wishes.age_min", "ålder från", "age from", T.INTEGER),
    _c("wishes.age_max", "ålder till", "age to", T.INTEGER),
    _c("capacity", "antal nyanlända", "capacity", T.INTEGER),
    _c("referral_source", "hänvisad av", "referral source", T.CODE, "referral_sources"),
    _c("campaign", "kampanj", "campaign", T.CODE, "campaigns"),
    _c("photo_consent", "samtycke foto", "photo consent", T.BOOLEAN),
    _c("registered_on", "registrerad", "registered", T.MOMENT, required=True),
    _c("interviewed_on", "intervjuad", "interviewed", T.MOMENT),
    _c("interview_coordinator", "intervjuare", "interviewer"),
    _c("interview_notes", "intervjuanteckningar", "interview notes"),
    _c("withdrawn_on", "avslutad", "withdrawn", T.MOMENT),
    _c("withdrawal_reason", "avslutsorsak", "withdrawal reason", T.CODE, "withdrawal_reason"),
))  # fmt: skip

# One sheet, three kinds of row: a partnership, a partner's yearly contribution to one, a goal of one.
PARTNERSHIP = Kind("partnership", "reporting", "partnerskap", "partnership", (
    KEY,
    _c("type", "radtyp", "row type", T.CODE, "partnership_row", required=True),
    _c("partnership_key", "partnerskap", "partnership", T.KEY, refers_to="partnership"),
    _c("title", "titel", "title"),
    _c("programme", "program", "programme", T.CODE, "programmes"),
    _c("valid_from", "giltig från", "valid from", T.DATE),
    _c("valid_to", "giltig till", "valid to", T.DATE),
    _c("purpose", "syfte", "purpose"),
    _c("partner", "part", "partner"),
    _c("yearly_contribution_sek", "årligt bidrag kr", "yearly contribution sek", T.INTEGER),
    _c("covers", "täcker", "covers"),
    _c("goal", "mål", "goal", T.CODE, "goal"),
    _c("text", "text", "text"),
    _c("district", "stadsdel", "district", T.CODE, "districts"),
))  # fmt: skip

VENUES = Kind("venues", "events", "lokaler", "venues", (
    KEY,
    _c("name", "namn", "name", required=True),
    _c("district", "stadsdel", "district", T.CODE, "districts", required=True),
    _c("address", "adress", "address"),
    _c("capacity", "platser", "capacity", T.INTEGER),
    _c("accessibility", "tillgänglighet", "accessibility"),
))  # fmt: skip

ACTIVITIES = Kind("activities", "events", "aktiviteter", "activities", (
    KEY,
    _c("title", "titel", "title", required=True),
    _c("type_code", "typ", "type", required=True),
    _c("venue_key", "lokal", "venue", T.KEY, refers_to="venues"),
    _c("district", "stadsdel", "district", T.CODE, "districts"),
    _c("capacity", "platser", "capacity", T.INTEGER),
    _c("programmes", "program", "programmes", T.CODES, "programmes"),
    _c("campaign", "kampanj", "campaign", T.CODE, "campaigns"),
    _c("description", "beskrivning", "description"),
))  # fmt: skip

OCCURRENCES = Kind("occurrences", "events", "tillfällen", "occurrences", (
    KEY,
    _c("activity_key", "aktivitet", "activity", T.KEY, refers_to="activities", required=True),
    _c("date", "datum", "date", T.DATE, required=True),
    _c("starts", "börjar", "starts", T.TIME, required=True),
    _c("ends", "slutar", "ends", T.TIME, required=True),
    _c("capacity", "platser", "capacity", T.INTEGER),
    _c("venue_key", "lokal", "venue", T.KEY, refers_to="venues"),
    _c("cancelled", "inställt", "cancelled", T.BOOLEAN),
))  # fmt: skip

SIGNUPS = Kind("signups", "events", "anmälningar", "signups", (
    KEY,
    _c("occurrence_key", "tillfälle", "occurrence", T.KEY, refers_to="occurrences", required=True),
    _c("participant_id", "deltagare", "participant", T.PARTICIPANT, required=True),
    _c("status", "status", "status", T.CODE, "signup_status", required=True),
    _c("signed_up_at", "anmäld", "signed up", T.MOMENT),
    _c("cancelled_at", "avbokad", "cancelled", T.MOMENT),
))  # fmt: skip

ATTENDANCE = Kind("attendance", "events", "närvaro", "attendance", (
    KEY,
    _c("occurrence_key", "tillfälle", "occurrence", T.KEY, refers_to="occurrences", required=True),
    _c("participant_id", "deltagare", "participant", T.PARTICIPANT, required=True),
    _c("outcome", "utfall", "outcome", T.CODE, "attendance_outcome", required=True),
))  # fmt: skip

WALK_INS = Kind("walk_ins", "events", "drop-in", "walk_ins", (
    KEY,
    _c("occurrence_key", "tillfälle", "occurrence", T.KEY, refers_to="occurrences", required=True),
    _c("role", "roll", "role", T.CODE, "role", required=True),
    _c("gender", "kön", "gender", T.CODE, "gender", required=True),
    _c("count", "antal", "count", T.INTEGER, required=True),
))  # fmt: skip

CAMPAIGN_SIGNUPS = Kind("campaign_signups", "events", "kampanjanmälningar", "campaign_signups", (
    KEY,
    _c("occurrence_key", "tillfälle", "occurrence", T.KEY, refers_to="occurrences", required=True),
    _c("campaign", "kampanj", "campaign", T.CODE, "campaigns", required=True),
    _c("count", "antal", "count", T.INTEGER, required=True),
))  # fmt: skip

PAIRS = Kind("pairs", "matching", "par", "pairs", (
    KEY,
    _c("programme", "program", "programme", T.CODE, "programmes", required=True),
    _c("newcomer_id", "nyanländ", "newcomer", T.PARTICIPANT, required=True),
    _c("established_id", "etablerad", "established", T.PARTICIPANT, required=True),
    _c("origin", "ursprung", "origin", T.CODE, "pair_origin"),
    _c("proposed_on", "föreslaget", "proposed", T.DATE),
    _c("formed_on", "bildat", "formed", T.DATE),
    _c("matched_on", "matchningssamtal", "matching conversation", T.DATE),
    _c("attended", "närvarande vid samtalet", "attended", T.CODES, "attendee"),
    _c("ended_on", "avslutat", "ended", T.DATE),
    _c("end_reason", "avslutsorsak", "end reason", T.CODE, "pair_end_reason"),
    _c("notes", "anteckningar", "notes"),
))  # fmt: skip

FOLLOW_UPS = Kind("follow-ups", "matching", "uppföljningar", "follow-ups", (
    KEY,
    _c("pair_key", "par", "pair", T.KEY, refers_to="pairs", required=True),
    _c("done_on", "datum", "date", T.DATE, required=True),
    _c("outcome", "utfall", "outcome", T.CODE, "follow_up_outcome", required=True),
    _c("due_on", "planerad", "due", T.DATE),
    _c("notes", "anteckningar", "notes"),
))  # fmt: skip

# Dependency order: intake first (the other services learn of participants from its events), then what
# needs nothing else, then what refers to earlier sheets.
KINDS: tuple[Kind, ...] = (
    PARTICIPANTS, PARTNERSHIP, VENUES, ACTIVITIES, OCCURRENCES, SIGNUPS, ATTENDANCE, WALK_INS, CAMPAIGN_SIGNUPS,
    PAIRS, FOLLOW_UPS,
)  # fmt: skip
BY_NAME = {kind.name: kind for kind in KINDS}


def kind_of_sheet(name: str) -> Kind | None:
    """The kind a sheet (or CSV file) name stands for, in Swedish or English."""
    form = header_form(name)
    for kind in KINDS:
        if form in (header_form(kind.name), header_form(kind.sv), header_form(kind.en)):
            return kind
    return None
