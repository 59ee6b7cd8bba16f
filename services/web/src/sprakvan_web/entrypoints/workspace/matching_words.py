"""Matching's codes as a coordinator reads them (English msgids, Swedish in workspace-matching.po)."""

from __future__ import annotations

from ...adapters.i18n import Translator


def _(message: str) -> str:  # marks a message for extraction; translated where it is shown
    return message


WORDS: dict[str, dict[str, str]] = {
    "status": {
        "proposed": _("Proposed"),
        "formed": _("Formed, not yet introduced"),
        "active": _("Active"),
        "ended": _("Ended"),
    },
    "origin": {
        "proposal": _("Proposed by a matching round"),
        "manual": _("Paired by hand"),
        "group_meetup": _("Formed at a group meetup"),
    },
    "end_reason": {
        "moved": _("Moved away"),
        "completed": _("Completed"),
        "did_not_click": _("Did not click"),
        "no_contact": _("No contact"),
        "other": _("Other reason"),
        "rejected": _("Proposal rejected"),
        "superseded": _("Replaced by a newer proposal"),
        "withdrawn": _("A participant withdrew"),
        "erased": _("A participant was erased"),
    },
    "rejection": {
        "newcomer_declined": _("The newcomer declined"),
        "established_declined": _("The established resident declined"),
        "coordinator_judgement": _("The coordinator's judgement"),
        "other": _("Other reason"),
    },
    "attendee": {
        "newcomer": _("The newcomer"),
        "established": _("The established resident"),
        "coordinator": _("A coordinator"),
        "interpreter": _("An interpreter"),
    },
    "outcome": {
        "going_well": _("Going well"),
        "needs_support": _("Needs support"),
        "not_meeting": _("Not meeting"),
        "not_reached": _("Could not be reached"),
    },
    "age_band": {
        "under_25": _("Under 25"),
        "25_34": _("25 to 34"),
        "35_49": _("35 to 49"),
        "50_64": _("50 to 64"),
        "65_plus": _("65 or older"),
    },
    "eligibility": {
        "interviewed": _("Only participants who have been interviewed"),
        "all": _("Everyone registered"),
    },
    "language_preference": {
        "shared_language": _("A shared language besides Swedish earns points"),
        "swedish_only": _("Sharing no other language earns points, so that the pair speaks Swedish"),
    },
    "weight": {
        "languages": _("Shared languages"),
        "interests": _("Shared interests"),
        "district": _("Same or neighbouring district"),
        "availability": _("Shared weekly times"),
        "age": _("Closeness in age"),
        "pair": _("Every pair (more pairs rather than fewer better ones)"),
        "waiting": _("The newcomer's waiting time"),
    },
}

# Matching's hard constraints (422 ``constraint.<code>``) and its conflicts (409 ``code``).
CONSTRAINTS: dict[str, str] = {
    "roles": _("A pair is one newcomer and one established resident."),
    "organisation": _("The two belong to different organisations."),
    "programme": _("The two are in different programmes."),
    "newcomer_unavailable": _("The newcomer has withdrawn or was erased."),
    "established_unavailable": _("The established resident has withdrawn or was erased."),
    "newcomer_not_interviewed": _("The programme matches only interviewed participants, and the newcomer is not."),
    "established_not_interviewed": _(
        "The programme matches only interviewed participants, and the established resident is not."
    ),
    "newcomer_same_gender_wish": _("The newcomer wishes a friend of the same gender."),
    "established_same_gender_wish": _("The established resident wishes a friend of the same gender."),
    "newcomer_age_wish": _("The established resident's age is outside the newcomer's wished range."),
    "established_age_wish": _("The newcomer's age is outside the established resident's wished range."),
    "no_shared_availability": _("The two share no weekly time."),
    "no_free_capacity": _("The established resident has no free place."),
    "newcomer_already_paired": _("The newcomer already has a pair."),
    "forbidden": _("A coordinator has said never to pair these two."),
    "already_ended": _("These two were a pair before, and it ended."),
    "invalid_transition": _("The pair has changed meanwhile: this step no longer fits it."),
    "busy": _("Someone else is changing these people just now. Try again."),
}


def word(t: Translator, kind: str, code: str | None) -> str:
    """A code in words; a code matching has added since shows as it is."""
    if code is None:
        return ""
    message = WORDS.get(kind, {}).get(code)
    return t.text(message) if message else code


def choices(t: Translator, kind: str) -> list[tuple[str, str]]:
    return [(code, t.text(message)) for code, message in WORDS[kind].items()]


def constraint_text(t: Translator, code: str) -> str | None:
    message = CONSTRAINTS.get(code)
    return t.text(message) if message else None
