"""``/configuration`` on real NATS and PostgreSQL: admins write it, everyone of the organisation reads it,
``organisation.configured`` carries all of it, and registrations must use its codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import nats

from sprakvan_shared.auth import Role
from sprakvan_shared.contracts.intake import OrganisationConfigured, ReferralSource
from sprakvan_shared.contracts.subjects import INTAKE_STREAM, Namespace

from .conftest import ORG_A, ORG_B, eventually
from .factories import configuration, established, newcomer
from .streams import stream_messages

Mint = Callable[..., str]

ANY = {"If-Match": "*"}  # PATCH needs one (412 on a stale version, 428 without)


def as_(mint: Mint, org: str = ORG_A, role: Role = Role.ADMIN, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(org, role)}", **{k.replace("_", "-"): v for k, v in headers.items()}}


def locations(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


def lambohov_added() -> dict[str, Any]:
    body = configuration()
    body["districts"].append(
        {"code": "lambohov", "labels": {"sv": "Lambohov", "en": "Lambohov"}, "neighbours": ["ryd", "ekholmen"]}
    )
    return body


async def test_an_admins_change_is_versioned_and_published_in_full(
    intake: httpx.AsyncClient, mint: Mint, nc: nats.NATS, ns: Namespace
) -> None:
    before = await intake.get("/configuration")  # configured by the fixture, read by a coordinator
    assert before.status_code == 200 and before.headers["etag"] == '"1"' and before.json()["version"] == 1

    response = await intake.put("/configuration", json=lambohov_added(), headers=as_(mint, If_Match='"1"'))
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    stored = response.json()
    assert stored["version"] == 2 and stored["organisation_id"] == ORG_A
    neighbours = {d["code"]: d["neighbours"] for d in stored["districts"]}
    assert neighbours["ryd"] == ["skaggetorp", "lambohov"]  # made symmetric
    assert neighbours["ekholmen"] == ["berga", "lambohov"]
    assert (await intake.get("/configuration", headers=as_(mint, role=Role.VIEWER))).json() == stored

    subject = ns.subject(f"intake.organisation.{ORG_A}.configured")

    async def version_2() -> list | None:
        found = await stream_messages(nc.jetstream(), ns.stream(INTAKE_STREAM), subject)
        return found if found and found[-1].json["version"] == 2 else None

    (message,) = await eventually(version_2)  # the stream keeps the latest per organisation
    event = OrganisationConfigured.model_validate_json(message.data)
    assert event.aggregate_id == ORG_A and event.organisation_id == ORG_A
    assert {**event.payload.model_dump(mode="json"), "version": 2} == stored

    # The same configuration again changes nothing: no new version, no event.
    again = await intake.put("/configuration", json=lambohov_added(), headers=as_(mint, If_Match='"2"'))
    assert again.status_code == 200 and again.json()["version"] == 2


async def test_only_an_admin_may_write_and_only_with_the_current_version(intake: httpx.AsyncClient, mint: Mint) -> None:
    for role in (Role.VIEWER, Role.COORDINATOR):
        refused = await intake.put("/configuration", json=lambohov_added(), headers=as_(mint, role=role, If_Match="1"))
        assert refused.status_code == 403
    missing = await intake.put("/configuration", json=lambohov_added(), headers=as_(mint))
    assert missing.status_code == 428 and missing.json()["current_version"] == 1
    stale = await intake.put("/configuration", json=lambohov_added(), headers=as_(mint, If_Match='"7"'))
    assert stale.status_code == 412 and stale.json()["current_version"] == 1
    garbled = await intake.put("/configuration", json=lambohov_added(), headers=as_(mint, If_Match="yesterday"))
    assert locations(garbled) == [["header", "If-Match"]]
    assert (await intake.get("/configuration")).json()["version"] == 1
    weak = await intake.put("/configuration", json=lambohov_added(), headers=as_(mint, If_Match='W/"1"'))
    assert weak.status_code == 200 and weak.json()["version"] == 2
    anything = await intake.put("/configuration", json=configuration(), headers=as_(mint, If_Match="*"))
    assert anything.status_code == 200 and anything.json()["version"] == 3


async def test_an_organisation_sees_and_changes_only_its_own_configuration(
    intake: httpx.AsyncClient, mint: Mint
) -> None:
    changed = await intake.put("/configuration", json=lambohov_added(), headers=as_(mint, ORG_B, If_Match="1"))
    assert changed.status_code == 200 and changed.json()["organisation_id"] == ORG_B
    mine = (await intake.get("/configuration")).json()
    assert mine["organisation_id"] == ORG_A and mine["version"] == 1
    assert "lambohov" not in {d["code"] for d in mine["districts"]}
    unconfigured = await intake.get("/configuration", headers=as_(mint, "motala", Role.VIEWER))
    assert unconfigured.status_code == 404


async def test_the_first_configuration_needs_no_if_match_and_defaults_the_referral_sources(
    intake: httpx.AsyncClient, mint: Mint
) -> None:
    body = configuration()
    del body["referral_sources"]
    created = await intake.put("/configuration", json=body, headers=as_(mint, "motala"))
    assert created.status_code == 201 and created.headers["etag"] == '"1"'
    assert [s["code"] for s in created.json()["referral_sources"]] == [s.value for s in ReferralSource]
    # A second "first" one (a concurrent or repeated create) must say which version it replaces.
    assert (await intake.put("/configuration", json=body, headers=as_(mint, "motala"))).status_code == 428


async def test_bad_configurations_are_a_422_naming_the_field(intake: httpx.AsyncClient, mint: Mint) -> None:
    headers = as_(mint, If_Match="1")
    body = configuration()
    body["districts"][0]["neighbours"] = ["ryd", "norrkoping"]
    body["interests"].append({"code": "fika", "labels": {"sv": "Fika igen", "en": "Fika again"}})
    body["programmes"] = []
    assert locations(await intake.put("/configuration", json=body, headers=headers)) == [
        ["body", "programmes"],
        ["body", "interests", 4, "code"],
        ["body", "districts", 0, "neighbours", 1],
    ]
    body = configuration()
    del body["campaigns"][0]["labels"]["en"]
    body["districts"][1]["code"] = "Ryd Centrum"
    assert sorted(locations(await intake.put("/configuration", json=body, headers=headers))) == [
        ["body", "campaigns", 0, "labels", "en"],
        ["body", "districts", 1, "code"],
    ]
    assert (await intake.get("/configuration")).json()["version"] == 1


async def test_codes_participants_use_cannot_be_removed(intake: httpx.AsyncClient, mint: Mint) -> None:
    assert (await intake.post("/participants", json=newcomer())).status_code == 201
    erased = (await intake.post("/participants", json=established())).json()["id"]
    assert (await intake.delete(f"/participants/{erased}")).status_code == 204  # counted in the statistics
    body = configuration()
    body["districts"] = [d for d in body["districts"] if d["code"] not in ("skaggetorp", "innerstaden")]
    for district in body["districts"]:
        district["neighbours"] = []
    body["interests"] = [i for i in body["interests"] if i["code"] != "cooking"]
    refused = await intake.put("/configuration", json=body, headers=as_(mint, If_Match="1"))
    assert refused.status_code == 409, refused.text
    assert refused.json()["codes_in_use"] == {"districts": ["innerstaden", "skaggetorp"], "interests": ["cooking"]}
    # A code nobody uses goes.
    body = configuration()
    body["interests"] = [i for i in body["interests"] if i["code"] != "chess"]
    assert (await intake.put("/configuration", json=body, headers=as_(mint, If_Match="1"))).status_code == 200


async def test_registrations_and_changes_use_the_organisations_codes(intake: httpx.AsyncClient, mint: Mint) -> None:
    unknown = newcomer(
        programme="flyktingguide",
        district="lambohov",
        interests=["fika", "walks", "golf"],
        referral_source="radio",
        campaign="spring-2031",
        birth_year=1850,
    )
    assert locations(await intake.post("/participants", json=unknown)) == [
        ["body", "programme"],
        ["body", "district"],
        ["body", "interests", 2],
        ["body", "campaign"],
        ["body", "referral_source"],
        ["body", "birth_year"],
    ]
    pid = (await intake.post("/participants", json=newcomer())).json()["id"]
    patch = await intake.patch(
        f"/participants/{pid}", json={"district": "lambohov", "interests": ["chess", "golf"]}, headers=ANY
    )
    assert locations(patch) == [["body", "district"], ["body", "interests", 1]]
    await intake.put("/configuration", json=lambohov_added(), headers=as_(mint, If_Match="1"))
    moved = await intake.patch(f"/participants/{pid}", json={"district": "lambohov"}, headers=ANY)
    assert moved.status_code == 200 and moved.json()["district"] == "lambohov"

    # Another organisation's configuration does not count.
    other = as_(mint, "motala", Role.COORDINATOR)
    refused = await intake.post("/participants", json=newcomer(), headers=other)
    assert locations(refused) == [["body", "programme"]]
    assert "admin" in refused.json()["detail"][0]["msg"]


async def test_a_code_another_replica_just_added_is_accepted_at_once(
    start_intake, database_url: str, nats_url: str, mint: Mint
) -> None:  # noqa: ANN001
    async with (
        start_intake(database_url, nats_url) as (_, one),
        start_intake(database_url, nats_url) as (_, other),
    ):
        assert (await one.post("/participants", json=newcomer())).status_code == 201  # one has read it
        added = await other.put("/configuration", json=lambohov_added(), headers=as_(mint, If_Match="1"))
        assert added.status_code == 200
        registered = await one.post("/participants", json=newcomer(district="lambohov"))
        assert registered.status_code == 201, registered.text
