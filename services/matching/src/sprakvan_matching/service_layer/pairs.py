"""The life of a pair: accept or reject a proposal, form one by hand or at a meetup, introduce, follow up, end.

Every write that takes a place locks the people's candidate rows in id order before it counts their open
pairs, so two coordinators accepting at once never over-assign a volunteer: the second waits for the
first's commit, then sees its pair and gets a 409. The unique index on a newcomer's open pair is the last
guard. Locks are always taken people first, then pairs (as the erasure handler does too), so two writes
never wait on each other in a circle.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg
import structlog

from sprakvan_shared.auth import Principal

from ..adapters import candidate_store, pair_store, programme_store
from ..domain.constraints import MESSAGES, Broken, PairContext, check_pair
from ..domain.model import (
    Attendee,
    Candidate,
    Conversation,
    EndReason,
    FollowUpOutcome,
    InvalidTransition,
    Pair,
    PairStatus,
    RejectionReason,
)
from ..domain.scoring import ScoreTables, breakdown
from .unit_of_work import Conflict, ConstraintsBroken, Context, InvalidInput, NotFound, store, transaction

log = structlog.get_logger(__name__)

STRUCTURAL = frozenset(
    {
        Broken.ROLES,
        Broken.ORGANISATION,
        Broken.PROGRAMME,
        Broken.NEWCOMER_UNAVAILABLE,
        Broken.ESTABLISHED_UNAVAILABLE,
        Broken.NO_FREE_CAPACITY,
        Broken.NEWCOMER_ALREADY_PAIRED,
    }
)
"""What a pair formed at a meetup must still meet: the people chose each other, their wishes are theirs."""


async def _load(conn: asyncpg.Connection, principal: Principal, pair_id: uuid.UUID) -> Pair:
    pair = await pair_store.get_pair(conn, principal.organisation_id, pair_id, for_update=True)
    if pair is None:
        raise NotFound(pair_id)
    return pair


def _transition(change: Callable[[], Pair], field: str = "body") -> Pair:
    """Run a domain change; a refused transition is a 409, a refused value a 422 on ``field``."""
    try:
        return change()
    except InvalidTransition as exc:
        raise Conflict("invalid_transition", str(exc)) from exc
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from exc


async def get_pair(ctx: Context, principal: Principal, pair_id: uuid.UUID) -> Pair:
    async with ctx.pool.acquire() as conn:
        pair = await pair_store.get_pair(conn, principal.organisation_id, pair_id)
    if pair is None:
        raise NotFound(pair_id)
    return pair


async def list_pairs(
    ctx: Context, principal: Principal, where: pair_store.PairFilter, *, limit: int, after: uuid.UUID | None
) -> list[Pair]:
    async with ctx.pool.acquire() as conn:
        return await pair_store.list_pairs(conn, principal.organisation_id, where, limit=limit, after=after)


@dataclass(frozen=True)
class _People:
    newcomer: Candidate
    established: Candidate
    context: PairContext


async def _lock_people(
    conn: asyncpg.Connection,
    ctx: Context,
    principal: Principal,
    newcomer_id: uuid.UUID,
    established_id: uuid.UUID,
    today: date,
) -> _People:
    people = await candidate_store.lock_candidates(
        conn, principal.organisation_id, [newcomer_id, established_id], zone=ctx.zone
    )
    newcomer, established = people.get(newcomer_id), people.get(established_id)
    if newcomer is None or established is None:
        raise NotFound(newcomer_id if newcomer is None else established_id)
    taken = await pair_store.occupancy(conn, principal.organisation_id, [newcomer_id, established_id])
    context = PairContext(
        year=today.year,
        established_open_pairs=taken.by_volunteer.get(established_id, 0),
        newcomer_paired=newcomer_id in taken.paired_newcomers,
        forbidden=await programme_store.is_forbidden(conn, principal.organisation_id, newcomer_id, established_id),
        ended_before=await pair_store.was_paired_before(conn, principal.organisation_id, newcomer_id, established_id),
    )
    return _People(newcomer, established, context)


async def _supersede_proposals_of(
    conn: asyncpg.Connection, principal: Principal, newcomer_id: uuid.UUID, keep: uuid.UUID, today: date
) -> list[tuple[Pair, str]]:
    """A newcomer who got a pair no longer needs their other proposals."""
    pending = await pair_store.pairs_of_participant(conn, principal.organisation_id, newcomer_id, statuses=["proposed"])
    return [
        (p.close(EndReason.SUPERSEDED, today), "ended")
        for p in pending
        if p.pair_id != keep and p.newcomer_id == newcomer_id
    ]


async def _people_then_pair(
    conn: asyncpg.Connection, ctx: Context, principal: Principal, pair_id: uuid.UUID, *others: uuid.UUID
) -> Pair:
    """Lock the pair's people (and ``others``) first, then the pair itself, read again under its lock."""
    seen = await pair_store.get_pair(conn, principal.organisation_id, pair_id)
    if seen is None:
        raise NotFound(pair_id)
    await candidate_store.lock_candidates(
        conn, principal.organisation_id, [seen.newcomer_id, seen.established_id, *others], zone=ctx.zone
    )
    return await _load(conn, principal, pair_id)


