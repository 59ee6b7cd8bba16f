"""The matching service on real NATS and PostgreSQL: intake's events in, the life of a pair out."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import nats
import pytest

from services.matching.tests.matching_events import TODAY, Intake, configured, known, pair_events
from sprakvan_shared.contracts.intake import (
    ParticipantUpdated,
    ParticipantWithdrawn,
)
from sprakvan_shared.contracts.subjects import Namespace
from tests.kit import ORG_B, RunningService, eventually

pytestmark = pytest.mark.infra


async def test_a_round_proposes_with_reasons_and_a_pair_lives_to_its_end_in_full_state_events(
    matching: RunningService, intake: Intake, nc: nats.NATS, ns: Namespace
) -> None:
    await configured(matching, intake)
    newcomer = await intake.person("newcomer")
    volunteer = await intake.person("established", district="innerstaden")
    await known(matching, newcomer, volunteer)
    client = matching.client

    response = await client.post("/programmes/sprakvan/rounds", json={})
    assert response.status_code == 201, response.text
    round_ = response.json()
    assert round_["waiting"] == 1 and len(round_["proposals"]) == 1
    proposal = round_["proposals"][0]
    assert (proposal["newcomer_id"], proposal["established_id"]) == (str(newcomer), str(volunteer))
    assert proposal["explanation"]["sv"].startswith("Båda talar arabiska, båda gillar fotboll, grannstadsdelar")
    assert proposal["explanation"]["en"].startswith("Both speak Arabic, both like football, neighbouring districts")
    pair_id = proposal["pair_id"]

    accepted = await client.post(f"/pairs/{pair_id}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "formed"
    talk = await client.post(
        f"/pairs/{pair_id}/conversation",
        json={"held_on": str(TODAY), "attended": ["newcomer", "established", "coordinator"]},
    )
    assert talk.status_code == 200 and talk.json()["status"] == "active"
    due = [f["due_on"] for f in talk.json()["follow_ups"]]
    assert due == [str(TODAY + timedelta(days=35)), str(TODAY + timedelta(days=182))]
    followed = await client.post(
        f"/pairs/{pair_id}/follow-ups/done",
        json={"done_on": str(TODAY), "outcome": "going_well", "notes": "Träffas varje tisdag"},
    )
    assert followed.status_code == 200 and followed.json()["follow_ups"][0]["notes"] == "Träffas varje tisdag"
    viewer = matching.as_(role="viewer")  # free text is for those who write it, as in the exports
    for seen in (
        (await client.get(f"/pairs/{pair_id}", headers=viewer)).json(),
        (await client.get("/pairs", headers=viewer)).json()["items"][0],
    ):
        assert seen["follow_ups"][0]["outcome"] == "going_well" and seen["follow_ups"][0]["notes"] is None
        assert seen["notes"] is None
    assert (await client.get(f"/pairs/{pair_id}")).json()["follow_ups"][0]["notes"] == "Träffas varje tisdag"
    ended = await client.post(f"/pairs/{pair_id}/end", json={"reason": "completed"})
    assert ended.status_code == 200 and ended.json()["end_reason"] == "completed"

    async def all_published() -> list[dict]:
        found = await pair_events(nc, ns, pair_id)
        return found if len(found) == 5 else []

    events = sorted(await eventually(all_published), key=lambda e: e["version"])
    assert [e["type"] for e in events] == [
        "pair.proposed",
        "pair.formed",
        "pair.activated",
        "pair.followed_up",
        "pair.ended",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5]
    last = events[-1]["payload"]
    assert last["proposed_at"] and last["formed_at"] and last["activated_on"] == str(TODAY)
    assert last["ended_on"] == str(TODAY) and last["end_reason"] == "completed"
    assert last["follow_ups"][0]["outcome"] == "going_well"
    assert "Träffas" not in str(events)  # notes never leave matching

    # An ended pair is never proposed again.
    again = await client.post("/programmes/sprakvan/rounds", json={})
    assert again.json()["proposals"] == []


async def test_coordinators_accepting_at_once_never_over_assign(matching: RunningService, intake: Intake) -> None:
    await configured(matching, intake)
    newcomers = [await intake.person("newcomer") for _ in range(6)]
    volunteer = await intake.person("established", capacity=3)
    other = await intake.person("established", capacity=3)
    await known(matching, *newcomers, volunteer, other)
    proposals = (await matching.client.post("/programmes/sprakvan/rounds", json={})).json()["proposals"]
    assert len(proposals) == 6
    # Meanwhile each volunteer can take only one newcomer: five of the six accepts must fail.
    for person in (volunteer, other):
        await intake.person("established", participant_id=person, capacity=1, cls=ParticipantUpdated)
    await eventually(
        lambda: matching.pool.fetchval("SELECT bool_and(capacity = 1) FROM candidates WHERE role = 'established'")
    )

    results = await asyncio.gather(
        *(
            matching.client.post(f"/pairs/{p['pair_id']}/accept", headers=matching.as_(sub=f"coordinator-{i}"))
            for i, p in enumerate(proposals)
        )
    )
    assert sorted(r.status_code for r in results) == [200, 200, 409, 409, 409, 409]
    assert {r.json()["detail"]["code"] for r in results if r.status_code == 409} == {"no_free_capacity"}
    per_volunteer = await matching.pool.fetch(
        "SELECT established_id, count(*) AS n FROM pairs WHERE status = 'formed' GROUP BY established_id"
    )
    assert sorted(r["n"] for r in per_volunteer) == [1, 1]


async def test_a_manual_pair_that_breaks_a_hard_constraint_is_refused_naming_it(
    matching: RunningService, intake: Intake
) -> None:
    await configured(matching, intake)
    newcomer = await intake.person(
        "newcomer", availability=[{"weekday": "mon", "part_of_day": "morning"}], wishes={"same_gender": True}
    )
    volunteer = await intake.person("established", gender="man")
    await known(matching, newcomer, volunteer)
    response = await matching.client.post(
        "/programmes/sprakvan/pairs", json={"newcomer_id": str(newcomer), "established_id": str(volunteer)}
    )
    assert response.status_code == 422
    assert {d["type"] for d in response.json()["detail"]} == {
        "constraint.newcomer_same_gender_wish",
        "constraint.no_shared_availability",
    }

    fine = await intake.person("established")
    await known(matching, fine)
    other = await intake.person("newcomer")
    await known(matching, other)
    formed = await matching.client.post(
        "/programmes/sprakvan/pairs", json={"newcomer_id": str(other), "established_id": str(fine)}
    )
    assert formed.status_code == 201 and formed.json()["origin"] == "manual" and formed.json()["status"] == "formed"
    twice = await matching.client.post(
        "/programmes/sprakvan/pairs", json={"newcomer_id": str(other), "established_id": str(fine)}
    )
    assert twice.status_code == 422 and twice.json()["detail"][0]["type"] == "constraint.newcomer_already_paired"


async def test_another_organisation_sees_nothing_and_a_viewer_cannot_write(
    matching: RunningService, intake: Intake
) -> None:
    await configured(matching, intake)
    await configured(matching, intake, ORG_B)
    newcomer, volunteer = await intake.person("newcomer"), await intake.person("established")
    await known(matching, newcomer, volunteer)
    pair_id = (await matching.client.post("/programmes/sprakvan/rounds", json={})).json()["proposals"][0]["pair_id"]

    other = matching.as_(org=ORG_B)
    assert (await matching.client.get(f"/pairs/{pair_id}", headers=other)).status_code == 404
    assert (await matching.client.post(f"/pairs/{pair_id}/accept", headers=other)).status_code == 404
    assert (await matching.client.get("/pairs", headers=other)).json()["items"] == []
    round_b = await matching.client.post("/programmes/sprakvan/rounds", json={}, headers=other)
    assert round_b.status_code == 201 and round_b.json()["proposals"] == []
    manual = await matching.client.post(
        "/programmes/sprakvan/pairs",
        json={"newcomer_id": str(newcomer), "established_id": str(volunteer)},
        headers=other,
    )
    assert manual.status_code == 404

    viewer = matching.as_(role="viewer")
    assert (await matching.client.get(f"/pairs/{pair_id}", headers=viewer)).status_code == 200
    assert (await matching.client.post(f"/pairs/{pair_id}/accept", headers=viewer)).status_code == 403
    assert (await matching.client.post("/programmes/sprakvan/rounds", json={}, headers=viewer)).status_code == 403
    assert (await matching.client.get("/pairs")).json()["items"][0]["pair_id"] == pair_id


async def test_erasure_forgets_the_person_and_ends_their_pairs_and_withdrawal_ends_proposals(
    matching: RunningService, intake: Intake, nc: nats.NATS, ns: Namespace
) -> None:
    await configured(matching, intake)
    erased, leaving = await intake.person("newcomer"), await intake.person("newcomer")
    volunteer = await intake.person("established")
    await known(matching, erased, leaving, volunteer)
    proposals = {
        p["newcomer_id"]: p
        for p in (await matching.client.post("/programmes/sprakvan/rounds", json={})).json()["proposals"]
    }
    formed = proposals[str(erased)]["pair_id"]
    assert (await matching.client.post(f"/pairs/{formed}/accept")).status_code == 200
    await matching.client.post(
        f"/pairs/{formed}/follow-ups/done",
        json={"done_on": str(TODAY), "outcome": "needs_support", "notes": "ring henne"},
    )

    await intake.erase(erased)
    await intake.person(
        "newcomer",
        participant_id=leaving,
        status="withdrawn",
        cls=ParticipantWithdrawn,
        withdrawn_at=datetime.now(UTC),
        withdrawal_reason="moved",
    )

    async def gone() -> bool:
        return not await matching.pool.fetchval("SELECT count(*) FROM candidates WHERE participant_id = $1", erased)

    await eventually(gone)
    pair = (await matching.client.get(f"/pairs/{formed}")).json()
    assert pair["status"] == "ended" and pair["end_reason"] == "erased" and pair["follow_ups"][0]["notes"] == ""
    proposal = proposals[str(leaving)]["pair_id"]
    await eventually(lambda: _status_is(matching, proposal, "ended"))
    assert (await matching.client.get(f"/pairs/{proposal}")).json()["end_reason"] == "withdrawn"

    async def ended_event() -> bool:
        return any(
            e["type"] == "pair.ended" and e["payload"]["end_reason"] == "erased"
            for e in await pair_events(nc, ns, formed)
        )

    await eventually(ended_event)
    waiting = (await matching.client.get("/programmes/sprakvan/waiting")).json()
    assert waiting["total"] == 0


async def _status_is(svc: RunningService, pair_id: str, status: str) -> bool:
    return await svc.pool.fetchval("SELECT status FROM pairs WHERE pair_id = $1", uuid.UUID(pair_id)) == status


async def test_a_meetup_forms_active_pairs_in_one_call_and_rematch_replaces_a_pair(
    matching: RunningService, intake: Intake
) -> None:
    await configured(matching, intake)
    a, b = await intake.person("newcomer"), await intake.person("newcomer")
    v, w = await intake.person("established", capacity=1), await intake.person("established", capacity=2)
    await known(matching, a, b, v, w)
    held = TODAY - timedelta(days=1)
    response = await matching.client.post(
        "/programmes/sprakvan/meetups",
        json={
            "held_on": str(held),
            "pairs": [
                {"newcomer_id": str(a), "established_id": str(v)},
                {"newcomer_id": str(b), "established_id": str(w)},
            ],
        },
    )
    assert response.status_code == 201, response.text
    pairs = response.json()
    assert [(p["origin"], p["status"], p["activated_on"]) for p in pairs] == [("group_meetup", "active", str(held))] * 2
    assert pairs[0]["meetup_id"] == pairs[1]["meetup_id"]
    extra = str(held + timedelta(days=10))
    scheduled = await matching.client.post(f"/pairs/{pairs[1]['pair_id']}/follow-ups", json={"due_on": extra})
    assert scheduled.status_code == 200 and extra in [f["due_on"] for f in scheduled.json()["follow_ups"]]
    future = await matching.client.post(
        f"/pairs/{pairs[1]['pair_id']}/follow-ups/done",
        json={"done_on": str(TODAY + timedelta(days=3)), "outcome": "going_well"},
    )
    assert future.status_code == 422 and future.json()["detail"][0]["loc"] == ["body", "done_on"]

    full = await matching.client.post(
        "/programmes/sprakvan/meetups",
        json={"held_on": str(held), "pairs": [{"newcomer_id": str(b), "established_id": str(v)}]},
    )
    assert full.status_code == 422 and full.json()["detail"][0]["loc"] == ["body", "pairs", 0]

    rematched = await matching.client.post(
        f"/pairs/{pairs[0]['pair_id']}/rematch", json={"reason": "did_not_click", "established_id": str(w)}
    )
    assert rematched.status_code == 200, rematched.text
    body = rematched.json()
    assert body["ended"]["end_reason"] == "did_not_click"
    assert body["new_pair"]["rematch_of"] == pairs[0]["pair_id"] and body["new_pair"]["established_id"] == str(w)


async def test_the_waiting_list_shows_where_volunteers_are_missing(matching: RunningService, intake: Intake) -> None:
    # No organisation.configured yet: the programmes are those of the participants matching knows.
    waiting = [await intake.person("newcomer", district="skaggetorp") for _ in range(3)]
    volunteer = await intake.person("established", district="skaggetorp", capacity=1)
    elsewhere = await intake.person("established", district="ryd", capacity=3)
    await known(matching, *waiting, volunteer, elsewhere)
    result = (await matching.client.get("/programmes/sprakvan/waiting")).json()
    assert result["total"] == 3 and result["by_district"] == {"skaggetorp": 3}
    assert result["balance"][0] == {
        "district": "skaggetorp",
        "newcomers_waiting": 3,
        "free_places": 1,
        "newcomers_per_place": 3.0,
        "shortfall": 2,
    }
    assert {
        "district": "ryd",
        "newcomers_waiting": 0,
        "free_places": 3,
        "newcomers_per_place": 0.0,
        "shortfall": 0,
    } in result["balance"]
    shortest = await matching.client.get("/programmes/sprakvan/waiting", params={"limit": 1})
    assert shortest.json()["total"] == 3 and len(shortest.json()["waiting"]) == 1


async def test_settings_are_the_admins_and_hostile_input_gets_a_4xx(matching: RunningService, intake: Intake) -> None:
    await configured(matching, intake)
    assert (await matching.client.get("/programmes/sprakvan/settings")).json()["eligibility"] == "interviewed"
    change = {"eligibility": "all", "weights": {"languages": 10, "district": 40}, "follow_up_days": [30]}
    assert (await matching.client.put("/programmes/sprakvan/settings", json=change)).status_code == 403
    admin = matching.as_(role="admin")
    saved = await matching.client.put("/programmes/sprakvan/settings", json=change, headers=admin)
    assert saved.status_code == 200 and saved.json()["weights"]["district"] == 40
    assert (await matching.client.get("/programmes/sprakvan/settings")).json()["follow_up_days"] == [30]
    bad = await matching.client.put(
        "/programmes/sprakvan/settings", json={"weights": {"languages": 1000}}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "languages"

    # Saved settings are replaced at the version read (If-Match): two admins never overwrite each other.
    settings = "/programmes/sprakvan/settings"
    assert saved.headers["etag"] == '"1"' == (await matching.client.get(settings)).headers["etag"]
    assert (await matching.client.put(settings, json={"follow_up_days": [7]}, headers=admin)).status_code == 428
    mine = await matching.client.put(settings, json={"follow_up_days": [7]}, headers={**admin, "If-Match": '"1"'})
    assert mine.status_code == 200 and mine.headers["etag"] == '"2"'
    theirs = await matching.client.put(settings, json={"follow_up_days": [9]}, headers={**admin, "If-Match": '"1"'})
    assert theirs.status_code == 412 and theirs.headers["etag"] == '"2"'
    # The defaults as read before anyone saved (ETag "0") are as stale as any other version (0 is not "none").
    defaults = await matching.client.put(settings, json={"follow_up_days": [9]}, headers={**admin, "If-Match": '"0"'})
    assert defaults.status_code == 412 and defaults.headers["etag"] == '"2"'
    now = await matching.client.get(settings)
    assert now.json()["follow_up_days"] == [7] and now.json()["eligibility"] == "interviewed"  # the PUT is whole
    assert now.headers["etag"] == '"2"'
    operation = (await matching.client.get("/openapi.json")).json()["paths"]["/programmes/{programme}/settings"]
    assert {"412", "428"} <= set(operation["put"]["responses"])
    assert "If-Match" in {p["name"] for p in operation["put"]["parameters"]}

    assert (await matching.client.get("/programmes/nope/settings")).status_code == 404
    assert (await matching.client.get("/programmes/NOT%20A%20CODE/waiting")).status_code == 422
    assert (await matching.client.get("/pairs/not-a-uuid")).status_code == 422
    assert (await matching.client.post("/pairs/00000000-0000-0000-0000-000000000000/accept")).status_code == 404
    wrong = await matching.client.post("/programmes/sprakvan/rounds", json={"locks": [{"newcomer_id": "x"}]})
    assert wrong.status_code == 422
    assert (
        await matching.client.post("/pairs/00000000-0000-0000-0000-000000000000/end", json={"reason": "erased"})
    ).status_code == 422


async def test_rejected_and_forbidden_pairs_stay_out_and_a_lock_goes_in(
    matching: RunningService, intake: Intake
) -> None:
    await configured(matching, intake)
    newcomer = await intake.person("newcomer", district="innerstaden")
    near, far = (
        await intake.person("established", district="innerstaden"),
        await intake.person("established", district="ryd"),
    )
    await known(matching, newcomer, near, far)
    rounds = "/programmes/sprakvan/rounds"

    first = (await matching.client.post(rounds, json={})).json()["proposals"][0]
    assert first["established_id"] == str(near)  # same district beats another one
    rejected = await matching.client.post(f"/pairs/{first['pair_id']}/reject", json={"reason": "newcomer_declined"})
    assert rejected.json()["end_reason"] == "rejected" and rejected.json()["rejection_reason"] == "newcomer_declined"
    second = (await matching.client.post(rounds, json={})).json()["proposals"]
    assert [p["established_id"] for p in second] == [str(far)]

    forbid = {"newcomer_id": str(newcomer), "established_id": str(far)}
    assert (await matching.client.post("/programmes/sprakvan/forbidden", json=forbid)).status_code == 204
    third = (await matching.client.post(rounds, json={})).json()
    assert third["proposals"] == [] and third["superseded"] == 1
    replaced = (await matching.client.get(f"/pairs/{second[0]['pair_id']}")).json()
    assert replaced["end_reason"] == "superseded" and replaced["status"] == "ended"
    assert replaced["version"] == second[0]["version"] + 1 and replaced["ended_on"] == str(TODAY)
    # Only its end changed (the round saves just that): its score and reasons are the proposal's.
    assert (replaced["score"], replaced["explanation"]) == (second[0]["score"], second[0]["explanation"])
    locked = await matching.client.post(rounds, json={"locks": [forbid]})
    assert locked.status_code == 422 and locked.json()["detail"][0] == {
        "loc": ["body", "locks", 0],
        "msg": "a coordinator forbade this pair",
        "type": "constraint.forbidden",
    }
    allowed = await matching.client.delete(f"/programmes/sprakvan/forbidden/{newcomer}/{far}")
    assert allowed.status_code == 204
    fourth = (await matching.client.post(rounds, json={"locks": [forbid]})).json()["proposals"]
    assert [p["established_id"] for p in fourth] == [str(far)]


async def test_accepting_a_proposal_whose_newcomer_was_paired_by_someone_else_is_a_409(
    matching: RunningService, intake: Intake
) -> None:
    await configured(matching, intake)
    newcomer = await intake.person("newcomer")
    proposed_to, other = await intake.person("established"), await intake.person("established", district="ryd")
    await known(matching, newcomer, proposed_to, other)
    proposal = (await matching.client.post("/programmes/sprakvan/rounds", json={})).json()["proposals"][0]
    assert proposal["established_id"] == str(proposed_to)
    by_hand = {"newcomer_id": str(newcomer), "established_id": str(other)}
    assert (await matching.client.post("/programmes/sprakvan/pairs", json=by_hand)).status_code == 201
    late = await matching.client.post(f"/pairs/{proposal['pair_id']}/accept")
    assert late.status_code == 409
    assert (await matching.client.get(f"/pairs/{proposal['pair_id']}")).json()["end_reason"] == "superseded"
