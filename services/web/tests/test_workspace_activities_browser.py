"""The activities pages in a real browser: 0 axe violations (WCAG 2.0/2.1 A and AA) on every page of the
part in Swedish and English, and the check-in page at a phone's width, before and after its htmx
counter and check-in buttons have swapped their rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page

from sprakvan_shared.auth import Role
from sprakvan_web.service_layer.accounts import create_local_user
from tests.factories import newcomer
from tests.kit import ORG_A, ServiceStarter, eventually

from .browsing import axe_violations
from .stack import WorkspaceStack, workspace_stack

pytestmark = pytest.mark.infra

PASSWORD = "correct horse battery staple"
A = "/workspace/activities"


async def log_in(page: Page, stack: WorkspaceStack, username: str) -> None:
    await page.goto(f"{stack.web_url}/login?lang=sv")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("main button[type=submit]")
    await page.wait_for_load_state()


async def arrange(stack: WorkspaceStack) -> tuple[str, str, str]:
    """A venue, a weekly café with one person signed up, a fair stand with a campaign: (venue, café, stand)."""
    events = stack.events.client
    made = await stack.intake.client.post("/participants", json=newcomer())
    person = made.json()["id"]

    async def known() -> bool:
        return await stack.events.pool.fetchval("SELECT count(*) FROM participants") == 1

    await eventually(known)
    venue = (await events.post("/venues", json={"name": "Agora", "district": "skaggetorp", "capacity": 20})).json()
    tomorrow = (datetime.now(ZoneInfo("Europe/Stockholm")) + timedelta(days=1)).date()
    schedule = {
        "first_day": tomorrow.isoformat(),
        "starts": "18:00",
        "ends": "20:00",
        "rule": "FREQ=WEEKLY",
        "count": 4,
    }
    body = {"title": "Språkcafé", "type_code": "language_cafe", "venue_id": venue["id"], "schedule": schedule}
    cafe = (await events.post("/series", json=body)).json()["occurrences"][0]["id"]
    assert (await events.post(f"/occurrences/{cafe}/signups", json={"participant_id": person})).status_code == 201
    stand = {
        "title": "Monter",
        "type_code": "fair_stand",
        "district": "innerstaden",
        "campaign": "cake-party-city-hall-2019",
        "starts_at": f"{tomorrow.isoformat()}T11:00",
        "ends_at": f"{tomorrow.isoformat()}T15:00",
    }
    fair = (await events.post("/activities", json=stand)).json()["occurrences"][0]["id"]
    return venue["id"], cafe, fair


async def test_every_activities_page_passes_axe_in_swedish_and_english_and_check_in_on_a_phone(
    start_service: ServiceStarter, page: Page, phone: Page
) -> None:
    async with workspace_stack(start_service) as stack:
        venue, cafe, fair = await arrange(stack)
        await create_local_user(
            stack.web.pool, organisation_id=ORG_A, username="samordnare", password=PASSWORD, role=Role.COORDINATOR
        )
        found: dict[str, list[dict[str, Any]]] = {}

        async def check(where: Page, name: str) -> None:
            violations = await axe_violations(where)
            if violations:
                found[name] = violations

        await log_in(page, stack, "samordnare")
        paths = (
            A,
            f"{A}/venues",
            f"{A}/venues/{venue}",
            f"{A}/new/series",
            f"{A}/new/one-off",
            f"{A}/calendar",
            f"{A}/calendar?view=month",
            f"{A}/occurrences/{cafe}",
            f"{A}/occurrences/{cafe}/check-in",
            f"{A}/occurrences/{fair}/check-in",
            f"{A}/feeds",
        )
        for lang in ("sv", "en"):
            for path in paths:
                response = await page.goto(f"{stack.web_url}{path}{'&' if '?' in path else '?'}lang={lang}")
                assert response is not None and response.status == 200, path
                await check(page, f"{lang} {path}")
            await page.goto(f"{stack.web_url}{A}/new/series?lang={lang}")
            await page.click("main form button[type=submit]")  # empty: every error at once
            await page.wait_for_selector(".sv-error-summary")
            await check(page, f"{lang} new series with errors")
            await page.goto(f"{stack.web_url}{A}/feeds?lang={lang}")
            async with page.expect_navigation() as made:
                await page.click('form[action^="/workspace/activities/feeds?"] button')
            assert (await made.value).status == 201, await page.content()
            await check(page, f"{lang} a new feed's address")

        await log_in(phone, stack, "samordnare")
        for lang in ("sv", "en"):
            await phone.goto(f"{stack.web_url}{A}/occurrences/{cafe}/check-in?lang={lang}")
            await check(phone, f"phone {lang} check-in")
        plus = phone.locator("#w-newcomer-woman-plus")
        box = await plus.bounding_box()
        assert box is not None and box["width"] >= 44 and box["height"] >= 44
        await plus.click()  # htmx: only the counter is swapped, the page stays
        await phone.wait_for_function(
            "document.querySelector('#w-newcomer-woman .sv-counter-value').textContent.startsWith('1')"
        )
        came = phone.locator("button[id^=came-]")
        await came.click()
        await phone.wait_for_selector("#checkin-status:has-text('Saved')")
        await check(phone, "phone en check-in after htmx swaps")
        sheet = (await stack.events.client.get(f"/occurrences/{cafe}/attendance")).json()
        assert sheet["totals"]["came"] == 1 and sheet["totals"]["walk_ins"] == 1
        assert found == {}
