"""What the events service reads from intake: participants (who may sign up) and the organisation's
vocabularies. Each handler runs inside the kit's version gate and transaction and writes full state."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from sprakvan_shared.consumer import EventConsumer
from sprakvan_shared.contracts.intake import (
    INTAKE_STREAM,
    OrganisationConfigured,
    ParticipantErased,
    ParticipantInterviewed,
    ParticipantRegistered,
    ParticipantUpdated,
    ParticipantWithdrawn,
)

from ..adapters import repository as repo
from ..domain.signups import KnownParticipant, ParticipantStanding
from ..service_layer import participants

intake = EventConsumer("events", INTAKE_STREAM)


@intake.on(ParticipantRegistered)
@intake.on(ParticipantUpdated)
@intake.on(ParticipantInterviewed)
@intake.on(ParticipantWithdrawn)
async def on_participant(conn: asyncpg.Connection, event: ParticipantRegistered) -> None:
    state = event.payload
    known = KnownParticipant(
        participant_id=state.participant_id,
        organisation_id=event.organisation_id,
        role=state.role.value,
        gender=state.gender.value,
        status=ParticipantStanding(state.status.value),
        programme=state.programme,
    )
    # A withdrawal cancels future sign-ups "now": the time this service learns of it.
    await participants.apply_state(conn, known, event.version, now=datetime.now(UTC))


@intake.on(ParticipantErased)
async def on_erased(conn: asyncpg.Connection, event: ParticipantErased) -> None:
    await participants.erase(conn, event.organisation_id, event.payload.participant_id, now=datetime.now(UTC))


@intake.on(OrganisationConfigured)
async def on_configured(conn: asyncpg.Connection, event: OrganisationConfigured) -> None:
    config = event.payload
    vocabulary = repo.Vocabulary(
        programmes=frozenset(p.code for p in config.programmes),
        districts=frozenset(d.code for d in config.districts),
        campaigns=frozenset(c.code for c in config.campaigns),
    )
    await repo.upsert_vocabulary(conn, event.organisation_id, vocabulary, event.version)
