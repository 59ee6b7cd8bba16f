"""Turns a participant's changes into the integration events other services receive: each carries the
participant's full state (codes and dates, no identity), so the latest event is all a consumer needs."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sprakvan_shared.contracts.envelope import IntegrationEvent
from sprakvan_shared.contracts.intake import (
    AnonymousParticipantRecord,
    ErasureStatisticsPayload,
    ErasureStatisticsRecorded,
    ParticipantErased,
    ParticipantErasedPayload,
    ParticipantInterviewed,
    ParticipantRegistered,
    ParticipantState,
    ParticipantUpdated,
    ParticipantWithdrawn,
)
from sprakvan_shared.logging import current_correlation_id

from ..domain.model import Participant


def state(p: Participant) -> ParticipantState:
    assert p.details is not None
    d = p.details
    # Validated, though every value comes from a participant the domain has validated: pydantic's check in
    # Rust (nested models passed through as they are) costs half of model_construct's loop in Python.
    return ParticipantState(
        participant_id=p.id,
        programme=d.programme,
        role=p.role,
        status=p.status,
        gender=d.gender,
        birth_year=d.birth_year,
        district=d.district,
        languages=d.languages,
        swedish_level=d.swedish_level,
        interests=d.interests,
        availability=d.availability,
        wishes=d.wishes,
        capacity=d.capacity,
        referral_source=d.referral_source,
        campaign=d.campaign,
        registered_at=p.registered_at,
        interviewed_on=p.interviewed_on,
        withdrawn_at=p.withdrawn_at,
        withdrawal_reason=p.withdrawal_reason,
    )


def _announce(cls: type[IntegrationEvent], p: Participant) -> IntegrationEvent:
    return cls(
        organisation_id=p.organisation_id,
        correlation_id=current_correlation_id(),
        aggregate_id=str(p.id),
        version=p.version,
        payload=state(p),
    )


def registered(p: Participant) -> ParticipantRegistered:
    return _announce(ParticipantRegistered, p)


def updated(p: Participant) -> ParticipantUpdated:
    return _announce(ParticipantUpdated, p)


def interviewed(p: Participant) -> ParticipantInterviewed:
    return _announce(ParticipantInterviewed, p)


def withdrawn(p: Participant) -> ParticipantWithdrawn:
    return _announce(ParticipantWithdrawn, p)


def erased(p: Participant) -> ParticipantErased:
    assert p.erased_at is not None
    return ParticipantErased(
        organisation_id=p.organisation_id,
        correlation_id=current_correlation_id(),
        aggregate_id=str(p.id),
        version=p.version,
        payload=ParticipantErasedPayload(participant_id=p.id, erased_at=p.erased_at),
    )


def anonymous_record(before_erasure: Participant, erased_at: datetime, zone: ZoneInfo) -> AnonymousParticipantRecord:
    """What the statistics keep of a participant about to be erased: codes and local days, no id."""
    d = before_erasure.details
    assert d is not None

    def day(moment: datetime | None) -> date | None:
        return moment.astimezone(zone).date() if moment else None

    return AnonymousParticipantRecord(
        programme=d.programme,
        role=before_erasure.role,
        gender=d.gender,
        birth_year=d.birth_year,
        district=d.district,
        referral_source=d.referral_source,
        campaign=d.campaign,
        registered_on=day(before_erasure.registered_at),
        interviewed_on=before_erasure.interviewed_on,
        withdrawn_on=day(before_erasure.withdrawn_at),
        erased_on=day(erased_at),
    )


def erasure_statistics(
    organisation_id: str, year: int, records: list[AnonymousParticipantRecord], version: int
) -> ErasureStatisticsRecorded:
    # Sorted by value, so the order tells nothing about who was erased when.
    ordered = tuple(sorted(records, key=lambda r: r.model_dump_json()))
    return ErasureStatisticsRecorded(
        organisation_id=organisation_id,
        correlation_id=current_correlation_id(),
        aggregate_id=f"{organisation_id}-{year}",
        version=version,
        payload=ErasureStatisticsPayload(organisation_id=organisation_id, year=year, records=ordered),
    )
