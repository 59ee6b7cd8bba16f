"""A pair's integration events, built from the domain pair: its full state, codes and ids only."""

from __future__ import annotations

from sprakvan_shared.contracts.envelope import IntegrationEvent
from sprakvan_shared.contracts.matching import (
    FollowUpState,
    PairActivated,
    PairEnded,
    PairFollowedUp,
    PairFormed,
    PairProposed,
    PairState,
    PairUpdated,
    ScoreBreakdown,
    ScoreCriterion,
)
from sprakvan_shared.logging import current_correlation_id

from ..domain.model import Pair

EVENT_OF_ACTION: dict[str, type[IntegrationEvent]] = {
    "proposed": PairProposed,
    "formed": PairFormed,
    "activated": PairActivated,
    "followed_up": PairFollowedUp,
    "ended": PairEnded,
    "updated": PairUpdated,
}


def score_breakdown(data: dict[str, object] | None) -> ScoreBreakdown | None:
    """The stored breakdown (``Breakdown.as_data``) as the contract's codes and numbers."""
    if not data:
        return None
    criteria = []
    for item in data.get("criteria", []):
        shared = item.get("shared", ())
        criteria.append(
            ScoreCriterion(
                criterion=item["criterion"],
                points=item["points"],
                shared=tuple(shared),
                relation=item.get("relation"),
                years_apart=item.get("years_apart"),
                days=item.get("days"),
            )
        )
    return ScoreBreakdown(total=data["total"], criteria=tuple(criteria))


def pair_state(pair: Pair) -> PairState:
    return PairState(
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
        follow_ups=tuple(FollowUpState(due_on=f.due_on, done_on=f.done_on, outcome=f.outcome) for f in pair.follow_ups),
        ended_on=pair.ended_on,
        end_reason=pair.end_reason,
        rejection_reason=pair.rejection_reason,
        score=score_breakdown(pair.score),
        round_id=pair.round_id,
        meetup_id=pair.meetup_id,
        rematch_of=pair.rematch_of,
    )


def pair_event(pair: Pair, action: str, *, correlation_id: str | None = None) -> IntegrationEvent:
    """``action``: proposed, formed, activated, followed_up, ended or updated."""
    return EVENT_OF_ACTION[action](
        organisation_id=pair.organisation_id,
        aggregate_id=str(pair.pair_id),
        version=pair.version,
        correlation_id=correlation_id or current_correlation_id(),
        payload=pair_state(pair),
    )