async def accept(ctx: Context, principal: Principal, pair_id: uuid.UUID) -> Pair:
    today = ctx.today()
    async with transaction(ctx) as conn:
        pair = await _people_then_pair(conn, ctx, principal, pair_id)
        if pair.status is not PairStatus.PROPOSED:
            raise Conflict("not_proposed", f"the pair is {pair.status.value}, not a proposal")
        people = await _lock_people(conn, ctx, principal, pair.newcomer_id, pair.established_id, today)
        if people.context.newcomer_paired:
            raise Conflict(Broken.NEWCOMER_ALREADY_PAIRED.value, MESSAGES[Broken.NEWCOMER_ALREADY_PAIRED])
        if people.context.established_open_pairs >= people.established.capacity:
            raise Conflict(Broken.NO_FREE_CAPACITY.value, MESSAGES[Broken.NO_FREE_CAPACITY])
        for unavailable in (Broken.NEWCOMER_UNAVAILABLE, Broken.ESTABLISHED_UNAVAILABLE):
            if unavailable in check_pair(people.newcomer, people.established, people.context):
                raise Conflict(unavailable.value, MESSAGES[unavailable])
        formed = pair.accept(ctx.now())
        changes = [
            (formed, "formed"),
            *await _supersede_proposals_of(conn, principal, pair.newcomer_id, pair.pair_id, today),
        ]
        await store(conn, changes)
    log.info("pair_accepted", pair_id=str(pair_id))
    return formed


async def reject(ctx: Context, principal: Principal, pair_id: uuid.UUID, reason: RejectionReason) -> Pair:
    async with transaction(ctx) as conn:
        pair = await _load(conn, principal, pair_id)
        rejected = _transition(lambda: pair.reject(reason, ctx.today()))
        await store(conn, [(rejected, "ended")])
    log.info("pair_rejected", pair_id=str(pair_id), reason=reason.value)
    return rejected


