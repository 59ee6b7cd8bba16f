"""A pair's history as a spreadsheet tells it (issue 13): the rules it must meet, and the states it went through.

History is not a proposal round: pairs were made by hand, so the round's preferences (wishes, shared slots,
interviews, forbids) do not apply, and neither does the volunteer's capacity, which is what they offer
*now* (a volunteer may have had more newcomers then). What must hold: one newcomer and one established
resident of the row's programme, dates in order and not in the future, not before either person
registered, and a newcomer in one pair at a time (periods ``[formed_on, ended_on)`` may not overlap, so a
rematch may start the day the old pair ended).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sprakvan_shared.contracts.matching import Attendee, FollowUpOutcome

from .model import (
    COORDINATOR_END_REASONS,
    Candidate,
    Conversation,
    EndReason,
    FollowUp,
    Origin,
    Pair,
    PairStatus,
    Role,
    follow_up_schedule,
)

HISTORY_END_REASONS = COORDINATOR_END_REASONS | {EndReason.WITHDRAWN}
"""How a pair of the past ended: a coordinator's reasons, or a participant who withdrew."""

ROLE_NAMES = {Role.NEWCOMER: "a newcomer", Role.ESTABLISHED: "an established resident"}
DEFAULT_ATTENDED = (Attendee.NEWCOMER, Attendee.ESTABLISHED, Attendee.COORDINATOR)
NOON = time(12)


def _step(pair: Pair, **changes: object) -> Pair:
    return dataclasses.replace(pair, version=pair.version + 1, **changes)


def noon(day: date, zone: ZoneInfo) -> datetime:
    """A date without a time is 12:00 in the programme's zone (the import contract)."""
    return datetime.combine(day, NOON, zone)


@dataclass(frozen=True, slots=True)
class PairHistory:
    """One pair row, checked for shape: ``formed_on`` is the day the pair was made (the matching
    conversation's day when the sheet has no other), ``matched_on`` the conversation's (None: not yet held)."""

    newcomer_id: uuid.UUID
    established_id: uuid.UUID
    programme: str
    formed_on: date
    origin: Origin
    proposed_on: date | None = None
    matched_on: date | None = None
    attended: tuple[Attendee, ...] = DEFAULT_ATTENDED
    ended_on: date | None = None
    end_reason: EndReason | None = None
    notes: str = ""

    @property
    def period(self) -> tuple[date, date | None]:
        return self.formed_on, self.ended_on


Problem = tuple[str, str]
"""A broken rule: the row's field, and why (never quoting the value)."""


def _registered_on(person: Candidate, zone: ZoneInfo) -> date:
    return person.registered_at.astimezone(zone).date()


def check_history(
    history: PairHistory, newcomer: Candidate, established: Candidate, *, today: date, zone: ZoneInfo
) -> list[Problem]:
    """Every rule the row breaks (empty when it may be imported)."""
    problems: list[Problem] = []
    sides = (("newcomer_id", newcomer, Role.NEWCOMER), ("established_id", established, Role.ESTABLISHED))
    for field, person, role in sides:
        if person.role is not role:
            problems.append((field, f"the participant is not {ROLE_NAMES[role]}"))
        elif person.programme != history.programme:
            problems.append((field, "the participant is in another programme"))
    dated = [
        ("proposed_on", history.proposed_on),
        ("formed_on", history.formed_on),
        ("matched_on", history.matched_on),
        ("ended_on", history.ended_on),
    ]
    # formed_on defaults to matched_on: the same future day is named once, on matched_on.
    future = [f for f, day in dated if day is not None and day > today]
    if "matched_on" in future and history.formed_on == history.matched_on:
        future.remove("formed_on")
    problems += [(field, "cannot be in the future") for field in future]
    if history.proposed_on is not None and history.proposed_on > history.formed_on:
        problems.append(("proposed_on", "the proposal cannot be after the pair was formed"))
    if history.matched_on is not None and history.matched_on < history.formed_on:
        problems.append(("matched_on", "the matching conversation cannot be before the pair was formed"))
    began = history.matched_on or history.formed_on
    if history.ended_on is not None and history.ended_on < began:
        problems.append(("ended_on", "the pair cannot end before it began"))
    if history.origin is Origin.GROUP_MEETUP and history.proposed_on is not None:
        problems.append(("proposed_on", "a pair formed at a group meetup was never proposed"))
    first_field, first_day = next((f, d) for f, d in dated if d is not None)
    for person in (newcomer, established):
        if first_day < _registered_on(person, zone):
            problems.append((first_field, f"the pair cannot begin before the {person.role.value} registered"))
            break
    return problems


def overlaps(period: tuple[date, date | None], others: Iterable[tuple[date, date | None]]) -> bool:
    """Whether ``[start, end)`` meets any of ``others`` (an open end runs on)."""
    start, end = period
    for other_start, other_end in others:
        if (end is None or other_start < end) and (other_end is None or start < other_end):
            if start != end and other_start != other_end:  # a pair ended the day it formed held no time
                return True
    return False


