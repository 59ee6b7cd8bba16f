"""Intake's events as intake publishes them, for matching's tests on real NATS and PostgreSQL: a stand-in
publisher (any registration date, so history can be imported), the service fixture, waits for the pool."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import nats

from sprakvan_shared.contracts.intake import (
    INTAKE_STREAM,
    OrganisationConfiguration,
    OrganisationConfigured,
    ParticipantErased,
    ParticipantErasedPayload,
    ParticipantRegistered,
    ParticipantState,
)
from sprakvan_shared.contracts.matching import MATCHING_STREAM
from sprakvan_shared.contracts.subjects import HEADER_MSG_ID, Namespace
from tests.kit import ORG_A, RunningService, eventually
from tests.streams import stream_messages

# The service's today is Stockholm's (MATCHING_TIMEZONE): between 23:00 and 00:00 UTC it is already tomorrow.
TODAY = datetime.now(ZoneInfo("Europe/Stockholm")).date()
CONFIG = OrganisationConfiguration(
    organisation_id=ORG_A,
    programmes=({"code": "sprakvan", "labels": {"sv": "Språkvän", "en": "Language friend"}},),
    districts=(
        {"code": "skaggetorp", "labels": {"sv": "Skäggetorp", "en": "Skäggetorp"}, "neighbours": ("innerstaden",)},
        {"code": "innerstaden", "labels": {"sv": "Innerstaden", "en": "City centre"}, "neighbours": ("skaggetorp",)},
        {"code": "ryd", "labels": {"sv": "Ryd", "en": "Ryd"}},
    ),
    interests=({"code": "football", "labels": {"sv": "fotboll", "en": "football"}},),
)


class Intake:
    """Publishes intake's events into this test's namespace, as intake would."""

    def __init__(self, nc: nats.NATS, ns: Namespace) -> None:
        self.nc, self.ns, self.versions = nc, ns, {}

    async def publish(self, event: Any) -> None:
        await self.nc.jetstream().publish(
            self.ns.subject(event.subject),
            event.model_dump_json().encode(),
            stream=self.ns.stream(INTAKE_STREAM),
            headers={HEADER_MSG_ID: str(event.event_id)},
        )

    async def configure(self, org: str = ORG_A, config: OrganisationConfiguration = CONFIG) -> None:
        config = config.model_copy(update={"organisation_id": org})
        await self.publish(OrganisationConfigured(organisation_id=org, aggregate_id=org, version=1, payload=config))

    async def person(
        self, role: str, *, org: str = ORG_A, cls: type = ParticipantRegistered, **fields: Any
    ) -> uuid.UUID:
        pid = fields.pop("participant_id", None) or uuid.uuid4()
        self.versions[pid] = self.versions.get(pid, 0) + 1
        state = dict(
            participant_id=pid,
            programme="sprakvan",
            role=role,
            status="interviewed",
            gender="woman",
            birth_year=1985,
            district="skaggetorp",
            languages=[{"code": "ar", "level": "native"}, {"code": "sv", "level": "fluent"}],
            swedish_level="A2" if role == "newcomer" else None,
            interests=["football"],
            availability=[{"weekday": "tue", "part_of_day": "evening"}],
            capacity=2 if role == "established" else None,
            referral_source="sfi",
            registered_at=datetime.now(UTC) - timedelta(days=30),
            interviewed_on=TODAY - timedelta(days=2),
        )
        state.update(fields)
        payload = ParticipantState.model_validate(state)
        await self.publish(cls(organisation_id=org, aggregate_id=str(pid), version=self.versions[pid], payload=payload))
        return pid

    async def erase(self, pid: uuid.UUID, org: str = ORG_A) -> None:
        self.versions[pid] += 1
        payload = ParticipantErasedPayload(participant_id=pid, erased_at=datetime.now(UTC))
        await self.publish(
            ParticipantErased(organisation_id=org, aggregate_id=str(pid), version=self.versions[pid], payload=payload)
        )


async def known(svc: RunningService, *pids: uuid.UUID, status: str | None = None) -> None:
    async def check() -> bool:
        rows = await svc.pool.fetch(
            "SELECT participant_id, status FROM candidates WHERE participant_id = ANY($1)", list(pids)
        )
        return len(rows) == len(pids) and all(status is None or r["status"] == status for r in rows)

    await eventually(check)


async def configured(
    svc: RunningService, intake: Intake, org: str = ORG_A, config: OrganisationConfiguration = CONFIG
) -> None:
    await intake.configure(org, config)
    await eventually(lambda: svc.pool.fetchval("SELECT count(*) FROM organisations WHERE organisation_id = $1", org))


async def pair_events(nc: nats.NATS, ns: Namespace, pair_id: str) -> list[dict]:
    messages = await stream_messages(nc.jetstream(), ns.stream(MATCHING_STREAM))
    return [m.json for m in messages if m.json["aggregate_id"] == pair_id]