async def _form(
    conn: asyncpg.Connection,
    ctx: Context,
    principal: Principal,
    programme: str,
    newcomer_id: uuid.UUID,
    established_id: uuid.UUID,
    *,
    rematch_of: uuid.UUID | None = None,
) -> list[tuple[Pair, str]]:
    today = ctx.today()
    people = await _lock_people(conn, ctx, principal, newcomer_id, established_id, today)
    broken = check_pair(people.newcomer, people.established, people.context)
    if people.newcomer.programme != programme:
        broken = [Broken.PROGRAMME, *[b for b in broken if b is not Broken.PROGRAMME]]
    if broken:
        raise ConstraintsBroken(broken)
    settings = await programme_store.load_settings(conn, principal.organisation_id, programme)
    organisation = await candidate_store.load_organisation(conn, principal.organisation_id)
    explained = breakdown(
        people.newcomer,
        people.established,
        tables=ScoreTables.from_settings(settings),
        neighbours=organisation.neighbours if organisation else {},
        today=today,
    )
    pair = Pair.form_manually(
        organisation_id=principal.organisation_id,
        programme=programme,
        newcomer_id=newcomer_id,
        established_id=established_id,
        now=ctx.now(),
        score=explained.as_data(),
        rematch_of=rematch_of,
    )
    return [(pair, "formed"), *await _supersede_proposals_of(conn, principal, newcomer_id, pair.pair_id, today)]


async def form_manually(
    ctx: Context, principal: Principal, programme: str, newcomer_id: uuid.UUID, established_id: uuid.UUID
) -> Pair:
    """A pair by hand, checked against every hard constraint (each broken one is named in the 422)."""
    async with transaction(ctx) as conn:
        changes = await _form(conn, ctx, principal, programme, newcomer_id, established_id)
        await store(conn, changes)
    log.info("pair_formed_manually", pair_id=str(changes[0][0].pair_id))
    return changes[0][0]


async def record_conversation(
    ctx: Context, principal: Principal, pair_id: uuid.UUID, held_on: date, attended: Sequence[Attendee]
) -> Pair:
    async with transaction(ctx) as conn:
        pair = await _load(conn, principal, pair_id)
        settings = await programme_store.load_settings(conn, principal.organisation_id, pair.programme)
        conversation = Conversation(held_on, tuple(dict.fromkeys(attended)))
        active = _transition(
            lambda: pair.activate(conversation, ctx.now(), ctx.today(), settings.follow_up_days), "held_on"
        )
        await store(conn, [(active, "activated")])
    log.info("pair_activated", pair_id=str(pair_id))
    return active


async def schedule_follow_up(ctx: Context, principal: Principal, pair_id: uuid.UUID, due_on: date) -> Pair:
    async with transaction(ctx) as conn:
        pair = await _load(conn, principal, pair_id)
        changed = _transition(lambda: pair.schedule_follow_up(due_on))
        if changed is not pair:
            await store(conn, [(changed, "followed_up")])
    return changed


async def record_follow_up(
    ctx: Context,
    principal: Principal,
    pair_id: uuid.UUID,
    *,
    done_on: date,
    outcome: FollowUpOutcome,
    notes: str,
    due_on: date | None,
) -> Pair:
    async with transaction(ctx) as conn:
        pair = await _load(conn, principal, pair_id)
        done = _transition(
            lambda: pair.record_follow_up(
                done_on=done_on, outcome=outcome, notes=notes, today=ctx.today(), due_on=due_on
            ),
            "done_on",
        )
        await store(conn, [(done, "followed_up")])
    log.info("pair_followed_up", pair_id=str(pair_id), outcome=outcome.value)
    return done


async def end(ctx: Context, principal: Principal, pair_id: uuid.UUID, reason: EndReason) -> Pair:
    async with transaction(ctx) as conn:
        pair = await _load(conn, principal, pair_id)
        ended = _transition(lambda: pair.end(reason, ctx.today()), "reason")
        await store(conn, [(ended, "ended")])
    log.info("pair_ended", pair_id=str(pair_id), reason=reason.value)
    return ended


