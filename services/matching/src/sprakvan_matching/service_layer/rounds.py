"""Proposal rounds, the waiting list and the programme's settings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import asyncpg
import structlog

from sprakvan_shared import outbox
from sprakvan_shared.auth import Principal
from sprakvan_shared.contracts.matching import ScoreBreakdown
from sprakvan_shared.http import PreconditionFailed, PreconditionRequired

from ..adapters import candidate_store, pair_store, programme_store
from ..domain.model import EndReason, Pair, Role
from ..domain.rounds import InvalidLock, RoundInput, run_round
from ..domain.scoring import Breakdown
from ..domain.settings import ProgrammeSettings
from ..domain.waiting import WaitingList, waiting_list
from .events import pair_event
from .unit_of_work import ConstraintsBroken, Context, NotFound, store, transaction

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RoundOutcome:
    round_id: uuid.UUID
    proposals: list[Pair]
    superseded: int
    waiting: int
    candidates: int
    interest_labels: dict[str, dict[str, str]]
    # Per proposal, what its event and the reply both show: the contract's breakdown (built once, for the
    # event) and the domain's (what the explanation is told from, without reading the stored data back).
    scores: dict[uuid.UUID, ScoreBreakdown | None] = field(default_factory=dict)
    breakdowns: dict[uuid.UUID, Breakdown] = field(default_factory=dict)


async def _organisation(conn: asyncpg.Connection, principal: Principal, programme: str) -> candidate_store.Organisation:
    """The organisation's configuration; a programme it does not run is not found. Before intake has
    published a configuration, the programmes are those of the known participants (no neighbours yet)."""
    organisation = await candidate_store.load_organisation(conn, principal.organisation_id)
    if organisation is None:
        programmes = await candidate_store.programmes_of_candidates(conn, principal.organisation_id)
        organisation = candidate_store.Organisation(principal.organisation_id, programmes, ())
    if programme not in organisation.programmes:
        raise NotFound(programme)
    return organisation


async def run(
    ctx: Context, principal: Principal, programme: str, locks: Sequence[tuple[uuid.UUID, uuid.UUID]] = ()
) -> RoundOutcome:
    """Propose the best set of pairs for everyone waiting; the programme's earlier open proposals end
    (superseded). One round per programme at a time (a transaction-scoped advisory lock)."""
    round_id = uuid.uuid4()
    now, today = ctx.now(), ctx.today()
    async with transaction(ctx) as conn:
        organisation = await _organisation(conn, principal, programme)
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"round:{principal.organisation_id}:{programme}"
        )
        superseded = [
            p.close(EndReason.SUPERSEDED, today)
            for p in await pair_store.pending_proposals(conn, principal.organisation_id, programme)
        ]
        everyone = await candidate_store.load_candidates(conn, principal.organisation_id, programme, zone=ctx.zone)
        taken = await pair_store.occupancy(conn, principal.organisation_id)
        settings = await programme_store.load_settings(conn, principal.organisation_id, programme)
        forbidden = await programme_store.forbidden_pairs(conn, principal.organisation_id, programme)
        forbidden |= await pair_store.ended_pairs(conn, principal.organisation_id, programme)
        data = RoundInput(
            programme=programme,
            newcomers=[
                c for c in everyone if c.role is Role.NEWCOMER and c.participant_id not in taken.paired_newcomers
            ],
            established=[c for c in everyone if c.role is Role.ESTABLISHED],
            free_places={
                c.participant_id: c.capacity - taken.by_volunteer.get(c.participant_id, 0)
                for c in everyone
                if c.role is Role.ESTABLISHED
            },
            today=today,
            settings=settings,
            neighbours=organisation.neighbours,
            districts=organisation.districts,
            forbidden=forbidden,
            locks=list(locks),
        )
        try:
            # numpy and the solver run outside the event loop: other requests go on meanwhile.
            result = await asyncio.to_thread(run_round, data)
        except InvalidLock as exc:
            index = list(locks).index(exc.pair)
            raise ConstraintsBroken(exc.broken, ("locks", index)) from exc
        proposals = [
            Pair.propose(
                organisation_id=principal.organisation_id,
                programme=programme,
                newcomer_id=p.newcomer_id,
                established_id=p.established_id,
                score=p.breakdown.as_data(),
                round_id=round_id,
                now=now,
            )
            for p in result.proposals
        ]
        # The superseded proposals changed only their end: saved as such, announced with their full state.
        if superseded:
            await pair_store.save_endings(conn, principal.organisation_id, superseded)
            await outbox.enqueue(conn, *(pair_event(p, "ended") for p in superseded))
        events = await store(conn, [(p, "proposed") for p in proposals])
        await programme_store.record_round(
            conn,
            round_id=round_id,
            organisation_id=principal.organisation_id,
            programme=programme,
            run_at=now,
            run_by=principal.subject,
            waiting=result.waiting,
            proposals=len(proposals),
            candidates=result.candidates,
            objective=result.objective,
        )
    log.info("round_run", round_id=str(round_id), programme=programme, proposals=len(proposals), waiting=result.waiting)
    return RoundOutcome(
        round_id,
        proposals,
        len(superseded),
        result.waiting,
        result.candidates,
        organisation.interest_labels,
        scores={p.pair_id: event.payload.score for p, event in zip(proposals, events, strict=True)},
        breakdowns={p.pair_id: proposal.breakdown for p, proposal in zip(proposals, result.proposals, strict=True)},
    )


async def waiting(ctx: Context, principal: Principal, programme: str) -> WaitingList:
    async with ctx.pool.acquire() as conn:
        await _organisation(conn, principal, programme)
        everyone = await candidate_store.load_candidates(conn, principal.organisation_id, programme, zone=ctx.zone)
        taken = await pair_store.occupancy(conn, principal.organisation_id)
    return waiting_list(
        everyone, paired_newcomers=taken.paired_newcomers, open_pairs_by_volunteer=taken.by_volunteer, today=ctx.today()
    )


async def get_settings(ctx: Context, principal: Principal, programme: str) -> tuple[ProgrammeSettings, int]:
    """The settings and their version (0: the defaults, never saved)."""
    async with ctx.pool.acquire() as conn:
        await _organisation(conn, principal, programme)
        return await programme_store.load_versioned_settings(conn, principal.organisation_id, programme)


async def put_settings(
    ctx: Context,
    principal: Principal,
    programme: str,
    settings: ProgrammeSettings,
    expected: int | None | Literal[False],
) -> tuple[ProgrammeSettings, int]:
    """Replace the settings at the version the admin read (``expected``; None: any). ``False``: no
    precondition, allowed only for the first settings (as intake's first configuration): replacing saved
    ones without is ``PreconditionRequired``, at another version ``PreconditionFailed``, nothing saved."""
    async with transaction(ctx) as conn:
        await _organisation(conn, principal, programme)
        _, current = await programme_store.load_versioned_settings(
            conn, principal.organisation_id, programme, for_update=True
        )
        if current and expected is False:
            raise PreconditionRequired
        # Not ``expected not in (None, False)``: 0 == False, and If-Match "0" (the defaults read) must be checked.
        if expected is not None and expected is not False and expected != current:
            raise PreconditionFailed(current)
        version = await programme_store.save_settings(
            conn, principal.organisation_id, programme, settings, principal.subject, replacing=bool(current)
        )
        if version is None:  # the first settings, saved by someone else meanwhile: read them again
            raise PreconditionFailed(None)
    log.info("settings_changed", programme=programme, version=version)
    return settings, version


async def interest_labels(ctx: Context, principal: Principal) -> dict[str, dict[str, str]]:
    async with ctx.pool.acquire() as conn:
        organisation = await candidate_store.load_organisation(conn, principal.organisation_id)
    return organisation.interest_labels if organisation else {}
