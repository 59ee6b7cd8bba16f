"""Integration events published by the matching service: the life of a pair, each event with its full state.

Every event's payload is the whole ``PairState`` after the change (the envelope carries ``version``,
+1 on every change, and ``aggregate_id`` = the pair id), so the latest event of a pair tells every date
of its life: proposed_at, formed_at, activated_at/activated_on, each follow-up, ended_on and why. Codes
and ids only: follow-up notes and anything a coordinator writes stay in matching.

Reporting counts from them: new pairs (``formed_at`` in the period), active pairs (``activated_on`` before
the period's end and not ended before its start), waiting times (the participants' ``registered_at``
to the pair's ``formed_at``), ends by reason. ``pair.updated`` is a pair of an imported history corrected
by a changed spreadsheet row: its dates are the real ones, as in every event of an imported pair.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar, Generic

from pydantic import Field

from .envelope import IntegrationEvent, Payload, PayloadT
from .intake import Code
from .subjects import MATCHING_STREAM

SERVICE = "matching"
STREAM = MATCHING_STREAM


class PairOrigin(StrEnum):
    PROPOSAL = "proposal"  # proposed by a round and accepted by a coordinator
    MANUAL = "manual"  # formed by hand by a coordinator (checked against the hard constraints)
    GROUP_MEETUP = "group_meetup"  # formed itself at a group-matching meetup (the Trollhättan way)


class PairStatus(StrEnum):
    PROPOSED = "proposed"
    FORMED = "formed"  # accepted, not yet introduced
    ACTIVE = "active"  # introduced in the matching conversation (or at a meetup)
    ENDED = "ended"


class PairEndReason(StrEnum):
    # A formed or active pair, ended by a coordinator.
    MOVED = "moved"
    COMPLETED = "completed"
    DID_NOT_CLICK = "did_not_click"
    NO_CONTACT = "no_contact"
    OTHER = "other"
    # A proposal that never formed, or any open pair through what happened to a participant.
    REJECTED = "rejected"  # a coordinator rejected the proposal (see rejection_reason)
    SUPERSEDED = "superseded"  # a newer round replaced the proposal, or its people were paired otherwise
    WITHDRAWN = "withdrawn"  # a participant withdrew from the programme
    ERASED = "erased"  # a participant was erased (GDPR)


class RejectionReason(StrEnum):
    NEWCOMER_DECLINED = "newcomer_declined"
    ESTABLISHED_DECLINED = "established_declined"
    COORDINATOR_JUDGEMENT = "coordinator_judgement"
    OTHER = "other"


class Attendee(StrEnum):
    NEWCOMER = "newcomer"
    ESTABLISHED = "established"
    COORDINATOR = "coordinator"
    INTERPRETER = "interpreter"


class FollowUpOutcome(StrEnum):
    GOING_WELL = "going_well"
    NEEDS_SUPPORT = "needs_support"
    NOT_MEETING = "not_meeting"
    NOT_REACHED = "not_reached"


class FollowUpState(Payload):
    due_on: date
    done_on: date | None = None
    outcome: FollowUpOutcome | None = None


class ScoreCriterion(Payload):
    """One criterion of a proposal's score. ``shared``: language, interest or slot codes (``tue_evening``)."""

    criterion: Code  # languages, interests, district, availability, age, pair, waiting
    points: float
    shared: tuple[Code, ...] = ()
    relation: Code | None = None  # district: same, neighbour, other
    years_apart: int | None = None
    days: int | None = None  # waiting: how long the newcomer had waited


class ScoreBreakdown(Payload):
    total: float
    criteria: tuple[ScoreCriterion, ...] = ()


class PairState(Payload):
    pair_id: uuid.UUID
    programme: Code
    newcomer_id: uuid.UUID
    established_id: uuid.UUID
    origin: PairOrigin
    status: PairStatus
    proposed_at: datetime | None = None
    formed_at: datetime | None = None
    activated_at: datetime | None = Field(None, description="When the matching conversation was recorded.")
    activated_on: date | None = Field(None, description="The day of the matching conversation or meetup.")
    conversation_attended: tuple[Attendee, ...] = ()
    follow_ups: tuple[FollowUpState, ...] = ()
    ended_on: date | None = None
    end_reason: PairEndReason | None = None
    rejection_reason: RejectionReason | None = None
    score: ScoreBreakdown | None = None
    round_id: uuid.UUID | None = None
    meetup_id: uuid.UUID | None = None
    rematch_of: uuid.UUID | None = Field(None, description="The ended pair this one replaces for the newcomer.")


class _MatchingEvent(IntegrationEvent[PayloadT], Generic[PayloadT]):
    PRODUCER: ClassVar[str] = SERVICE


class PairProposed(_MatchingEvent[PairState]):
    EVENT_TYPE: ClassVar[str] = "pair.proposed"


class PairFormed(_MatchingEvent[PairState]):
    """Accepted from a proposal, or formed by hand."""

    EVENT_TYPE: ClassVar[str] = "pair.formed"


class PairActivated(_MatchingEvent[PairState]):
    """The matching conversation was held, or the pair formed itself at a group-matching meetup."""

    EVENT_TYPE: ClassVar[str] = "pair.activated"


class PairFollowedUp(_MatchingEvent[PairState]):
    """A follow-up was recorded or scheduled."""

    EVENT_TYPE: ClassVar[str] = "pair.followed_up"


class PairEnded(_MatchingEvent[PairState]):
    """The pair or proposal ended; ``end_reason`` says why."""

    EVENT_TYPE: ClassVar[str] = "pair.ended"


class PairUpdated(_MatchingEvent[PairState]):
    """An imported pair's history was corrected (a changed spreadsheet row): its dates, reason or origin."""

    EVENT_TYPE: ClassVar[str] = "pair.updated"


PAIR_EVENTS: tuple[type[IntegrationEvent], ...] = (
    PairProposed,
    PairFormed,
    PairActivated,
    PairFollowedUp,
    PairEnded,
    PairUpdated,
)
MATCHING_EVENTS = PAIR_EVENTS
