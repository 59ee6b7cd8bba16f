"""The matching domain: who can be matched (candidates) and the life of a pair, as plain objects.

No I/O here. A ``Candidate`` is matching's own copy of what intake tells about a participant (codes and
dates, never names or contacts). A ``Pair`` goes proposed -> formed -> active -> ended; follow-ups are
recorded while it is formed or active. Every change returns a new ``Pair`` with ``version`` + 1, which its
events carry whole.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sprakvan_shared.contracts.intake import ParticipantRole as Role
from sprakvan_shared.contracts.intake import ParticipantStatus
from sprakvan_shared.contracts.matching import Attendee, FollowUpOutcome, PairStatus, RejectionReason
from sprakvan_shared.contracts.matching import PairEndReason as EndReason
from sprakvan_shared.contracts.matching import PairOrigin as Origin

__all__ = [
    "Attendee",
    "EndReason",
    "FollowUpOutcome",
    "Origin",
    "PairStatus",
    "ParticipantStatus",
    "RejectionReason",
    "Role",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PARTS_OF_DAY = ("morning", "afternoon", "evening")
GENDERS = ("woman", "man", "non_binary", "undisclosed")
SWEDISH = "sv"
MAX_CAPACITY = 3


SLOT_INDEX = {(d, p): i * len(PARTS_OF_DAY) + j for i, d in enumerate(WEEKDAYS) for j, p in enumerate(PARTS_OF_DAY)}
"""One bit per weekly slot: 7 weekdays x 3 parts of the day = 21 bits, Monday morning first."""


def slot_index(weekday: str, part_of_day: str) -> int:
    return SLOT_INDEX[weekday, part_of_day]


def slot_of(index: int) -> tuple[str, str]:
    return WEEKDAYS[index // len(PARTS_OF_DAY)], PARTS_OF_DAY[index % len(PARTS_OF_DAY)]


@dataclass(frozen=True, slots=True)
class Wishes:
    same_gender: bool = False
    age_min: int | None = None
    age_max: int | None = None

    def accepts_age(self, age: int) -> bool:
        return (self.age_min is None or age >= self.age_min) and (self.age_max is None or age <= self.age_max)

    def accepts_gender(self, own: str, other: str) -> bool:
        # A same-gender wish is met only by the very same gender code (an undisclosed gender by another
        # undisclosed one): matching cannot assume more than the person told.
        return not self.same_gender or own == other


@dataclass(frozen=True, slots=True)
class Candidate:
    """A participant as matching sees them. ``capacity`` is 1 for a newcomer."""

    participant_id: uuid.UUID
    organisation_id: str
    programme: str
    role: Role
    status: ParticipantStatus
    gender: str
    birth_year: int
    district: str
    registered_at: datetime
    languages: frozenset[str] = frozenset()
    interests: frozenset[str] = frozenset()
    availability: frozenset[tuple[str, str]] = frozenset()
    wishes: Wishes = Wishes()
    capacity: int = 1
    interviewed_on: date | None = None

    @property
    def available(self) -> bool:
        return self.status in (ParticipantStatus.REGISTERED, ParticipantStatus.INTERVIEWED)

    def age_in(self, year: int) -> int:
        return year - self.birth_year

    def waiting_days(self, today: date) -> int:
        # registered_at is in the programme's zone (the store gives it so), so its date is the local day.
        return max(0, (today - self.registered_at.date()).days)


OPEN_STATUSES = frozenset({PairStatus.FORMED, PairStatus.ACTIVE})
"""A formed or active pair takes one of the volunteer's places and the newcomer's only one."""

COORDINATOR_END_REASONS = frozenset(
    {EndReason.MOVED, EndReason.COMPLETED, EndReason.DID_NOT_CLICK, EndReason.NO_CONTACT, EndReason.OTHER}
)


DEFAULT_FOLLOW_UP_DAYS = (35, 182)
"""About five weeks and six months after the matching conversation, as programmes follow up."""


class InvalidTransition(Exception):
    """The pair's status does not allow this (e.g. following up a pair that ended)."""


