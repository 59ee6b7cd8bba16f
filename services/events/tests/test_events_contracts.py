"""The events service's contracts: subjects carry the aggregate id, payloads round-trip, no free text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sprakvan_shared.contracts import events as contracts

NOW = datetime(2026, 12, 1, 18, tzinfo=UTC)


def occurrence_state() -> contracts.OccurrenceState:
    return contracts.OccurrenceState(
        occurrence_id=uuid.uuid4(),
        activity_id=uuid.uuid4(),
        kind=contracts.ActivityKind.SERIES,
        type_code="language_cafe",
        district="skaggetorp",
        starts_at=NOW,
        ends_at=NOW,
        capacity=0,
        status=contracts.OccurrenceStatus.SCHEDULED,
        scheduled_at=NOW,
        changed_at=NOW,
    )


def test_subject_is_service_aggregate_id_action_and_the_payload_round_trips() -> None:
    state = occurrence_state()
    event = contracts.ActivityScheduled(
        organisation_id="linkoping", aggregate_id=str(state.occurrence_id), version=1, payload=state
    )
    assert event.subject == f"events.activity.{state.occurrence_id}.scheduled"
    again = contracts.ActivityScheduled.model_validate_json(event.model_dump_json())
    assert again == event
    assert contracts.SignupErased.TOMBSTONE and contracts.SignupErased.subject_filter() == "events.signup.*.erased"


def test_payloads_hold_no_free_text_fields() -> None:
    free_text = {"title", "description", "notes", "name", "address", "accessibility", "first_name", "email"}
    for event_type in contracts.EVENTS_EVENTS:
        payload_type = event_type.model_fields["payload"].annotation
        assert not free_text & set(payload_type.model_fields), event_type.EVENT_TYPE
    assert {e.EVENT_TYPE for e in contracts.EVENTS_EVENTS} >= {
        "activity.scheduled",
        "activity.changed",
        "activity.cancelled",
        "signup.confirmed",
        "signup.waitlisted",
        "signup.promoted",
        "signup.cancelled",
        "attendance.recorded",
    }


def test_the_openapi_document_builds_and_names_every_area() -> None:
    from sprakvan_events.service import SERVICE
    from tests.kit import PUBLIC_KEY  # a service without a token key does not start, not even for its docs

    paths = SERVICE.create_app(SERVICE.settings(JWT_PUBLIC_KEY=PUBLIC_KEY)).openapi()["paths"]
    for path in ("/venues", "/series", "/occurrences/{occurrence_id}/signups", "/feeds/{token}.ics"):
        assert path in paths
    assert "security" not in paths["/feeds/{token}.ics"]["get"]  # a phone calendar sends no bearer token
    assert paths["/occurrences/{occurrence_id}/signups"]["post"]["security"]
