"""Shared plumbing that needs no server: envelopes, retry policy, tokens, log redaction."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sprakvan_shared.auth import HS256Verifier, InvalidToken, Role
from sprakvan_shared.consumer import RetryPolicy
from sprakvan_shared.contracts.intake import INTAKE_EVENTS, ParticipantErased, ParticipantErasedPayload
from sprakvan_shared.contracts.subjects import INTAKE_STREAM, stream_of_subject
from sprakvan_shared.logging import drop_personal_data

SECRET = "unit-secret-0123456789-0123456789-xyz"


def test_envelope_is_filled_from_the_event_class_and_round_trips() -> None:
    pid = uuid.uuid4()
    event = ParticipantErased(
        organisation_id="linkoping",
        aggregate_id=str(pid),
        version=3,
        payload=ParticipantErasedPayload(participant_id=pid, erased_at=datetime.now(UTC)),
    )
    assert (event.type, event.schema_version) == ("participant.erased", 1)
    assert event.subject == f"intake.participant.{pid}.erased"
    assert ParticipantErased.aggregate_subjects(str(pid)) == f"intake.participant.{pid}.*"
    assert ParticipantErased.model_validate_json(event.model_dump_json()) == event


def test_consumers_ignore_fields_added_by_a_newer_producer() -> None:
    body = {
        "event_id": str(uuid.uuid4()),
        "type": "participant.erased",
        "occurred_at": "2026-11-25T10:00:00Z",
        "organisation_id": "linkoping",
        "schema_version": 2,
        "correlation_id": None,
        "aggregate_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "version": 4,
        "new_envelope_field": 1,
        "payload": {"participant_id": str(uuid.uuid4()), "erased_at": "2026-11-25T10:00:00Z", "reason": "gdpr"},
    }
    event = ParticipantErased.model_validate_json(json.dumps(body))
    assert event.schema_version == 2


def test_every_intake_subject_is_captured_by_the_intake_stream() -> None:
    (pattern,) = INTAKE_STREAM.subjects
    assert all(cls.subject_filter().startswith(pattern.removesuffix(">")) for cls in INTAKE_EVENTS)
    assert len({cls.subject_filter() for cls in INTAKE_EVENTS}) == len(INTAKE_EVENTS)
    assert all(stream_of_subject(cls.subject_filter()) == INTAKE_STREAM for cls in INTAKE_EVENTS)


def test_an_organisation_id_must_be_a_slug() -> None:
    with pytest.raises(ValueError, match="organisation_id"):
        ParticipantErased(
            organisation_id="Linköping kommun",
            aggregate_id="x",
            version=1,
            payload=ParticipantErasedPayload(participant_id=uuid.uuid4(), erased_at=datetime.now(UTC)),
        )


def test_an_aggregate_id_is_one_subject_token() -> None:
    for bad in ("a.b", "a b", "*", ">", ""):
        with pytest.raises(ValueError, match="aggregate_id"):
            ParticipantErased(
                organisation_id="linkoping",
                aggregate_id=bad,
                version=1,
                payload=ParticipantErasedPayload(participant_id=uuid.uuid4(), erased_at=datetime.now(UTC)),
            )


def test_retry_delays_grow_then_stay_at_the_last_step() -> None:
    policy = RetryPolicy(max_deliveries=6, backoff=(1.0, 5.0, 30.0))
    assert [policy.delay_after(n) for n in range(1, 6)] == [1.0, 5.0, 30.0, 30.0, 30.0]


def test_tokens_carry_organisation_and_role_and_expire() -> None:
    verifier = HS256Verifier(SECRET, leeway=timedelta(0))
    principal = verifier.verify(verifier.mint(subject="anna", organisation_id="orsa", role=Role.VIEWER))
    assert (principal.subject, principal.organisation_id, principal.role) == ("anna", "orsa", Role.VIEWER)
    expired = verifier.mint(subject="anna", organisation_id="orsa", role=Role.VIEWER, ttl=timedelta(seconds=-1))
    with pytest.raises(InvalidToken):
        verifier.verify(expired)
    with pytest.raises(InvalidToken):
        HS256Verifier(SECRET.upper()).verify(verifier.mint(subject="a", organisation_id="orsa", role=Role.ADMIN))
    with pytest.raises(ValueError, match="32"):
        HS256Verifier("short")


def test_logs_never_carry_names_or_contacts() -> None:
    line = drop_personal_data(
        None, "info", {"event": "x", "participant_id": "p1", "email": "a@b.se", "first_name": "A"}
    )
    assert line == {"event": "x", "participant_id": "p1", "email": "[redacted]", "first_name": "[redacted]"}


def test_a_token_verified_once_still_expires_on_time() -> None:
    import time

    verifier = HS256Verifier(SECRET, leeway=timedelta(0))
    token = verifier.mint(subject="anna", organisation_id="orsa", role=Role.COORDINATOR, ttl=timedelta(seconds=1))
    assert verifier.verify(token).subject == "anna"
    assert verifier.verify(token).subject == "anna"  # from the cache
    time.sleep(1.1)
    with pytest.raises(InvalidToken):
        verifier.verify(token)