def period_of(pair: Pair, zone: ZoneInfo) -> tuple[date, date | None] | None:
    """The time a formed pair held the newcomer (None for a proposal that never formed)."""
    if pair.formed_at is None:
        return None
    return pair.formed_at.astimezone(zone).date(), pair.ended_on


def _scheduled(history: PairHistory, follow_up_days: tuple[int, ...], today: date) -> tuple[FollowUp, ...]:
    """A pair still open gets the programme's follow-ups that are still to come (history's past ones are
    the follow-up rows' to tell)."""
    if history.matched_on is None or history.ended_on is not None:
        return ()
    return tuple(f for f in follow_up_schedule(history.matched_on, follow_up_days) if f.due_on >= today)


def history_states(
    history: PairHistory,
    *,
    pair_id: uuid.UUID,
    organisation_id: str,
    zone: ZoneInfo,
    follow_up_days: tuple[int, ...],
    today: date,
) -> list[tuple[Pair, str]]:
    """The states the pair went through, in the order they happened, each with the event announcing it:
    proposed (if it was), formed, activated (if introduced), ended (if it ended)."""
    pair = Pair(
        pair_id=pair_id,
        organisation_id=organisation_id,
        programme=history.programme,
        newcomer_id=history.newcomer_id,
        established_id=history.established_id,
        origin=history.origin,
        status=PairStatus.PROPOSED,
        proposed_at=noon(history.proposed_on, zone) if history.proposed_on else None,
        notes=history.notes,
        version=0,
    )
    states: list[tuple[Pair, str]] = []
    if history.proposed_on is not None:
        pair = _step(pair)
        states.append((pair, "proposed"))
    pair = _step(pair, status=PairStatus.FORMED, formed_at=noon(history.formed_on, zone))
    states.append((pair, "formed"))
    if history.matched_on is not None:
        pair = _step(
            pair,
            status=PairStatus.ACTIVE,
            activated_at=noon(history.matched_on, zone),
            activated_on=history.matched_on,
            conversation=Conversation(history.matched_on, history.attended),
            follow_ups=_scheduled(history, follow_up_days, today),
        )
        states.append((pair, "activated"))
    if history.ended_on is not None:
        pair = _step(pair, status=PairStatus.ENDED, ended_on=history.ended_on, end_reason=history.end_reason)
        states.append((pair, "ended"))
    return states


def corrected(
    existing: Pair, history: PairHistory, *, zone: ZoneInfo, follow_up_days: tuple[int, ...], today: date
) -> Pair:
    """The pair after a changed row: the row's dates, reason, origin and notes; follow-ups already held
    stay (the follow-up rows' and the coordinators'), the ones still to come follow the new dates."""
    final, _ = history_states(
        history,
        pair_id=existing.pair_id,
        organisation_id=existing.organisation_id,
        zone=zone,
        follow_up_days=follow_up_days,
        today=today,
    )[-1]
    held = tuple(f for f in existing.follow_ups if f.done_on is not None)
    planned = tuple(f for f in final.follow_ups if all(h.due_on != f.due_on for h in held))
    return dataclasses.replace(
        final,
        follow_ups=tuple(sorted((*held, *planned), key=lambda f: f.due_on)),
        score=existing.score,
        round_id=existing.round_id,
        meetup_id=existing.meetup_id,
        rematch_of=existing.rematch_of,
        version=existing.version + 1,
    )


def check_follow_up(pair: Pair, done_on: date, today: date, zone: ZoneInfo) -> list[Problem]:
    """A follow-up of the past: held while the pair was, not in the future."""
    if done_on > today:
        return [("done_on", "cannot be in the future")]
    period = period_of(pair, zone)
    if period is None:
        return [("pair_key", "the pair was never formed")]
    if done_on < period[0] or (period[1] is not None and done_on > period[1]):
        return [("done_on", "the pair did not exist on that day")]
    return []


def with_follow_up(
    pair: Pair, *, key: str, done_on: date, outcome: FollowUpOutcome, notes: str, due_on: date | None
) -> Pair:
    """The pair with the follow-up of row ``key`` held: that row's earlier version replaced, else the
    scheduled one due on ``due_on`` filled in, else a new one."""
    target = next((f for f in pair.follow_ups if f.import_key == key), None)
    if target is None and due_on is not None:
        target = next((f for f in pair.follow_ups if f.done_on is None and f.due_on == due_on), None)
    done = FollowUp(due_on or (target.due_on if target else done_on), done_on, outcome, notes, key)
    rest = [f for f in pair.follow_ups if f is not target]
    return _step(pair, follow_ups=tuple(sorted((*rest, done), key=lambda f: f.due_on)))
