"""Per-programme settings over the API change the next round and the follow-ups; programmes stay apart;
erasing a volunteer ends all their proposals and pairs. On real NATS and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import nats
import pytest

from services.matching.tests.matching_events import CONFIG, TODAY, Intake, configured, known, pair_events
from sprakvan_shared.contracts.intake import Label, Programme
from sprakvan_shared.contracts.subjects import Namespace
from tests.kit import RunningService, eventually

pytestmark = pytest.mark.infra

ROUNDS = "/programmes/sprakvan/rounds"
TWO_PROGRAMMES = CONFIG.model_copy(
    update={
        "programmes": (
            *CONFIG.programmes,
            Programme(code="flyktingguide", kind="flyktingguide", labels=Label(sv="Flyktingguide", en="Guide")),
        )
    }
)


def _criteria(proposal: dict) -> dict[str, dict]:
    return {c["criterion"]: c for c in proposal["score"]["criteria"]}


async def test_an_admins_settings_change_who_is_matched_how_pairs_score_and_when_they_are_followed_up(
    matching: RunningService, intake: Intake
) -> None:
    await configured(matching, intake)
    # Not interviewed yet, registered 30 days ago; the volunteer lives in a neighbouring district.
    newcomer = await intake.person("newcomer", status="registered", interviewed_on=None)
    volunteer = await intake.person("established", district="innerstaden")
    await known(matching, newcomer, volunteer)

    by_default = (await matching.client.post(ROUNDS, json={})).json()
    assert by_default["waiting"] == 0 and by_default["proposals"] == []  # only the interviewed, by default

    admin = matching.as_(role="admin")
    settings = {
        "eligibility": "all",
        "weights": {"district": 60, "waiting": 50},
        "language_preference": "swedish_only",
        "max_wait_days": 10,
        "follow_up_days": [14, 60],
    }
    saved = await matching.client.put("/programmes/sprakvan/settings", json=settings, headers=admin)
    assert saved.status_code == 200, saved.text

    [proposal] = (await matching.client.post(ROUNDS, json={})).json()["proposals"]
    criteria = _criteria(proposal)
    assert criteria["district"]["points"] == 30.0  # half of 60 for a neighbouring district
    assert criteria["waiting"]["points"] == 50.0 and criteria["waiting"]["days"] == 30  # 30 days >= 10 counts fully
    assert criteria["languages"]["points"] == 0.0  # they share Arabic, and the programme prefers Swedish only
    assert "arabiska" not in proposal["explanation"]["sv"] and "Arabic" not in proposal["explanation"]["en"]
    assert proposal["score"]["total"] == pytest.approx(sum(c["points"] for c in criteria.values()))

    pair_id = proposal["pair_id"]
    assert (await matching.client.post(f"/pairs/{pair_id}/accept")).status_code == 200
    talk = await matching.client.post(
        f"/pairs/{pair_id}/conversation", json={"held_on": str(TODAY), "attended": ["newcomer", "established"]}
    )
    assert [f["due_on"] for f in talk.json()["follow_ups"]] == [
        str(TODAY + timedelta(days=14)),
        str(TODAY + timedelta(days=60)),
    ]


async def test_pairs_form_within_one_programme_and_each_programme_has_its_own_settings(
    matching: RunningService, intake: Intake
) -> None:
    await configured(matching, intake, config=TWO_PROGRAMMES)
    guide_newcomer = await intake.person("newcomer", programme="flyktingguide")
    friend = await intake.person("established")
    await known(matching, guide_newcomer, friend)

    sprakvan = (await matching.client.post(ROUNDS, json={})).json()
    assert sprakvan["waiting"] == 0 and sprakvan["proposals"] == []
    across = await matching.client.post(
        "/programmes/flyktingguide/pairs", json={"newcomer_id": str(guide_newcomer), "established_id": str(friend)}
    )
    assert across.status_code == 422 and [d["type"] for d in across.json()["detail"]] == ["constraint.programme"]

    guide = await intake.person("established", programme="flyktingguide")
    await known(matching, guide)
    [proposal] = (await matching.client.post("/programmes/flyktingguide/rounds", json={})).json()["proposals"]
    assert (proposal["newcomer_id"], proposal["established_id"], proposal["programme"]) == (
        str(guide_newcomer),
        str(guide),
        "flyktingguide",
    )

    admin = matching.as_(role="admin")
    change = {"follow_up_days": [7]}
    assert (await matching.client.put("/programmes/flyktingguide/settings", json=change, headers=admin)).is_success
    assert (await matching.client.get("/programmes/flyktingguide/settings")).json()["follow_up_days"] == [7]
    assert (await matching.client.get("/programmes/sprakvan/settings")).json()["follow_up_days"] == [35, 182]
    listed = await matching.client.get(
        "/pairs", params={"programme": "flyktingguide", "status": "proposed", "round_id": proposal["round_id"]}
    )
    assert [p["pair_id"] for p in listed.json()["items"]] == [proposal["pair_id"]]
    assert (await matching.client.get("/pairs", params={"programme": "sprakvan"})).json()["items"] == []


async def test_erasing_a_volunteer_ends_every_proposal_and_pair_of_theirs_and_forgets_their_forbids(
    matching: RunningService, intake: Intake, nc: nats.NATS, ns: Namespace
) -> None:
    await configured(matching, intake)
    first, second, third = [await intake.person("newcomer") for _ in range(3)]
    volunteer = await intake.person("established", capacity=3)
    await known(matching, first, second, third, volunteer)
    forbid = {"newcomer_id": str(third), "established_id": str(volunteer)}
    assert (await matching.client.post("/programmes/sprakvan/forbidden", json=forbid)).status_code == 204
    proposals = {
        p["newcomer_id"]: p["pair_id"] for p in (await matching.client.post(ROUNDS, json={})).json()["proposals"]
    }
    assert set(proposals) == {str(first), str(second)}  # the forbidden pair is never proposed
    active = proposals[str(first)]
    assert (await matching.client.post(f"/pairs/{active}/accept")).status_code == 200
    talk = {"held_on": str(TODAY), "attended": ["newcomer", "established", "coordinator"]}
    assert (await matching.client.post(f"/pairs/{active}/conversation", json=talk)).json()["status"] == "active"

    await intake.erase(volunteer)

    async def both_ended() -> list[dict] | None:
        found = [(await matching.client.get(f"/pairs/{p}")).json() for p in proposals.values()]
        return found if all(p["status"] == "ended" for p in found) else None

    ended = await eventually(both_ended)
    assert [p["end_reason"] for p in ended] == ["erased", "erased"]
    assert not await matching.pool.fetchval("SELECT count(*) FROM candidates WHERE participant_id = $1", volunteer)
    assert not await matching.pool.fetchval("SELECT count(*) FROM forbidden_pairs WHERE established_id = $1", volunteer)

    async def announced() -> bool:
        for pair_id in proposals.values():
            events = await pair_events(nc, ns, pair_id)
            if not any(e["type"] == "pair.ended" and e["payload"]["end_reason"] == "erased" for e in events):
                return False
        return True

    await eventually(announced)
    waiting = (await matching.client.get("/programmes/sprakvan/waiting")).json()
    assert waiting["total"] == 3 and all(b["free_places"] == 0 for b in waiting["balance"])