@dataclass(frozen=True, slots=True)
class FollowUp:
    due_on: date
    done_on: date | None = None
    outcome: FollowUpOutcome | None = None
    notes: str = ""  # stays in matching: never in an event
    import_key: str | None = None  # the spreadsheet row it came from, if imported: a changed row updates it


@dataclass(frozen=True, slots=True)
class Conversation:
    """The matching conversation (matchningssamtal) that introduces the pair and makes it active."""

    held_on: date
    attended: tuple[Attendee, ...]


@dataclass(frozen=True, slots=True)
class Pair:
    pair_id: uuid.UUID
    organisation_id: str
    programme: str
    newcomer_id: uuid.UUID
    established_id: uuid.UUID
    origin: Origin
    status: PairStatus
    proposed_at: datetime | None = None
    formed_at: datetime | None = None
    activated_at: datetime | None = None  # when the conversation was recorded
    activated_on: date | None = None  # the day it was held
    conversation: Conversation | None = None
    follow_ups: tuple[FollowUp, ...] = ()
    ended_on: date | None = None
    end_reason: EndReason | None = None
    rejection_reason: RejectionReason | None = None
    score: dict[str, object] | None = field(default=None, compare=False)
    round_id: uuid.UUID | None = None
    meetup_id: uuid.UUID | None = None
    rematch_of: uuid.UUID | None = None
    notes: str = ""  # an imported pair's notes: stay in matching, never in an event
    version: int = 1

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def _next(self, **changes: object) -> Pair:
        return dataclasses.replace(self, version=self.version + 1, **changes)

    def _require(self, action: str, *allowed: PairStatus) -> None:
        if self.status not in allowed:
            raise InvalidTransition(f"cannot {action} a pair that is {self.status.value}")

    # -- creation -------------------------------------------------------------------------------------
    @classmethod
    def propose(
        cls,
        *,
        organisation_id: str,
        programme: str,
        newcomer_id: uuid.UUID,
        established_id: uuid.UUID,
        score: dict[str, object],
        round_id: uuid.UUID,
        now: datetime,
        pair_id: uuid.UUID | None = None,
    ) -> Pair:
        return cls(
            pair_id=pair_id or uuid.uuid4(),
            organisation_id=organisation_id,
            programme=programme,
            newcomer_id=newcomer_id,
            established_id=established_id,
            origin=Origin.PROPOSAL,
            status=PairStatus.PROPOSED,
            proposed_at=now,
            score=score,
            round_id=round_id,
        )

    @classmethod
    def form_manually(
        cls,
        *,
        organisation_id: str,
        programme: str,
        newcomer_id: uuid.UUID,
        established_id: uuid.UUID,
        now: datetime,
        score: dict[str, object] | None = None,
        rematch_of: uuid.UUID | None = None,
    ) -> Pair:
        return cls(
            pair_id=uuid.uuid4(),
            organisation_id=organisation_id,
            programme=programme,
            newcomer_id=newcomer_id,
            established_id=established_id,
            origin=Origin.MANUAL,
            status=PairStatus.FORMED,
            formed_at=now,
            score=score,
            rematch_of=rematch_of,
        )

    @classmethod
    def from_meetup(
        cls,
        *,
        organisation_id: str,
        programme: str,
        newcomer_id: uuid.UUID,
        established_id: uuid.UUID,
        meetup_id: uuid.UUID,
        held_on: date,
        now: datetime,
        follow_up_days: tuple[int, ...] = DEFAULT_FOLLOW_UP_DAYS,
    ) -> Pair:
        """A pair that formed itself at a group-matching meetup: active from the meetup on."""
        return cls(
            pair_id=uuid.uuid4(),
            organisation_id=organisation_id,
            programme=programme,
            newcomer_id=newcomer_id,
            established_id=established_id,
            origin=Origin.GROUP_MEETUP,
            status=PairStatus.ACTIVE,
            formed_at=now,
            activated_at=now,
            activated_on=held_on,
            conversation=Conversation(held_on, (Attendee.NEWCOMER, Attendee.ESTABLISHED, Attendee.COORDINATOR)),
            follow_ups=follow_up_schedule(held_on, follow_up_days),
            meetup_id=meetup_id,
        )

    # -- life -----------------------------------------------------------------------------------------
    def accept(self, now: datetime) -> Pair:
        self._require("accept", PairStatus.PROPOSED)
        return self._next(status=PairStatus.FORMED, formed_at=now)

    def reject(self, reason: RejectionReason, today: date) -> Pair:
        self._require("reject", PairStatus.PROPOSED)
        return self._next(
            status=PairStatus.ENDED, ended_on=today, end_reason=EndReason.REJECTED, rejection_reason=reason
        )

    def activate(
        self,
        conversation: Conversation,
        now: datetime,
        today: date,
        follow_up_days: tuple[int, ...] = DEFAULT_FOLLOW_UP_DAYS,
    ) -> Pair:
        """Record the matching conversation: the pair becomes active and its follow-ups are scheduled."""
        self._require("record the matching conversation of", PairStatus.FORMED)
        if conversation.held_on > today:
            raise ValueError("the matching conversation cannot be in the future")
        if self.formed_at is not None and conversation.held_on < self.formed_at.date():
            raise ValueError("the matching conversation cannot be before the pair was formed")
        return self._next(
            status=PairStatus.ACTIVE,
            activated_at=now,
            activated_on=conversation.held_on,
            conversation=conversation,
            follow_ups=follow_up_schedule(conversation.held_on, follow_up_days),
        )

    def schedule_follow_up(self, due_on: date) -> Pair:
        self._require("schedule a follow-up of", PairStatus.FORMED, PairStatus.ACTIVE)
        if any(f.due_on == due_on for f in self.follow_ups):
            return self
        return self._next(follow_ups=tuple(sorted((*self.follow_ups, FollowUp(due_on)), key=_due)))

    def record_follow_up(
        self, *, done_on: date, outcome: FollowUpOutcome, notes: str, today: date, due_on: date | None = None
    ) -> Pair:
        """Record a follow-up: the one due on ``due_on``, else the earliest one not done, else a new one."""
        self._require("follow up", PairStatus.FORMED, PairStatus.ACTIVE)
        if done_on > today:
            raise ValueError("a follow-up cannot be recorded in the future")
        pending = [f for f in self.follow_ups if f.done_on is None and (due_on is None or f.due_on == due_on)]
        target = pending[0] if pending else FollowUp(due_on or done_on)
        done = FollowUp(target.due_on, done_on, outcome, notes)
        rest = [f for f in self.follow_ups if f is not target]
        return self._next(follow_ups=tuple(sorted((*rest, done), key=_due)))

    def end(self, reason: EndReason, today: date) -> Pair:
        if reason not in COORDINATOR_END_REASONS:
            raise ValueError(f"{reason.value} is not a reason a coordinator ends a pair with")
        self._require("end", PairStatus.FORMED, PairStatus.ACTIVE)
        return self._next(status=PairStatus.ENDED, ended_on=today, end_reason=reason)

    def close(self, reason: EndReason, today: date) -> Pair:
        """End without a coordinator: a participant was erased or withdrew, or a new round replaced it."""
        if self.status is PairStatus.ENDED:
            return self
        return self._next(status=PairStatus.ENDED, ended_on=today, end_reason=reason)


def _due(follow_up: FollowUp) -> date:
    return follow_up.due_on


def follow_up_schedule(start: date, days: tuple[int, ...] = DEFAULT_FOLLOW_UP_DAYS) -> tuple[FollowUp, ...]:
    return tuple(FollowUp(start + timedelta(days=d)) for d in sorted(set(days)))
