"""STAND-IN for ``sprakvan_shared.contracts.matching`` until the matching service publishes its contract.

Modelled on the matching domain (``Pair``: proposed_at, formed_at, activated_at, follow_ups, ended_on,
end_reason). When the real contract lands, ``translate.pair_facts`` reads it instead and this file goes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar, Generic

from sprakvan_shared.contracts.envelope import IntegrationEvent, Payload, PayloadT


class FollowUpState(Payload):
    due_on: date
    done_on: date | None = None


class PairState(Payload):
    pair_id: uuid.UUID
    programme: str
    newcomer_id: uuid.UUID | None = None
    established_id: uuid.UUID | None = None
    origin: str
    status: str
    proposed_at: datetime | None = None
    formed_at: datetime | None = None
    activated_at: date | None = None
    follow_ups: tuple[FollowUpState, ...] = ()
    ended_on: date | None = None
    end_reason: str | None = None


class _MatchingEvent(IntegrationEvent[PayloadT], Generic[PayloadT]):
    PRODUCER: ClassVar[str] = "matching"


class PairProposed(_MatchingEvent[PairState]):
    EVENT_TYPE: ClassVar[str] = "pair.proposed"


class PairFormed(_MatchingEvent[PairState]):
    EVENT_TYPE: ClassVar[str] = "pair.formed"


class PairActivated(_MatchingEvent[PairState]):
    EVENT_TYPE: ClassVar[str] = "pair.activated"


class PairFollowedUp(_MatchingEvent[PairState]):
    EVENT_TYPE: ClassVar[str] = "pair.followed_up"


class PairEnded(_MatchingEvent[PairState]):
    EVENT_TYPE: ClassVar[str] = "pair.ended"


PAIR_EVENTS: tuple[type[IntegrationEvent], ...] = (PairProposed, PairFormed, PairActivated, PairFollowedUp, PairEnded)
