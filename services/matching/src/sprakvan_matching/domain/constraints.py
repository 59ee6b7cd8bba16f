"""Hard constraints: a pair that breaks one is never proposed, and a manual pair that breaks one is refused.

This is the one-pair form, used for manual pairs, locks and accepting a proposal; ``candidates.py`` checks
the same rules as bit masks over whole pools (a test holds the two to the same answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .model import Candidate, Role


class Broken(StrEnum):
    ROLES = "roles"  # not one newcomer and one established resident
    ORGANISATION = "organisation"
    PROGRAMME = "programme"
    NEWCOMER_UNAVAILABLE = "newcomer_unavailable"  # withdrawn or erased
    ESTABLISHED_UNAVAILABLE = "established_unavailable"
    NEWCOMER_NOT_INTERVIEWED = "newcomer_not_interviewed"
    ESTABLISHED_NOT_INTERVIEWED = "established_not_interviewed"
    NEWCOMER_SAME_GENDER_WISH = "newcomer_same_gender_wish"
    ESTABLISHED_SAME_GENDER_WISH = "established_same_gender_wish"
    NEWCOMER_AGE_WISH = "newcomer_age_wish"
    ESTABLISHED_AGE_WISH = "established_age_wish"
    NO_SHARED_AVAILABILITY = "no_shared_availability"
    NO_FREE_CAPACITY = "no_free_capacity"
    NEWCOMER_ALREADY_PAIRED = "newcomer_already_paired"
    FORBIDDEN = "forbidden"
    ALREADY_ENDED = "already_ended"


MESSAGES = {
    Broken.ROLES: "a pair is one newcomer and one established resident",
    Broken.ORGANISATION: "the two belong to different organisations",
    Broken.PROGRAMME: "the two are in different programmes",
    Broken.NEWCOMER_UNAVAILABLE: "the newcomer has withdrawn or was erased",
    Broken.ESTABLISHED_UNAVAILABLE: "the established resident has withdrawn or was erased",
    Broken.NEWCOMER_NOT_INTERVIEWED: "the programme matches only interviewed participants; the newcomer is not",
    Broken.ESTABLISHED_NOT_INTERVIEWED: "the programme matches only interviewed participants; the volunteer is not",
    Broken.NEWCOMER_SAME_GENDER_WISH: "the newcomer wishes a friend of the same gender",
    Broken.ESTABLISHED_SAME_GENDER_WISH: "the established resident wishes a friend of the same gender",
    Broken.NEWCOMER_AGE_WISH: "the established resident's age is outside the newcomer's wished range",
    Broken.ESTABLISHED_AGE_WISH: "the newcomer's age is outside the established resident's wished range",
    Broken.NO_SHARED_AVAILABILITY: "the two share no weekly time slot",
    Broken.NO_FREE_CAPACITY: "the established resident has no free place",
    Broken.NEWCOMER_ALREADY_PAIRED: "the newcomer already has a pair",
    Broken.FORBIDDEN: "a coordinator forbade this pair",
    Broken.ALREADY_ENDED: "these two were a pair before and it ended",
}


@dataclass(frozen=True, slots=True)
class PairContext:
    """What the pool alone does not tell: the pairs around these two and the programme's rules."""

    year: int
    established_open_pairs: int = 0
    newcomer_paired: bool = False
    forbidden: bool = False
    ended_before: bool = False
    require_interview: bool = False


def check_pair(newcomer: Candidate, established: Candidate, context: PairContext) -> list[Broken]:
    """Every hard constraint the pair breaks, in a stable order (empty when it may be formed)."""
    broken: list[Broken] = []
    if newcomer.role is not Role.NEWCOMER or established.role is not Role.ESTABLISHED:
        return [Broken.ROLES]
    if newcomer.organisation_id != established.organisation_id:
        return [Broken.ORGANISATION]
    if newcomer.programme != established.programme:
        broken.append(Broken.PROGRAMME)
    if not newcomer.available:
        broken.append(Broken.NEWCOMER_UNAVAILABLE)
    if not established.available:
        broken.append(Broken.ESTABLISHED_UNAVAILABLE)
    if context.require_interview and newcomer.interviewed_on is None:
        broken.append(Broken.NEWCOMER_NOT_INTERVIEWED)
    if context.require_interview and established.interviewed_on is None:
        broken.append(Broken.ESTABLISHED_NOT_INTERVIEWED)
    if not newcomer.wishes.accepts_gender(newcomer.gender, established.gender):
        broken.append(Broken.NEWCOMER_SAME_GENDER_WISH)
    if not established.wishes.accepts_gender(established.gender, newcomer.gender):
        broken.append(Broken.ESTABLISHED_SAME_GENDER_WISH)
    if not newcomer.wishes.accepts_age(established.age_in(context.year)):
        broken.append(Broken.NEWCOMER_AGE_WISH)
    if not established.wishes.accepts_age(newcomer.age_in(context.year)):
        broken.append(Broken.ESTABLISHED_AGE_WISH)
    if not newcomer.availability & established.availability:
        broken.append(Broken.NO_SHARED_AVAILABILITY)
    if context.established_open_pairs >= established.capacity:
        broken.append(Broken.NO_FREE_CAPACITY)
    if context.newcomer_paired:
        broken.append(Broken.NEWCOMER_ALREADY_PAIRED)
    if context.forbidden:
        broken.append(Broken.FORBIDDEN)
    if context.ended_before:
        broken.append(Broken.ALREADY_ENDED)
    return broken
