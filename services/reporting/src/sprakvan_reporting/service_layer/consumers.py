"""What reporting does with each event it consumes: a full-state upsert of one read-model row, or a
deletion for a tombstone. The same functions apply one event live and thousands in a replay (``apply``
takes a batch), so a rebuilt read model is the live one.

The kit's consumer calls ``handle(conn, event)`` inside a transaction behind its per-aggregate version
gate; the upserts' own ``version <`` guard makes a handler safe without it too (a replay has no gate).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import asyncpg

from sprakvan_shared.contracts import intake
from sprakvan_shared.contracts.envelope import IntegrationEvent

from ..adapters import read_models as rm
from ..adapters import translate
from ..upstream import events as ev
from ..upstream import matching

PARTICIPANT_STATES = (
    intake.ParticipantRegistered,
    intake.ParticipantUpdated,
    intake.ParticipantInterviewed,
    intake.ParticipantWithdrawn,
)
OCCURRENCE_STATES = ev.ACTIVITY_EVENTS
SIGNUP_STATES = tuple(e for e in ev.SIGNUP_EVENTS if not e.TOMBSTONE)
PAIR_STATES = matching.PAIR_EVENTS

CONSUMED: tuple[type[IntegrationEvent], ...] = (
    *PARTICIPANT_STATES,
    intake.ParticipantErased,
    intake.ErasureStatisticsRecorded,
    intake.OrganisationConfigured,
    *PAIR_STATES,
    *OCCURRENCE_STATES,
    *SIGNUP_STATES,
    ev.SignupErased,
    ev.AttendanceRecorded,
)


@dataclass
class Batch:
    """Events sorted into what each statement needs; tombstones are applied after the upserts."""

    participants: list[rm.ParticipantFacts] = field(default_factory=list)
    erased: dict[str, set] = field(default_factory=dict)
    statistics: dict[tuple[str, int], intake.ErasureStatisticsRecorded] = field(default_factory=dict)
    organisations: dict[str, intake.OrganisationConfigured] = field(default_factory=dict)
    pairs: list[rm.PairFacts] = field(default_factory=list)
    occurrences: list[rm.OccurrenceFacts] = field(default_factory=list)
    signups: list[rm.SignupFacts] = field(default_factory=list)
    erased_signups: dict[str, set] = field(default_factory=dict)
    attendance: list[rm.AttendanceFacts] = field(default_factory=list)

    def add(self, event: IntegrationEvent, zone: ZoneInfo) -> None:
        org = event.organisation_id
        match event:
            case intake.ParticipantErased():
                self.erased.setdefault(org, set()).add(event.payload.participant_id)
            case intake.ErasureStatisticsRecorded():
                key = (org, event.payload.year)
                if key not in self.statistics or self.statistics[key].version < event.version:
                    self.statistics[key] = event
            case intake.OrganisationConfigured():
                if org not in self.organisations or self.organisations[org].version < event.version:
                    self.organisations[org] = event
            case ev.SignupErased():
                self.erased_signups.setdefault(org, set()).add(event.payload.signup_id)
            case ev.AttendanceRecorded():
                self.attendance.append(translate.attendance_facts(event))
            case _ if isinstance(event, PARTICIPANT_STATES):
                self.participants.append(translate.participant_facts(event, zone))
            case _ if isinstance(event, PAIR_STATES):
                self.pairs.append(translate.pair_facts(event, zone))
            case _ if isinstance(event, OCCURRENCE_STATES):
                self.occurrences.append(translate.occurrence_facts(event, zone))
            case _ if isinstance(event, SIGNUP_STATES):
                self.signups.append(translate.signup_facts(event))
            case _:
                raise TypeError(f"reporting does not consume {event.type}")

    async def apply(self, conn: asyncpg.Connection) -> None:
        await rm.upsert_participants(conn, self.participants)
        for (org, year), event in sorted(self.statistics.items()):
            await rm.replace_erasure_statistics(conn, org, year, event.version, translate.anonymous_facts(event))
        for org, event in sorted(self.organisations.items()):
            await rm.upsert_organisation(conn, org, event.payload.model_dump(mode="json"), event.version)
        await rm.upsert_pairs(conn, self.pairs)
        await rm.upsert_occurrences(conn, self.occurrences)
        await rm.upsert_signups(conn, self.signups)
        await rm.upsert_attendance(conn, self.attendance)
        for org, ids in sorted(self.erased.items()):
            await rm.erase_participants(conn, org, sorted(ids))
        for org, ids in sorted(self.erased_signups.items()):
            await rm.erase_signups(conn, org, sorted(ids))


Handler = Callable[[asyncpg.Connection, IntegrationEvent], Awaitable[None]]


def make_handler(zone: ZoneInfo) -> Handler:
    """One handler for every consumed event type: a batch of one."""

    async def handle(conn: asyncpg.Connection, event: IntegrationEvent) -> None:
        batch = Batch()
        batch.add(event, zone)
        await batch.apply(conn)

    return handle


async def apply_events(conn: asyncpg.Connection, events: Sequence[IntegrationEvent], zone: ZoneInfo) -> None:
    batch = Batch()
    for event in events:
        batch.add(event, zone)
    await batch.apply(conn)
