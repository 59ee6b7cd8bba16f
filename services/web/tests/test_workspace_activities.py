"""The workspace's activities on the whole system, over HTTP without a browser: venues, a series and a
one-off, the calendar, one occurrence moved and another cancelled, sign-ups and the waiting list with
names from intake, check-in and walk-in counters (with and without htmx) and the totals as the events
service then reports them, calendar feeds; a viewer sees and cannot change; another organisation's
occurrence is a 404."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.factories import established, newcomer
from tests.kit import ORG_B, ServiceStarter, eventually

from .stack import WorkspaceStack, csrf_of, workspace_stack

A = "/workspace/activities"
LOCAL = ZoneInfo("Europe/Stockholm")
HTMX = {"HX-Request": "true"}


async def post(client: httpx.AsyncClient, page_path: str, action: str, data: dict, **kwargs) -> httpx.Response:
    """Fill in a form as a browser would: the CSRF token from the page it is on."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf_token": csrf_of(page.text), **data}, **kwargs)


async def register(stack: WorkspaceStack, body: dict) -> str:
    made = await stack.intake.client.post("/participants", json=body)
    assert made.status_code == 201, made.text
    participant_id = made.json()["id"]

    async def known() -> bool:
        found = "SELECT count(*) FROM participants WHERE participant_id = $1"
        return await stack.events.pool.fetchval(found, uuid.UUID(participant_id)) == 1

    await eventually(known)
    return participant_id


@pytest.fixture
def heard() -> Iterator[list[str]]:
    """What httpx logs (it would log every URL it fetches, at INFO), while the test runs."""

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    lines: list[str] = []
    handler = Lines()
    logging.getLogger("httpx").addHandler(handler)
    yield lines
    logging.getLogger("httpx").removeHandler(handler)


def next_monday() -> date:
    today = datetime.now(LOCAL).date()
    return today + timedelta(days=7 - today.weekday())


def occurrence_links(html: str) -> list[str]:
    return re.findall(r'href="/workspace/activities/occurrences/([0-9a-f-]{36})\?', html)