async def rematch(
    ctx: Context, principal: Principal, pair_id: uuid.UUID, reason: EndReason, established_id: uuid.UUID | None
) -> tuple[Pair, Pair | None]:
    """End the pair; with ``established_id`` the newcomer gets that volunteer at once, else waits again."""
    async with transaction(ctx) as conn:
        pair = await _people_then_pair(conn, ctx, principal, pair_id, *([established_id] if established_id else []))
        ended = _transition(lambda: pair.end(reason, ctx.today()), "reason")
        await pair_store.save_pairs(conn, [ended])  # before the new pair: one open pair per newcomer
        changes = [(ended, "ended")]
        if established_id is not None:
            changes += await _form(
                conn, ctx, principal, pair.programme, pair.newcomer_id, established_id, rematch_of=pair.pair_id
            )
        await store(conn, changes)
    new = changes[1][0] if len(changes) > 1 else None
    log.info("pair_rematched", pair_id=str(pair_id), new_pair_id=str(new.pair_id) if new else None)
    return ended, new


async def record_meetup(
    ctx: Context,
    principal: Principal,
    programme: str,
    held_on: date,
    pairs: Sequence[tuple[uuid.UUID, uuid.UUID]],
) -> list[Pair]:
    """The pairs that formed themselves at a group-matching meetup, all or none, active from the meetup."""
    if held_on > ctx.today():
        raise InvalidInput("held_on", "the meetup cannot be in the future")
    meetup_id = uuid.uuid4()
    today = ctx.today()
    async with transaction(ctx) as conn:
        settings = await programme_store.load_settings(conn, principal.organisation_id, programme)
        everyone = [person for pair in pairs for person in pair]
        people = await candidate_store.lock_candidates(conn, principal.organisation_id, everyone, zone=ctx.zone)
        taken = await pair_store.occupancy(conn, principal.organisation_id, everyone)
        load = dict(taken.by_volunteer)
        paired = set(taken.paired_newcomers)
        changes: list[tuple[Pair, str]] = []
        for index, (newcomer_id, established_id) in enumerate(pairs):
            newcomer, established = people.get(newcomer_id), people.get(established_id)
            if newcomer is None or established is None:
                raise NotFound(newcomer_id if newcomer is None else established_id)
            context = PairContext(
                year=today.year,
                established_open_pairs=load.get(established_id, 0),
                newcomer_paired=newcomer_id in paired,
            )
            broken = [b for b in check_pair(newcomer, established, context) if b in STRUCTURAL]
            if newcomer.programme != programme:
                broken = [Broken.PROGRAMME, *[b for b in broken if b is not Broken.PROGRAMME]]
            if broken:
                raise ConstraintsBroken(broken, ("pairs", index))
            load[established_id] = load.get(established_id, 0) + 1
            paired.add(newcomer_id)
            pair = Pair.from_meetup(
                organisation_id=principal.organisation_id,
                programme=programme,
                newcomer_id=newcomer_id,
                established_id=established_id,
                meetup_id=meetup_id,
                held_on=held_on,
                now=ctx.now(),
                follow_up_days=settings.follow_up_days,
            )
            changes += [
                (pair, "activated"),
                *await _supersede_proposals_of(conn, principal, newcomer_id, pair.pair_id, today),
            ]
        await store(conn, changes)
    log.info("meetup_recorded", meetup_id=str(meetup_id), pairs=len(pairs))
    return [pair for pair, action in changes if action == "activated"]


async def forbid(
    ctx: Context, principal: Principal, programme: str, newcomer_id: uuid.UUID, established_id: uuid.UUID
) -> None:
    async with transaction(ctx) as conn:
        people = await candidate_store.lock_candidates(
            conn, principal.organisation_id, [newcomer_id, established_id], zone=ctx.zone
        )
        if newcomer_id not in people or established_id not in people:
            raise NotFound(newcomer_id if newcomer_id not in people else established_id)
        await programme_store.add_forbidden(
            conn, principal.organisation_id, programme, (newcomer_id, established_id), principal.subject
        )


async def allow(ctx: Context, principal: Principal, newcomer_id: uuid.UUID, established_id: uuid.UUID) -> None:
    async with transaction(ctx) as conn:
        if not await programme_store.remove_forbidden(conn, principal.organisation_id, (newcomer_id, established_id)):
            raise NotFound((newcomer_id, established_id))
