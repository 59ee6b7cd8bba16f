"""Valid registration bodies for tests, varied by keyword."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from sprakvan_shared.contracts.envelope import IntegrationEvent, Payload


def newcomer(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "role": "newcomer",
        "programme": "sprakvan",
        "first_name": "Amina",
        "last_name": "Haddad",
        "email": "amina.haddad@example.org",
        "phone": "+46 70 123 45 67",
        "gender": "woman",
        "birth_year": 1991,
        "district": "skaggetorp",
        "languages": [{"code": "ar", "level": "native"}, {"code": "en", "level": "conversational"}],
        "swedish_level": "A2",
        "interests": ["fika", "walks", "cooking"],
        "availability": [{"weekday": "tue", "part_of_day": "evening"}, {"weekday": "sat", "part_of_day": "morning"}],
        "wishes": {"same_gender": True, "age_min": 25, "age_max": 60},
        "referral_source": "sfi",
        "consent": {"data_processing": True, "photo": False, "given_at": "2026-11-02T09:30:00Z"},
    }
    body.update(overrides)
    return body


def established(**overrides: Any) -> dict[str, Any]:
    body = newcomer(
        role="established",
        first_name="Karin",
        last_name="Lindqvist",
        email="karin.lindqvist@example.org",
        phone=None,
        birth_year=1962,
        district="innerstaden",
        languages=[{"code": "sv", "level": "native"}],
        capacity=2,
        referral_source="campaign",
        campaign="cake-party-city-hall-2019",
    )
    body.pop("swedish_level")
    body.update(overrides)
    return body


class ProbePayload(Payload):
    probe_id: uuid.UUID


class ProbeHappened(IntegrationEvent[ProbePayload]):
    """An event of no service's, on intake's stream, for tests of the plumbing."""

    PRODUCER: ClassVar[str] = "intake"
    EVENT_TYPE: ClassVar[str] = "probe.happened"


def probe_event(organisation_id: str = "linkoping", version: int = 1, aggregate_id: str | None = None) -> ProbeHappened:
    probe_id = uuid.uuid4()
    return ProbeHappened(
        organisation_id=organisation_id,
        aggregate_id=aggregate_id or str(probe_id),
        version=version,
        payload=ProbePayload(probe_id=probe_id),
    )