async def test_a_coordinator_runs_the_activities_and_the_door_and_a_viewer_only_looks(
    start_service: ServiceStarter, heard: list[str]
) -> None:
    async with workspace_stack(start_service) as stack:
        events = stack.events.client
        amina = await register(stack, newcomer(first_name="Amina", last_name="Haddad"))
        omar = await register(stack, newcomer(first_name="Omar", last_name="Said", gender="man"))
        karin = await register(stack, established(first_name="Karin"))
        await register(stack, newcomer(first_name="Fatima", last_name="Ali"))  # known, never signed up here

        async with stack.user("coordinator") as coordinator:
            # Venues: add (with an error first), then change.
            bad = await post(coordinator, f"{A}/venues?lang=en", f"{A}/venues?lang=en", {"name": "", "capacity": "x"})
            assert bad.status_code == 422 and "Enter the venue" in bad.text and 'aria-invalid="true"' in bad.text
            added = await post(
                coordinator,
                f"{A}/venues",
                f"{A}/venues?lang=sv",
                {"name": "Skäggetorps bibliotek", "district": "skaggetorp", "capacity": "30", "accessibility": "Ramp"},
            )
            assert added.status_code == 303
            venue = (await events.get("/venues")).json()[0]
            changed = await post(
                coordinator,
                f"{A}/venues/{venue['id']}",
                f"{A}/venues/{venue['id']}?lang=sv",
                {
                    "name": "Skäggetorps bibliotek, salen",
                    "district": "skaggetorp",
                    "capacity": "",
                    "accessibility": "",
                    "version": str(venue["version"]),
                },
            )
            shown = await coordinator.get(f"{A}/venues/{venue['id']}")
            assert 'name="version" value="2"' in shown.text  # the version the edit page shows, to send back
            assert changed.status_code == 303
            assert (await events.get("/venues")).json()[0] | {"id": None} == {
                "id": None,
                "name": "Skäggetorps bibliotek, salen",
                "district": "skaggetorp",
                "address": "",
                "capacity": None,
                "accessibility": "",
                "version": 2,
            }
            # A second coordinator's form, opened at version 1: refused in words, nothing overwritten.
            stale = await post(
                coordinator,
                f"{A}/venues/{venue['id']}",
                f"{A}/venues/{venue['id']}?lang=sv",
                {"name": "Gamla namnet", "district": "skaggetorp", "capacity": "", "accessibility": "", "version": "1"},
            )
            assert stale.status_code == 422 and "Inte sparat: ändrat av någon annan" in stale.text
            assert 'name="version" value="2"' in stale.text
            assert (await events.get("/venues")).json()[0]["name"] == "Skäggetorps bibliotek, salen"
            listed = await coordinator.get(f"{A}/venues?lang=sv")
            assert "Skäggetorps bibliotek, salen" in listed.text and "Ingen gräns" in listed.text

            # A series: Mondays and Wednesdays 18-20 for two weeks, two places a time.
            monday = next_monday()
            series = {
                "title": "Språkcafé Skäggetorp",
                "type_code": "language_cafe",
                "venue_id": venue["id"],
                "capacity": "2",
                "weekdays": ["MO", "WE"],
                "first_day": monday.isoformat(),
                "until": (monday + timedelta(days=9)).isoformat(),
                "starts": "18:00",
                "ends": "20:00",
            }
            refused = await post(coordinator, f"{A}/new/series", f"{A}/new/series?lang=en", series | {"weekdays": []})
            assert refused.status_code == 422 and "Choose at least one weekday" in refused.text
            made = await post(coordinator, f"{A}/new/series", f"{A}/new/series?lang=sv", series)
            assert made.status_code == 303 and f"day={monday.isoformat()}" in made.headers["location"]
            one_off = {
                "title": "Monter på Stadsfesten",
                "type_code": "fair_stand",
                "district": "innerstaden",
                "first_day": (monday + timedelta(days=5)).isoformat(),
                "starts": "11:00",
                "ends": "15:00",
                "campaign": "cake-party-city-hall-2019",
            }
            assert (await post(coordinator, f"{A}/new/one-off", f"{A}/new/one-off", one_off)).status_code == 303

            # The calendar: the week lists both, by day; next week the second Monday and Wednesday.
            week = await coordinator.get(made.headers["location"])
            assert week.status_code == 200 and week.text.count("Språkcafé Skäggetorp") == 2
            assert "Monter på Stadsfesten" in week.text and "0 av 2 platser" in week.text
            ids = occurrence_links(week.text)
            first, second, fair = ids[0], ids[1], ids[2]
            following = re.search(r'href="([^"]+)">Nästa vecka', week.text).group(1).replace("&amp;", "&")
            assert (await coordinator.get(following)).text.count("Språkcafé Skäggetorp") == 2
            month = await coordinator.get(f"{A}/calendar?view=month&day={monday.isoformat()}&lang=en")
            assert month.status_code == 200 and "Next month" in month.text

            # Sign-ups: two places, the third waits; a cancellation moves her up, as the service decides.
            page = f"{A}/occurrences/{first}"
            occurrence_page = await coordinator.get(page)
            assert "Amina Haddad" in occurrence_page.text and "Fatima Ali" in occurrence_page.text
            for person in (amina, omar, karin):
                signed = await post(coordinator, page, f"{page}/signups?lang=sv", {"participant_id": person})
                assert signed.status_code == 303, signed.text
            twice = await post(coordinator, page, f"{page}/signups?lang=en", {"participant_id": amina})
            assert twice.status_code == 422 and "already" in twice.text
            seats = (await events.get(f"/occurrences/{first}")).json()
            assert (seats["confirmed"], seats["waitlisted"]) == (2, 1)
            shown = (await coordinator.get(f"{page}?lang=en")).text
            waiting = shown.split("Waiting list</h2>")[1]
            assert "Karin" in waiting and "Amina Haddad" not in waiting
            signups = {s["participant_id"]: s for s in (await events.get(f"/occurrences/{first}/signups")).json()}
            cancel = f"{page}/signups/{signups[omar]['id']}/cancel?lang=sv"
            assert (await post(coordinator, page, cancel, {})).status_code == 303
            signups = {s["participant_id"]: s for s in (await events.get(f"/occurrences/{first}/signups")).json()}
            assert signups[karin]["status"] == "confirmed" and signups[omar]["status"] == "cancelled"

            # Move the second occurrence (a holiday) an hour later; cancel the next one; the series goes on.
            moved_day = (monday + timedelta(days=3)).isoformat()
            read_at = (await events.get(f"/occurrences/{second}")).json()["version"]
            assert f'name="version" value="{read_at}"' in (await coordinator.get(f"{A}/occurrences/{second}")).text
            # The form carries the version it showed (a hidden field); this helper sends only what it is given.
            move = {"move_day": moved_day, "move_starts": "19:00", "move_ends": "21:00", "version": str(read_at)}
            wrong = await post(
                coordinator,
                f"{A}/occurrences/{second}",
                f"{A}/occurrences/{second}/move?lang=en",
                move | {"move_ends": "18:00"},
            )
            assert wrong.status_code == 422 and "after the start time" in wrong.text
            moved = await post(coordinator, f"{A}/occurrences/{second}", f"{A}/occurrences/{second}/move", move)
            assert moved.status_code == 303
            now = (await events.get(f"/occurrences/{second}")).json()
            assert now["starts_at"].startswith(f"{moved_day}T19:00") and now["original_start"]
            # A second coordinator's form, read before that move: refused on the page, nothing overwritten.
            late = move | {"move_starts": "10:00", "move_ends": "11:00"}
            stale = await post(coordinator, f"{A}/occurrences/{second}", f"{A}/occurrences/{second}/move", late)
            assert stale.status_code != 303
            assert (await events.get(f"/occurrences/{second}")).json()["starts_at"] == now["starts_at"]
            third = occurrence_links((await coordinator.get(following)).text)[0]
            cancelled = await post(coordinator, f"{A}/occurrences/{third}", f"{A}/occurrences/{third}/cancel", {})
            assert cancelled.status_code == 303
            assert (await events.get(f"/occurrences/{third}")).json()["status"] == "cancelled"
            assert (await events.get(f"/occurrences/{first}")).json()["status"] == "scheduled"

            # At the door: came / did not come, without JavaScript (redirect back) and with htmx (one row).
            door = f"{page}/check-in"
            at_door = await coordinator.get(f"{door}?lang=sv")
            assert at_door.status_code == 200 and "Amina Haddad" in at_door.text and "Omar" not in at_door.text
            came = await post(coordinator, door, f"{door}/people/{amina}?lang=sv", {"outcome": "came"})
            assert came.status_code == 303 and came.headers["location"].endswith(f"#p-{amina}")
            row = await post(coordinator, door, f"{door}/people/{karin}?lang=sv", {"outcome": "no_show"}, headers=HTMX)
            assert row.status_code == 200 and row.text.lstrip().startswith(f'<li id="p-{karin}"')
            assert 'hx-swap-oob="innerHTML"' in row.text and "<html" not in row.text
            for step, role, gender, headers in (
                ("1", "newcomer", "woman", {}),
                ("1", "newcomer", "woman", HTMX),
                ("1", "newcomer", "woman", HTMX),
                ("-1", "newcomer", "woman", {}),
                ("1", "established", "man", HTMX),
            ):
                data = {"role": role, "gender": gender, "step": step}
                answer = await post(coordinator, door, f"{door}/walk-ins?lang=sv", data, headers=headers)
                assert answer.status_code == (200 if headers else 303), answer.text
            assert 'id="w-established-man"' in answer.text
            attendance = (await events.get(f"/occurrences/{first}/attendance")).json()
            totals = attendance["totals"]
            assert (totals["came"], totals["no_show"], totals["walk_ins"]) == (1, 1, 3)
            assert sorted((w["role"], w["gender"], w["count"]) for w in attendance["walk_ins"]) == [
                ("established", "man", 1),
                ("newcomer", "woman", 2),
            ]
            shown = (await coordinator.get(door)).text
            totals = shown.split('id="checkin-totals"')[1]
            assert re.search(r"Kom</dt><dd>1<", totals) and re.search(r"På plats</dt><dd>4<", totals)

            # A stand counts the sign-ups of its campaign.
            stand = f"{A}/occurrences/{fair}/check-in"
            assert "Tårtkalas i stadshuset 2019" in (await coordinator.get(stand)).text
            data = {"campaign": "cake-party-city-hall-2019", "step": "1"}
            assert (await post(coordinator, stand, f"{stand}/campaigns", data)).status_code == 303
            assert (await events.get(f"/occurrences/{fair}/attendance")).json()["totals"]["campaign_signups"] == 1
            # Nothing to check in at a cancelled occurrence: said in words, nothing recorded.
            late = await post(
                coordinator,
                f"{A}/occurrences/{third}/check-in",
                f"{A}/occurrences/{third}/check-in/walk-ins?lang=en",
                data | {"role": "newcomer", "gender": "man"},
            )
            assert late.status_code == 409 and "cancelled" in late.text

            # Odd input is a page that says so, never a 500.
            for odd in (f"{A}/occurrences/not-an-id", f"{A}/venues/{uuid.uuid4()}", f"{A}/new/nothing"):
                assert (await coordinator.get(odd)).status_code == 404, odd
            for day in ("0001-01-01", "9999-12-31", "2026-02-30", "x" * 5000):
                assert (await coordinator.get(f"{A}/calendar", params={"day": day, "view": "month"})).status_code == 200
            nul = {"name": "Lokal\x00", "district": "ryd", "capacity": "1" * 50}
            odd_venue = await post(coordinator, f"{A}/venues", f"{A}/venues?lang=en", nul)
            assert odd_venue.status_code == 422 and "whole number" in odd_venue.text
            odd_time = series | {"starts": "18:00+05:00", "first_day": "0001-01-01", "until": "9999-12-31"}
            assert (await post(coordinator, f"{A}/new/series", f"{A}/new/series", odd_time)).status_code == 422

            # Calendar feeds: the URL once, served by the web front; revoked, it stops working.
            feeds = f"{A}/feeds"
            feed = await post(coordinator, feeds, f"{feeds}?lang=en", {"shows": f"venue:{venue['id']}", "name": ""})
            assert feed.status_code == 201
            url = re.search(r'id="feed-url" class="sv-feed-url" value="([^"]+)"', feed.text).group(1)
            async with httpx.AsyncClient(trust_env=False) as phone:
                ics = await phone.get(url)
                assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
                assert ics.text.count("BEGIN:VEVENT") == 4 and "STATUS:CANCELLED" in ics.text
                listed = await coordinator.get(feeds)
                feed_id = (await events.get("/feeds")).json()[0]["id"]
                assert url not in listed.text and "Skäggetorps bibliotek, salen" in listed.text
                assert (await post(coordinator, feeds, f"{feeds}/{feed_id}/revoke", {})).status_code == 303
                assert (await phone.get(url)).status_code == 404
            # The form sent twice (a reload after the answer): one feed, and its URL is not shown again.
            form = await coordinator.get(feeds)
            twice = {"csrf_token": csrf_of(form.text), "shows": "organisation:", "name": "Alla aktiviteter"}
            twice["form_key"] = re.search(r'name="form_key" value="([^"]+)"', form.text).group(1)
            made_once, sent_again = [await coordinator.post(f"{feeds}?lang=sv", data=twice) for _ in range(2)]
            assert made_once.status_code == 201 and 'id="feed-url"' in made_once.text
            assert sent_again.status_code == 409 and 'id="feed-url"' not in sent_again.text
            assert "Flödet skapades första gången" in sent_again.text
            assert [f["name"] for f in (await events.get("/feeds")).json()] == ["Alla aktiviteter"]
            # The feed's token is its key: the web front's calls to the events service do not log it.
            token = url.rsplit("/", 1)[-1].removesuffix(".ics")
            # httpx's INFO lines (every URL, query and all) are off (sprakvan_shared.logging): none of the web
            # front's calls is logged, the feed's key least of all.
            assert not [line for line in heard if "/activity-types" in line or f"/feeds/{token}" in line]

        async with stack.user("viewer") as viewer:
            for path in (A, f"{A}/venues", f"{A}/calendar?day={monday.isoformat()}", page, door, feeds):
                seen = await viewer.get(path)
                assert seen.status_code == 200, path
                assert "/signups?" not in seen.text and "/walk-ins?" not in seen.text and "/revoke?" not in seen.text
            assert "Amina Haddad" in (await viewer.get(door)).text
            refused = await post(viewer, door, f"{door}/walk-ins", {"role": "newcomer", "gender": "man", "step": "1"})
            assert refused.status_code == 403
            assert (await viewer.get(f"{A}/new/series")).status_code == 403
        assert len((await events.get(f"/occurrences/{first}/attendance")).json()["walk_ins"]) == 2

        async with stack.user("coordinator", organisation=ORG_B) as stranger:
            for path in (page, door, f"{A}/venues/{venue['id']}"):
                assert (await stranger.get(path)).status_code == 404, path
            other = await stranger.get(f"{A}/calendar")
            cancel = await stranger.post(f"{page}/cancel", data={"csrf_token": csrf_of(other.text)})
            assert cancel.status_code == 404
            assert first not in other.text
        assert (await events.get(f"/occurrences/{first}")).json()["status"] == "scheduled"
