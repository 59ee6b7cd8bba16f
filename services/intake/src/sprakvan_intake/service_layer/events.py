"""Turns a participant's changes into the integration events other services receive."""

from __future__ import annotations

from sprakvan_shared.contracts.intake import (
    ParticipantErased,
    ParticipantErasedPayload,
    ParticipantInterviewed,
    ParticipantInterviewedPayload,
    ParticipantRegistered,
    ParticipantRegisteredPayload,
    ParticipantUpdated,
    ParticipantUpdatedPayload,
    ParticipantWithdrawn,
    ParticipantWithdrawnPayload,
)
from sprakvan_shared.logging import current_correlation_id

from ..domain.model import Participant


def _profile(p: Participant) -> dict[str, object]:
    assert p.details is not None
    d = p.details
    return {
        "participant_id": p.id,
        "role": p.role,
        "gender": d.gender,
        "birth_year": d.birth_year,
        "district": d.district,
        "languages": d.languages,
        "swedish_level": d.swedish_level,
        "interests": d.interests,
        "availability": d.availability,
        "wishes": d.wishes,
        "capacity": d.capacity,
        "referral_source": d.referral_source,
        "campaign": d.campaign,
        "registered_at": p.registered_at,
        "version": p.version,
    }


def _envelope(p: Participant) -> dict[str, object]:
    return {"organisation_id": p.organisation_id, "correlation_id": current_correlation_id()}


# The profile events are built with model_construct: every value comes from a participant the domain
# has already validated, and registration is the hot path. The tests parse each published event back
# with model_validate_json, so a mapping mistake here would fail them.
def registered(p: Participant) -> ParticipantRegistered:
    return ParticipantRegistered.model_construct(
        **_envelope(p), payload=ParticipantRegisteredPayload.model_construct(**_profile(p))
    )


def updated(p: Participant) -> ParticipantUpdated:
    return ParticipantUpdated.model_construct(
        **_envelope(p), payload=ParticipantUpdatedPayload.model_construct(**_profile(p))
    )


def interviewed(p: Participant) -> ParticipantInterviewed:
    assert p.interviewed_on is not None
    return ParticipantInterviewed(
        **_envelope(p),
        payload=ParticipantInterviewedPayload(participant_id=p.id, interviewed_on=p.interviewed_on, version=p.version),
    )


def withdrawn(p: Participant) -> ParticipantWithdrawn:
    assert p.withdrawal_reason is not None and p.withdrawn_at is not None
    return ParticipantWithdrawn(
        **_envelope(p),
        payload=ParticipantWithdrawnPayload(
            participant_id=p.id, reason=p.withdrawal_reason, withdrawn_at=p.withdrawn_at, version=p.version
        ),
    )


def erased(p: Participant) -> ParticipantErased:
    assert p.erased_at is not None
    return ParticipantErased(
        **_envelope(p), payload=ParticipantErasedPayload(participant_id=p.id, erased_at=p.erased_at)
    )
