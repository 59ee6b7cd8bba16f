"""The matching part of the workspace over HTTP, on the whole system: participants registered through
intake, a proposal round, accepting and rejecting, a refused manual pair in words, the pair's life
(conversation, follow-ups due this week, end, rematch), a group meetup with one refused row, the waiting
list and its chart, the programme's settings; viewers see and change nothing; another organisation's pair
is a 404."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests import factories
from tests.kit import ORG_B, ServiceStarter, eventually

from .stack import WorkspaceStack, csrf_of, workspace_stack

PROGRAMME = "sprakvan"
FREE = {"same_gender": False}


def today() -> str:
    return datetime.now(ZoneInfo("Europe/Stockholm")).date().isoformat()


def form_of(page: str, **fields: Any) -> dict[str, Any]:
    """A posted form: the page's CSRF token, a fresh idempotency key and the fields."""
    return {"csrf_token": csrf_of(page), "key": f"k-{datetime.now().timestamp()}", "programme": PROGRAMME} | fields


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", page))


async def register(stack: WorkspaceStack) -> dict[str, str]:
    people = {
        "amina": factories.newcomer(first_name="Amina", wishes=FREE),
        "omar": factories.newcomer(first_name="Omar", last_name="Said", gender="man", wishes=FREE),
        "yusuf": factories.newcomer(first_name="Yusuf", last_name="Ali", gender="man", wishes={"same_gender": True}),
        "lina": factories.newcomer(first_name="Lina", last_name="Karimi", wishes=FREE),
        "sara": factories.newcomer(first_name="Sara", last_name="Tesfay", district="ryd", wishes=FREE),
        "karin": factories.established(first_name="Karin", capacity=3, wishes=FREE),
        "birgitta": factories.established(first_name="Birgitta", last_name="Holm", capacity=1, wishes=FREE),
        "erik": factories.established(first_name="Erik", last_name="Berg", gender="man", capacity=2, wishes=FREE),
    }
    ids = {}
    for key, body in people.items():
        response = await stack.intake.client.post("/participants", json=body)
        assert response.status_code == 201, response.text
        ids[key] = response.json()["id"]
    return ids


