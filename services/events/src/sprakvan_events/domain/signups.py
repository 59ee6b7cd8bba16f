"""Sign-up rules: capacity, the waiting list in arrival order, promotion, who may sign up.

The service layer calls these with the occurrence row locked (``SELECT ... FOR UPDATE``), so the counts
they are given are the truth for the length of the decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sprakvan_shared.contracts.events import SignupCancelReason, SignupStatus
from sprakvan_shared.contracts.intake import ParticipantStatus as ParticipantStanding

from .model import Conflict, Occurrence

# A cancellation this close to the start is "late" (the attendance sheet shows it).
LATE_CANCELLATION = timedelta(hours=24)


@dataclass(frozen=True)
class KnownParticipant:
    participant_id: uuid.UUID
    organisation_id: str
    role: str
    gender: str
    status: ParticipantStanding
    programme: str | None = None


def check_may_sign_up(participant: KnownParticipant | None, programmes: tuple[str, ...]) -> None:
    """Refuse unknown, withdrawn or erased people, and people of a programme the activity is not open to."""
    if participant is None or participant.status is ParticipantStanding.ERASED:
        raise Conflict("unknown participant")
    if participant.status is ParticipantStanding.WITHDRAWN:
        raise Conflict("the participant has withdrawn from the programme")
    if programmes and participant.programme not in programmes:
        raise Conflict("the activity is not open to the participant's programme")


@dataclass(frozen=True)
class Signup:
    """``arrival`` orders everyone who ever signed up to the occurrence: the waiting list is served by it."""

    id: uuid.UUID
    organisation_id: str
    occurrence_id: uuid.UUID
    participant_id: uuid.UUID
    status: SignupStatus
    arrival: int
    signed_up_at: datetime
    confirmed_at: datetime | None = None
    promoted_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: SignupCancelReason | None = None
    cancelled_late: bool = False
    # A coordinator confirmed this person beyond the capacity, and said so.
    over_capacity: bool = False
    version: int = 1

    @property
    def active(self) -> bool:
        return self.status is not SignupStatus.CANCELLED

    def promote(self, now: datetime) -> Signup:
        assert self.status is SignupStatus.WAITLISTED
        return replace(self, status=SignupStatus.CONFIRMED, confirmed_at=now, promoted_at=now, version=self.version + 1)

    def cancel(self, now: datetime, reason: SignupCancelReason, starts_at: datetime) -> Signup:
        if not self.active:
            raise Conflict("the sign-up is already cancelled")
        late = self.status is SignupStatus.CONFIRMED and starts_at - LATE_CANCELLATION <= now
        return replace(
            self,
            status=SignupStatus.CANCELLED,
            cancelled_at=now,
            cancel_reason=reason,
            cancelled_late=late and reason is SignupCancelReason.PARTICIPANT,
            version=self.version + 1,
        )


def place(occurrence: Occurrence, confirmed: int, now: datetime, *, over_capacity: bool = False) -> SignupStatus:
    """Confirmed or waitlisted, given how many are confirmed now; refuses a closed or past occurrence.

    ``over_capacity`` is the only way past a full occurrence, and the sign-up records that it was used.
    Capacity 0 is closed for everyone: nothing bypasses it.
    """
    if occurrence.cancelled:
        raise Conflict("the occurrence is cancelled")
    if occurrence.ends_at <= now:
        raise Conflict("the occurrence is over")
    if occurrence.capacity == 0:
        raise Conflict("the occurrence is closed for sign-up (capacity 0)")
    if occurrence.capacity is None or confirmed < occurrence.capacity:
        return SignupStatus.CONFIRMED
    return SignupStatus.CONFIRMED if over_capacity else SignupStatus.WAITLISTED


def free_seats(occurrence: Occurrence, confirmed: int) -> int | None:
    """Seats nobody holds (None: no limit). Over-capacity confirmations can make ``confirmed`` exceed it."""
    if occurrence.capacity is None:
        return None
    return max(0, occurrence.capacity - confirmed)


def to_promote(occurrence: Occurrence, confirmed: int, waiting: Sequence[Signup]) -> list[Signup]:
    """The first in line, as many as there are free seats. ``waiting`` is in arrival order."""
    if occurrence.cancelled or occurrence.capacity == 0:
        return []
    seats = free_seats(occurrence, confirmed)
    return list(waiting if seats is None else waiting[:seats])
