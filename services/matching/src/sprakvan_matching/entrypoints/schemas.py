"""Request and response bodies of the matching API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sprakvan_shared.contracts.matching import ScoreBreakdown
from sprakvan_shared.text import Day

from ..domain.explanation import Labels, explain
from ..domain.model import Attendee, EndReason, FollowUpOutcome, Origin, Pair, PairStatus, RejectionReason
from ..domain.scoring import SCALE, Breakdown, Criterion
from ..domain.waiting import WaitingList
from ..service_layer.events import score_breakdown


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PairKeyIn(_Body):
    newcomer_id: uuid.UUID
    established_id: uuid.UUID


class RoundIn(_Body):
    locks: tuple[PairKeyIn, ...] = Field((), max_length=1000, description="Pairs that must be in the proposals.")


class RejectIn(_Body):
    reason: RejectionReason


class ConversationIn(_Body):
    held_on: Day
    attended: tuple[Attendee, ...] = Field(min_length=1, max_length=4)


class FollowUpIn(_Body):
    due_on: Day


class FollowUpDoneIn(_Body):
    done_on: Day
    outcome: FollowUpOutcome
    notes: str = Field("", max_length=4000, description="Stays in matching: never in an event.")
    due_on: Day | None = Field(None, description="The scheduled follow-up this is; the earliest open one if left out.")


class EndIn(_Body):
    reason: Literal["moved", "completed", "did_not_click", "no_contact", "other"]

    @property
    def end_reason(self) -> EndReason:
        return EndReason(self.reason)


class RematchIn(EndIn):
    established_id: uuid.UUID | None = Field(None, description="The newcomer's new volunteer; else they wait again.")


class MeetupIn(_Body):
    held_on: Day
    pairs: tuple[PairKeyIn, ...] = Field(min_length=1, max_length=200)


class FollowUpOut(BaseModel):
    due_on: date
    done_on: date | None
    outcome: FollowUpOutcome | None
    notes: str | None = Field(description="Free text that stays in matching; null for viewers.")


class PairOut(BaseModel):
    pair_id: uuid.UUID
    programme: str
    newcomer_id: uuid.UUID
    established_id: uuid.UUID
    origin: Origin
    status: PairStatus
    proposed_at: datetime | None
    formed_at: datetime | None
    activated_at: datetime | None
    activated_on: date | None
    conversation_attended: tuple[Attendee, ...]
    follow_ups: list[FollowUpOut]
    ended_on: date | None
    end_reason: EndReason | None
    rejection_reason: RejectionReason | None
    score: ScoreBreakdown | None
    explanation: dict[str, str] | None = Field(None, description="The score's reasons, in Swedish and English.")
    round_id: uuid.UUID | None
    meetup_id: uuid.UUID | None
    rematch_of: uuid.UUID | None
    notes: str | None = Field("", description="An imported pair's notes; they stay in matching; null for viewers.")
    version: int

    @classmethod
    def of(
        cls,
        pair: Pair,
        interests: Labels | None = None,
        *,
        with_notes: bool = True,
        score: ScoreBreakdown | None = None,
        explained: Breakdown | None = None,
    ) -> PairOut:
        """The pair as the API shows it; `with_notes=False` for viewers, who see no free text (as in exports).
        ``score`` and ``explained``: the pair's breakdown as the contract's and the domain's, when the caller
        has them already (a round), else built from the stored data."""
        return cls(
            pair_id=pair.pair_id,
            programme=pair.programme,
            newcomer_id=pair.newcomer_id,
            established_id=pair.established_id,
            origin=pair.origin,
            status=pair.status,
            proposed_at=pair.proposed_at,
            formed_at=pair.formed_at,
            activated_at=pair.activated_at,
            activated_on=pair.activated_on,
            conversation_attended=pair.conversation.attended if pair.conversation else (),
            follow_ups=[
                FollowUpOut(
                    due_on=f.due_on, done_on=f.done_on, outcome=f.outcome, notes=f.notes if with_notes else None
                )
                for f in pair.follow_ups
            ],
            ended_on=pair.ended_on,
            end_reason=pair.end_reason,
            rejection_reason=pair.rejection_reason,
            score=score if score is not None else score_breakdown(pair.score),
            explanation=explain(explained or breakdown_of(pair.score), interests) if pair.score else None,
            round_id=pair.round_id,
            meetup_id=pair.meetup_id,
            rematch_of=pair.rematch_of,
            notes=pair.notes if with_notes else None,
            version=pair.version,
        )


def breakdown_of(data: dict[str, object]) -> Breakdown:
    """The stored breakdown back as the domain's, to tell it in words."""
    criteria = []
    for item in data.get("criteria", []):
        detail = {k: v for k, v in item.items() if k not in ("criterion", "points")}
        criteria.append(Criterion(item["criterion"], round(item["points"] * SCALE), detail))
    return Breakdown(tuple(criteria))


class PairPage(BaseModel):
    items: list[PairOut]
    next_after: uuid.UUID | None = Field(None, description="Pass as `after` for the next page.")


class RoundOut(BaseModel):
    round_id: uuid.UUID
    waiting: int = Field(description="Newcomers the round tried to match.")
    candidates: int = Field(description="Feasible pairs the optimum chose from.")
    superseded: int = Field(description="Earlier open proposals this round replaced.")
    proposals: list[PairOut]


class RematchOut(BaseModel):
    ended: PairOut
    new_pair: PairOut | None


class WaitingOut(BaseModel):
    participant_id: uuid.UUID
    district: str
    gender: str
    age_band: str
    waiting_days: int
    interviewed: bool


class BalanceOut(BaseModel):
    district: str
    newcomers_waiting: int
    free_places: int
    newcomers_per_place: float | None
    shortfall: int = Field(description="Volunteer places missing for everyone waiting here.")


class WaitingListOut(BaseModel):
    total: int
    median_waiting_days: int | None
    by_district: dict[str, int]
    by_gender: dict[str, int]
    by_age_band: dict[str, int]
    balance: list[BalanceOut]
    waiting: list[WaitingOut]

    @classmethod
    def of(cls, result: WaitingList, limit: int) -> WaitingListOut:
        return cls(
            total=len(result.waiting),
            median_waiting_days=result.median_waiting_days,
            by_district=dict(result.by_district),
            by_gender=dict(result.by_gender),
            by_age_band=dict(result.by_age_band),
            balance=[
                BalanceOut(
                    district=b.district,
                    newcomers_waiting=b.newcomers_waiting,
                    free_places=b.free_places,
                    newcomers_per_place=b.newcomers_per_place,
                    shortfall=b.shortfall,
                )
                for b in result.balance
            ],
            waiting=[WaitingOut(**{f: getattr(w, f) for f in WaitingOut.model_fields}) for w in result.waiting[:limit]],
        )