async def matching_get(stack: WorkspaceStack, path: str, **params: Any) -> Any:
    response = await stack.matching.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_programmes_matching_from_round_to_rematch_meetup_and_waiting_list(
    start_service: ServiceStarter,
) -> None:
    async with workspace_stack(start_service) as stack:
        ids = await register(stack)

        async def known() -> bool:
            waiting = await matching_get(stack, f"/programmes/{PROGRAMME}/waiting")
            return waiting["total"] == 5 and len(waiting["balance"]) >= 2

        await eventually(known)

        async with stack.user("admin") as admin:
            # -- settings: interviews not required, so that the round sees everyone ----------------------------
            page = await admin.get("/workspace/settings/matching?lang=en")
            assert page.status_code == 200 and "Only participants who have been interviewed" in page.text
            fields = {f"weights-{k}": v for k, v in {"languages": 25, "interests": 20, "district": 20}.items()}
            fields |= {f"weights-{k}": v for k, v in {"availability": 15, "age": 5, "pair": 40, "waiting": 30}.items()}
            fields |= {"max_wait_days": 180, "follow_up_days": "35, 182", "candidates_per_newcomer": 30}
            fields |= {"eligibility": "all", "language_preference": "shared_language"}
            bad = await admin.post(
                "/workspace/settings/matching?lang=sv", data=form_of(page.text, **(fields | {"weights-age": "x"}))
            )
            assert bad.status_code == 422 and "Ange ett heltal." in bad.text and 'id="weights-age-error"' in bad.text
            too_much = await admin.post(
                "/workspace/settings/matching?lang=sv", data=form_of(page.text, **(fields | {"weights-age": 500}))
            )
            assert too_much.status_code == 422 and 'id="weights-age-error"' in too_much.text
            saved = await admin.post("/workspace/settings/matching?lang=sv", data=form_of(page.text, **fields))
            assert saved.status_code == 303
            assert (await matching_get(stack, f"/programmes/{PROGRAMME}/settings"))["eligibility"] == "all"

        async with stack.user("coordinator") as coordinator:
            # -- a round, its proposals in words ---------------------------------------------------------------
            home = await coordinator.get("/workspace/matching?lang=sv")
            assert home.status_code == 200 and "Kör en förslagsomgång" in home.text
            ran = await coordinator.post("/workspace/matching/rounds?lang=sv", data=form_of(home.text))
            assert ran.status_code == 303
            proposals = (await matching_get(stack, "/pairs", programme=PROGRAMME, status="proposed"))["items"]
            assert len(proposals) >= 2
            listed = text_of((await coordinator.get(ran.headers["location"])).text)
            for p in proposals:
                assert p["explanation"]["sv"] in listed  # the reasons, as a coordinator reads them
            assert "Amina Haddad" in listed and "Karin Lindqvist" in listed  # names from intake
            english = text_of((await coordinator.get(f"/workspace/matching?lang=en&programme={PROGRAMME}")).text)
            assert proposals[0]["explanation"]["en"] in english

            # -- accept one (not Yusuf's: his wish leaves only Erik), reject another -----------------------
            chosen = next(p for p in proposals if p["newcomer_id"] != ids["yusuf"])
            other = next(p for p in proposals if p["pair_id"] != chosen["pair_id"])
            accepted = await coordinator.post(
                f"/workspace/matching/proposals/{chosen['pair_id']}/accept?lang=sv", data=form_of(home.text)
            )
            assert accepted.status_code == 303 and chosen["pair_id"] in accepted.headers["location"]
            rejected = await coordinator.post(
                f"/workspace/matching/proposals/{other['pair_id']}/reject?lang=sv",
                data=form_of(home.text, reason="coordinator_judgement"),
            )
            assert rejected.status_code == 303
            gone = await matching_get(stack, f"/pairs/{other['pair_id']}")
            assert gone["rejection_reason"] == "coordinator_judgement"

            # -- pairing by hand: a hard constraint refused in words ---------------------------------------
            refused = await coordinator.post(
                "/workspace/matching/manual?lang=sv",
                data=form_of(home.text, newcomer_id=ids["yusuf"], established_id=ids["birgitta"]),
            )
            assert refused.status_code == 422
            assert "Den nyanlända önskar en vän av samma kön." in text_of(refused.text)
            assert 'href="#newcomer_id"' in refused.text

            # -- the pair's life: conversation, follow-ups, rematch, end --------------------------------------
            pair_url = f"/workspace/matching/pairs/{chosen['pair_id']}"
            pair_page = await coordinator.get(f"{pair_url}?lang=sv")
            assert (
                "Bildat, ännu inte introducerat" in pair_page.text and "Registrera matchningssamtalet" in pair_page.text
            )
            held = await coordinator.post(
                f"{pair_url}/conversation?lang=sv",
                data=form_of(pair_page.text, held_on=today(), attended=["newcomer", "established", "coordinator"]),
            )
            assert held.status_code == 303
            active = await matching_get(stack, f"/pairs/{chosen['pair_id']}")
            assert active["status"] == "active" and len(active["follow_ups"]) == 2
            future = await coordinator.post(
                f"{pair_url}/conversation?lang=sv", data=form_of(pair_page.text, held_on=today(), attended=["newcomer"])
            )
            assert future.status_code == 409 and "Paret har ändrats under tiden" in text_of(future.text)

            scheduled = await coordinator.post(
                f"{pair_url}/follow-ups?lang=sv", data=form_of(pair_page.text, due_on=today())
            )
            assert scheduled.status_code == 303
            due = text_of((await coordinator.get("/workspace/matching/follow-ups?lang=sv")).text)
            newcomer_name = {
                ids["amina"]: "Amina Haddad",
                ids["omar"]: "Omar Said",
                ids["lina"]: "Lina Karimi",
                ids["sara"]: "Sara Tesfay",
            }[chosen["newcomer_id"]]
            assert newcomer_name in due and today() in due
            done = await coordinator.post(
                f"{pair_url}/follow-ups/done?lang=sv",
                data=form_of(
                    pair_page.text, due_on=today(), done_on=today(), outcome="needs_support", notes="Ring i maj"
                ),
            )
            assert done.status_code == 303
            assert newcomer_name not in text_of((await coordinator.get("/workspace/matching/follow-ups?lang=sv")).text)
            history = text_of((await coordinator.get(f"{pair_url}?lang=sv")).text)
            assert "Behöver stöd. Ring i maj" in history and "Matchningssamtal hållet" in history

            volunteer = next(v for v in ("karin", "birgitta", "erik") if ids[v] != chosen["established_id"])
            rematched = await coordinator.post(
                f"{pair_url}/rematch?lang=sv",
                data=form_of(pair_page.text, reason="did_not_click", established_id=ids[volunteer]),
            )
            assert rematched.status_code == 303 and chosen["pair_id"] not in rematched.headers["location"]
            new_page = text_of((await coordinator.get(rematched.headers["location"])).text)
            assert "Ersätter ett tidigare par för den nyanlända" in new_page and "Klickade inte" in new_page
            new_id = rematched.headers["location"].split("/")[-1].split("?")[0]
            ended = await coordinator.post(
                f"/workspace/matching/pairs/{new_id}/end?lang=sv", data=form_of(pair_page.text, reason="moved")
            )
            assert ended.status_code == 303
            assert "Flyttat" in (await coordinator.get(ended.headers["location"])).text

            # -- the list of pairs, filtered (htmx answers the table alone) ---------------------------------
            listing = await coordinator.get(f"/workspace/matching/pairs?lang=sv&status=ended&programme={PROGRAMME}")
            assert listing.status_code == 200 and "Klickade inte" in listing.text and "Flyttat" in listing.text
            partial = await coordinator.get(
                "/workspace/matching/pairs?lang=sv&status=active", headers={"HX-Request": "true"}
            )
            assert partial.status_code == 200 and "<nav" not in partial.text and "Inga par stämmer." in partial.text

            # -- a group meetup: two pairs recorded, the third refused and kept -----------------------------
            meetup = await coordinator.get("/workspace/matching/meetups?lang=sv")
            rows = {
                "newcomer-1": ids["lina"],
                "established-1": ids["erik"],
                "newcomer-2": ids["sara"],
                "established-2": ids["karin"],
                "newcomer-3": ids["lina"],
                "established-3": ids["karin"],
            }
            recorded = await coordinator.post(
                "/workspace/matching/meetups?lang=sv", data=form_of(meetup.text, held_on=today(), rows=8, **rows)
            )
            page = text_of(recorded.text)
            assert recorded.status_code == 200 and "2 par från träffen registrerades:" in page
            assert "Den nyanlända har redan ett par." in page and 'href="#newcomer-1"' in recorded.text
            meetup_pairs = (await matching_get(stack, "/pairs", participant_id=ids["sara"]))["items"]
            assert [p["origin"] for p in meetup_pairs if p["status"] == "active"] == ["group_meetup"]
            half = await coordinator.post(
                "/workspace/matching/meetups?lang=sv",
                data=form_of(meetup.text, held_on=today(), rows=8, **{"newcomer-1": ids["omar"]}),
            )
            assert half.status_code == 422 and "Välj både en nyanländ och en etablerad." in half.text
            more = await coordinator.post(
                "/workspace/matching/meetups?lang=sv",
                data=form_of(meetup.text, rows=8, more="1", **{"newcomer-1": ids["omar"]}),
            )
            assert more.status_code == 200 and 'id="newcomer-16"' in more.text
            assert f'<option value="{ids["omar"]}" selected>' in more.text  # what was chosen stays

            # -- odd input: a 4xx naming the field, never a 500 -------------------------------------------------
            assert (await coordinator.get("/workspace/matching/pairs/not-an-id?lang=sv")).status_code == 404
            odd = await coordinator.get("/workspace/matching/pairs?after=%00&status=%ED%A0%80")
            assert odd.status_code == 422  # the web front's own guard, for every page
            unknown = await coordinator.get(f"/workspace/matching/pairs?after=x&status=y&programme={'x' * 5000}")
            assert unknown.status_code == 200 and "Klickade inte" in unknown.text  # ignored: every pair
            sara_pair = next(p for p in meetup_pairs if p["status"] == "active")["pair_id"]
            nul = await coordinator.post(
                f"/workspace/matching/pairs/{sara_pair}/follow-ups/done?lang=sv",
                data=form_of(meetup.text, done_on=today(), outcome="going_well", notes="a\x00b"),
            )
            assert nul.status_code == 422 and 'id="done-notes-error"' in nul.text and "a\x00b" not in nul.text

            # -- the waiting list in wait order, the balance as a chart with its table ----------------------
            waiting = await matching_get(stack, f"/programmes/{PROGRAMME}/waiting")
            shown = text_of((await coordinator.get("/workspace/matching/waiting?lang=sv")).text)
            names = {ids["amina"]: "Amina Haddad", ids["omar"]: "Omar Said", ids["yusuf"]: "Yusuf Ali"}
            order = [names[w["participant_id"]] for w in waiting["waiting"]]
            assert order and [shown.index(n) for n in order] == sorted(shown.index(n) for n in order)
            assert '<svg role="img" aria-labelledby="balance-title balance-desc"' in shown
            assert "<details>" in shown and "Skäggetorp:" in shown

        async with stack.user("viewer") as viewer:
            seen = await viewer.get("/workspace/matching?lang=sv")
            assert seen.status_code == 200 and "Kör en förslagsomgång" not in seen.text
            pair_seen = await viewer.get(f"{pair_url}?lang=sv")
            assert pair_seen.status_code == 200 and "Registrera en uppföljning" not in pair_seen.text
            token = csrf_of(seen.text)
            for path in ("/workspace/matching/rounds", f"{pair_url}/end", "/workspace/matching/meetups"):
                denied = await viewer.post(path, data={"csrf_token": token, "programme": PROGRAMME, "reason": "moved"})
                assert denied.status_code == 403, path
            settings = await viewer.get("/workspace/settings/matching?lang=sv")
            assert settings.status_code == 200 and "Bara en administratör kan ändra dessa." in settings.text
            assert (await viewer.post("/workspace/settings/matching", data={"csrf_token": token})).status_code == 403

        async with stack.user("coordinator", organisation=ORG_B) as stranger:
            assert (await stranger.get(f"{pair_url}?lang=sv")).status_code == 404
            assert (
                await stranger.post(
                    f"{pair_url}/end", data=form_of((await stranger.get("/workspace")).text, reason="moved")
                )
            ).status_code == 404
