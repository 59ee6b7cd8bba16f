"""Intake and matching together, as deployed: registrations through intake's API reach matching's
candidates, a round pairs them, and an erasure in intake ends the pair in matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sprakvan_intake.service import SERVICE as INTAKE
from sprakvan_matching.service import SERVICE as MATCHING
from tests import factories
from tests.kit import ORG_A, ServiceStarter, eventually, mint_token

pytestmark = pytest.mark.infra


async def test_registered_in_intake_paired_in_matching_and_erasure_ends_the_pair(start_service: ServiceStarter) -> None:
    async with start_service(INTAKE) as intake, start_service(MATCHING) as matching:
        await factories.configure(intake.client, [mint_token(ORG_A, "admin")])
        newcomer = (await intake.client.post("/participants", json=factories.newcomer())).json()["id"]
        volunteer_body = factories.established(birth_year=1980, district="ryd", interests=["fika", "walks"])
        volunteer = (await intake.client.post("/participants", json=volunteer_body)).json()["id"]
        yesterday = str((datetime.now(UTC) - timedelta(days=1)).date())
        for person in (newcomer, volunteer):
            interview = await intake.client.post(f"/participants/{person}/interviews", json={"held_on": yesterday})
            assert interview.status_code == 201, interview.text

        async def interviewed() -> bool:
            rows = await matching.pool.fetch("SELECT interviewed_on FROM candidates")
            return len(rows) == 2 and all(r["interviewed_on"] for r in rows)

        await eventually(interviewed)
        await eventually(lambda: matching.pool.fetchval("SELECT count(*) FROM organisations"))
        round_ = await matching.client.post("/programmes/sprakvan/rounds", json={})
        assert round_.status_code == 201, round_.text
        [proposal] = round_.json()["proposals"]
        assert (proposal["newcomer_id"], proposal["established_id"]) == (newcomer, volunteer)
        assert proposal["explanation"]["sv"].startswith("Båda gillar fika och promenader, grannstadsdelar")
        assert (await matching.client.post(f"/pairs/{proposal['pair_id']}/accept")).status_code == 200

        assert (await intake.client.delete(f"/participants/{newcomer}")).status_code == 204

        async def ended() -> dict | None:
            pair = (await matching.client.get(f"/pairs/{proposal['pair_id']}")).json()
            return pair if pair["status"] == "ended" else None

        pair = await eventually(ended)
        assert pair["end_reason"] == "erased"
        assert await matching.pool.fetchval("SELECT count(*) FROM candidates") == 1


async def test_a_pair_import_names_participants_matching_has_not_heard_of_until_it_has(
    start_service: ServiceStarter,
) -> None:
    """The importer's retry: intake's import returns the ids at once, matching learns of them through NATS."""
    async with start_service(INTAKE) as intake, start_service(MATCHING) as matching:
        await factories.configure(intake.client, [mint_token(ORG_A, "admin")])
        newcomer = (await intake.client.post("/participants", json=factories.newcomer())).json()["id"]
        volunteer = (await intake.client.post("/participants", json=factories.established())).json()["id"]
        today = str(datetime.now(ZoneInfo("Europe/Stockholm")).date())
        row = {"row": 2, "key": "P1", "programme": "sprakvan", "newcomer_id": newcomer, "established_id": volunteer}
        admin = {"Authorization": f"Bearer {mint_token(ORG_A, 'admin')}"}
        answers = []

        async def imported() -> dict | None:
            body = {"rows": [{**row, "matched_on": today}]}
            answer = (await matching.client.post("/imports/pairs", json=body, headers=admin)).json()["results"][0]
            answers.append(answer)
            return answer if answer["outcome"] == "created" else None

        created = await eventually(imported)
        codes = {e["code"] for a in answers[:-1] for e in a["errors"]}
        assert codes <= {"unknown_reference"}
        pair = (await matching.client.get(f"/pairs/{created['id']}")).json()
        assert (pair["newcomer_id"], pair["status"], pair["activated_on"]) == (newcomer, "active", today)
