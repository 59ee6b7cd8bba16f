"""What reporting does with each event it consumes: a full-state upsert of one read-model row, or a
deletion for a tombstone. The same functions apply one event live and thousands in a replay (``apply``
takes a batch), so a rebuilt read model is the live one.

The kit's consumer calls ``handle(conn, event)`` inside a transaction behind its per-aggregate version
gate; the upserts' own ``version <`` guard makes a handler safe without it too (a replay has no gate).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
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
        try:
            sort = _SORTERS[type(event)]
        except KeyError:
            raise TypeError(f"reporting does not consume {event.type}") from None
        sort(self, event, zone)

    def _erased(self, event: intake.ParticipantErased, _: ZoneInfo) -> None:
        self.erased.setdefault(event.organisation_id, set()).add(event.payload.participant_id)

    def _statistics(self, event: intake.ErasureStatisticsRecorded, _: ZoneInfo) -> None:
        key = (event.organisation_id, event.payload.year)
        if key not in self.statistics or self.statistics[key].version < event.version:
            self.statistics[key] = event

    def _organisation(self, event: intake.OrganisationConfigured, _: ZoneInfo) -> None:
        org = event.organisation_id
        if org not in self.organisations or self.organisations[org].version < event.version:
            self.organisations[org] = event

    def _erased_signup(self, event: ev.SignupErased, _: ZoneInfo) -> None:
        self.erased_signups.setdefault(event.organisation_id, set()).add(event.payload.signup_id)

    def _attendance(self, event: ev.AttendanceRecorded, _: ZoneInfo) -> None:
        self.attendance.append(translate.attendance_facts(event))

    def _participant(self, event: intake.ParticipantRegistered, zone: ZoneInfo) -> None:
        self.participants.append(translate.participant_facts(event, zone))

    def _pair(self, event: matching.PairFormed, zone: ZoneInfo) -> None:
        self.pairs.append(translate.pair_facts(event, zone))

    def _occurrence(self, event: ev.ActivityScheduled, zone: ZoneInfo) -> None:
        self.occurrences.append(translate.occurrence_facts(event, zone))

    def _signup(self, event: ev.SignupConfirmed, _: ZoneInfo) -> None:
        self.signups.append(translate.signup_facts(event))

    async def apply(self, conn: asyncpg.Connection, *, recount_signups: bool = True) -> None:
        await rm.upsert_participants(conn, self.participants)
        for (org, year), event in sorted(self.statistics.items()):
            await rm.replace_erasure_statistics(conn, org, year, event.version, translate.anonymous_facts(event))
        for org, event in sorted(self.organisations.items()):
            await rm.upsert_organisation(conn, org, event.payload.model_dump(mode="json"), event.version)
        await rm.upsert_pairs(conn, self.pairs)
        await rm.upsert_occurrences(conn, self.occurrences)
        await rm.upsert_signups(conn, self.signups, recount=recount_signups)
        await rm.upsert_attendance(conn, self.attendance)
        for org, ids in sorted(self.erased.items()):
            await rm.erase_participants(conn, org, sorted(ids))
        for org, ids in sorted(self.erased_signups.items()):
            await rm.erase_signups(conn, org, sorted(ids))


# By exact class: a dict lookup per event, where isinstance on pydantic models was measurable in a replay.
_SORTERS: dict[type[IntegrationEvent], Callable[[Batch, Any, ZoneInfo], None]] = {
    intake.ParticipantErased: Batch._erased,
    intake.ErasureStatisticsRecorded: Batch._statistics,
    intake.OrganisationConfigured: Batch._organisation,
    ev.SignupErased: Batch._erased_signup,
    ev.AttendanceRecorded: Batch._attendance,
    **dict.fromkeys(PARTICIPANT_STATES, Batch._participant),
    **dict.fromkeys(PAIR_STATES, Batch._pair),
    **dict.fromkeys(OCCURRENCE_STATES, Batch._occurrence),
    **dict.fromkeys(SIGNUP_STATES, Batch._signup),
}
assert set(_SORTERS) == set(CONSUMED), "every consumed event type has its place in a batch"

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
