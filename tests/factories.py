"""Valid registration bodies for tests, varied by keyword."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, ClassVar

import httpx

from sprakvan_shared.contracts.envelope import IntegrationEvent, Payload

# A partnership as reporting's API takes it, and matching's programme as its consumer stores it from intake's
# events: what a test of several services' POSTs needs first.
PARTNERSHIP = {
    "title": "Vi ses! Språkvänner i Linköping",
    "valid_from": "2019-01-01",
    "valid_to": "2021-12-31",
    "partners": [{"name": "Linköpings kommun", "yearly_contribution_sek": 600000}],
}
MATCHING_PROGRAMME = """INSERT INTO organisations (organisation_id, programmes, districts, interests, updated_at)
    VALUES ('linkoping', '[{"code": "sprakvan", "kind": "sprakvan", "labels": {"sv": "S", "en": "S"}}]', '[]', '[]',
            now())"""


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


# A row of an import file's participants sheet (``sprakvan_importer``), in the Swedish headers below.
PARTICIPANT_HEADERS = ["nyckel", "roll", "program", "förnamn", "efternamn", "e-post", "kön", "födelseår", "stadsdel",
                       "språk", "svenskanivå", "intressen", "tider", "antal nyanlända", "registrerad"]  # fmt: skip


def participant_row(key: str, role: str, gender: str, born: int, district: str, registered: str) -> list[Any]:
    """``role`` nyanländ/etablerad, ``gender`` kvinna/man/..., ``registered`` ``YYYY-MM-DD`` (or with a time)."""
    newcomer = role == "nyanländ"
    return [key, role, "Språkvän", "Person", key.upper(), f"{key}@example.org", gender, born, district,
            "ar:modersmål" if newcomer else "sv:modersmål", "A2" if newcomer else None, "Fika, promenader",
            "tisdag:kväll", None if newcomer else 1, registered]  # fmt: skip


def _entry(code: str, sv: str, en: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "labels": {"sv": sv, "en": en}, **extra}


def configuration(**overrides: Any) -> dict[str, Any]:
    """A ``PUT /configuration`` body with every code the bodies above use (and a few more)."""
    body: dict[str, Any] = {
        "programmes": [_entry("sprakvan", "Språkvän", "Language friends", kind="sprakvan")],
        "districts": [
            _entry("skaggetorp", "Skäggetorp", "Skäggetorp", neighbours=["ryd"]),
            _entry("ryd", "Ryd", "Ryd", neighbours=["skaggetorp"]),
            _entry("berga", "Berga", "Berga", neighbours=["innerstaden", "ekholmen"]),
            _entry("innerstaden", "Innerstaden", "City centre"),
            _entry("ekholmen", "Ekholmen", "Ekholmen"),
        ],
        "interests": [
            _entry("fika", "Fika", "Coffee and cake"),
            _entry("walks", "Promenader", "Walks"),
            _entry("cooking", "Matlagning", "Cooking"),
            _entry("chess", "Schack", "Chess"),
        ],
        "campaigns": [_entry("cake-party-city-hall-2019", "Tårtkalas i stadshuset 2019", "Cake party 2019")],
        "referral_sources": [
            _entry("sfi", "SFI", "SFI"),
            _entry("campaign", "Kampanj", "Campaign"),
            _entry("self", "Eget initiativ", "Own initiative"),
        ],
    }
    body.update(overrides)
    return body


async def configure(client: httpx.AsyncClient, admin_tokens: Iterable[str], body: dict[str, Any] | None = None) -> None:
    """Give each admin token's organisation ``body`` (default ``configuration()``), whatever it had."""
    for token in admin_tokens:
        auth = {"Authorization": f"Bearer {token}"}
        current = await client.get("/configuration", headers=auth)
        if current.status_code == 200:
            auth["If-Match"] = current.headers["etag"]
        response = await client.put("/configuration", json=body or configuration(), headers=auth)
        assert response.status_code in (200, 201), response.text


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


class ProbeErased(IntegrationEvent[ProbePayload]):
    """A tombstone of no service's, on intake's stream: the relay purges the probe's earlier messages."""

    PRODUCER: ClassVar[str] = "intake"
    EVENT_TYPE: ClassVar[str] = "probe.erased"
    TOMBSTONE: ClassVar[bool] = True
