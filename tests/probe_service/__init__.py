"""A minimal second service for tests: it consumes intake's participant events through the kit, like
matching or reporting will, and keeps the last state of each participant.

``FAULTS`` lets a test make the handler fail: ``FAULTS[(participant_id, event_type)] = n`` fails the
next n attempts of that event type for that participant (``-1``: always)."""

from __future__ import annotations

import uuid

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
from sprakvan_shared.kit import Service

FAULTS: dict[tuple[uuid.UUID, str], int] = {}
ATTEMPTS: dict[tuple[uuid.UUID, str], int] = {}

consumer = EventConsumer("probe", INTAKE_STREAM)


class InjectedFault(Exception):
    pass


def _maybe_fail(participant_id: uuid.UUID, event_type: str) -> None:
    key = (participant_id, event_type)
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    left = FAULTS.get(key, 0)
    if left:
        FAULTS[key] = left - 1 if left > 0 else left
        raise InjectedFault(f"injected failure of {event_type}")


@consumer.on(ParticipantRegistered)
@consumer.on(ParticipantUpdated)
@consumer.on(ParticipantInterviewed)
@consumer.on(ParticipantWithdrawn)
async def on_state(conn: asyncpg.Connection, event: ParticipantRegistered) -> None:
    state = event.payload
    _maybe_fail(state.participant_id, event.type)
    await conn.execute(
        """INSERT INTO probe_participants (participant_id, status, version, district) VALUES ($1, $2, $3, $4)
           ON CONFLICT (participant_id) DO UPDATE SET status = $2, version = $3, district = $4,
                                                       applied = probe_participants.applied + 1""",
        state.participant_id,
        state.status.value,
        event.version,
        state.district,
    )


@consumer.on(ParticipantErased)
async def on_erased(conn: asyncpg.Connection, event: ParticipantErased) -> None:
    _maybe_fail(event.payload.participant_id, event.type)
    await conn.execute("DELETE FROM probe_participants WHERE participant_id = $1", event.payload.participant_id)


@consumer.on(OrganisationConfigured)
async def on_configured(conn: asyncpg.Connection, event: OrganisationConfigured) -> None:
    await conn.execute(
        """INSERT INTO probe_configurations VALUES ($1, $2)
           ON CONFLICT (organisation_id) DO UPDATE SET version = $2""",
        event.organisation_id,
        event.version,
    )


SERVICE = Service(
    name="probe",
    default_port=8999,
    description="A test service that consumes intake's events",
    consumers=(consumer,),
    package="tests.probe_service",
)
