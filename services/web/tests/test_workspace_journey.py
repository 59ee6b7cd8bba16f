"""A coordinator's main journey in a real browser, on the whole system (intake, matching, events,
reporting and the web front on the test kit's NATS and PostgreSQL): a newcomer signs up on the public
form, the coordinator records both interviews, runs a proposal round, accepts the pair and records its
matching conversation, schedules a language café, signs the newcomer up and checks her in at the door,
then finds the new pair and the attendance counted in the partnership review and downloads its PDF."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page

from sprakvan_shared.auth import Role
from sprakvan_web.service_layer.accounts import create_local_user
from tests import factories
from tests.kit import ORG_A, ServiceStarter, eventually

from .browsing import axe_violations
from .stack import WorkspaceStack, workspace_stack

pytestmark = pytest.mark.infra

PASSWORD = "a coordinator's long password"


def stockholm_today() -> date:
    return datetime.now(ZoneInfo("Europe/Stockholm")).date()


async def sign_up_on_the_public_form(page: Page, stack: WorkspaceStack) -> None:
    await page.goto(f"{stack.web_url}/signup/{ORG_A}/sprakvan?lang=en")
    await page.check("#role-newcomer")
    await page.fill("#first_name", "Amina")
    await page.fill("#phone", "070 123 45 67")
    await page.check("#gender-woman")
    await page.fill("#birth_year", "1991")
    await page.select_option("#district", "skaggetorp")
    await page.select_option("#native_language", "ar")
    await page.select_option("#swedish_level", "A1")
    await page.check("#interests-cooking")
    await page.check("#availability-tue-evening")  # shared with Karin's: a hard constraint of matching
    await page.check("#consent_data")
    await page.click("form button[type=submit]")
    await page.wait_for_url("**/thanks**")


async def figure(page: Page, name: str) -> str | None:
    return await page.get_attribute(f'[data-figure="{name}"] [data-period="current"]', "data-value")


async def test_from_sign_up_to_the_review_and_its_pdf(start_service: ServiceStarter, page: Page) -> None:
    async with workspace_stack(start_service) as stack:
        karin = await stack.intake.client.post("/participants", json=factories.established(first_name="Karin"))
        assert karin.status_code == 201, karin.text
        karin_id = karin.json()["id"]
        await sign_up_on_the_public_form(page, stack)
        listed = (await stack.intake.client.get("/participants", params={"role": "newcomer"})).json()["items"]
        (amina_id,) = [p["id"] for p in listed if p["first_name"] == "Amina"]

        await create_local_user(
            stack.web.pool, organisation_id=ORG_A, username="koordinator", password=PASSWORD, role=Role.COORDINATOR
        )
        await page.goto(f"{stack.web_url}/login?lang=en")
        await page.fill("#username", "koordinator")
        await page.fill("#password", PASSWORD)
        await page.click("form button[type=submit]")
        await page.wait_for_url("**/workspace?**")
        for lang in ("sv", "en"):  # the overview, which no part's own browser test visits
            await page.goto(f"{stack.web_url}/workspace?lang={lang}")
            assert await axe_violations(page) == [], lang

        # The interviews, on each profile (the round matches interviewed participants by default).
        for participant_id in (amina_id, karin_id):
            await page.goto(f"{stack.web_url}/workspace/participants/{participant_id}?lang=en")
            await page.click("text=Record the interview")
            await page.wait_for_load_state()

        # A proposal round, once matching has heard of both interviews.
        async def proposed() -> bool:
            await page.goto(f"{stack.web_url}/workspace/matching?lang=en")
            await page.click("text=Run a proposal round")
            await page.wait_for_load_state()
            return await page.locator("form[action*='/accept'] button").count() == 1

        await eventually(proposed, timeout=30)
        assert "Karin" in await page.locator(".sv-proposal").inner_text()
        await page.click("form[action*='/accept'] button")
        await page.wait_for_load_state()
        await page.goto(f"{stack.web_url}/workspace/matching/pairs?lang=en")
        await page.click("a[href*='/workspace/matching/pairs/']")
        await page.click("text=Save the conversation")
        await page.wait_for_load_state()
        assert "conversation" in (await page.locator("main").inner_text()).lower()

        # A language café tomorrow evening, the newcomer signed up, and checked in at the door.
        day = stockholm_today() + timedelta(days=1)
        await page.goto(f"{stack.web_url}/workspace/activities/new/one-off?lang=en")
        await page.fill("#title", "Språkcafé på biblioteket")
        await page.select_option("#type_code", "language_cafe")
        await page.select_option("#district", "skaggetorp")
        await page.fill("#first_day", day.isoformat())
        await page.fill("#starts", "18:00")
        await page.fill("#ends", "20:00")
        await page.click("text=Schedule the activity")
        await page.wait_for_url("**/workspace/activities/calendar**")
        await page.click("a[href*='/workspace/activities/occurrences/']")
        occurrence_url = page.url.split("?")[0]
        await page.select_option("#participant_id", amina_id)
        await page.click("form button:has-text('Sign up')")
        await page.wait_for_load_state()
        await page.goto(f"{occurrence_url}/check-in?lang=en")
        await page.click(f"#came-{amina_id}")
        await page.wait_for_selector(f"#came-{amina_id}:not(.sv-button--secondary)")

        # The review of the days from today to the café's: the new pair and the attendance counted.
        review = f"{stack.web_url}/workspace/review?from={stockholm_today()}&to={day}&lang=en"

        async def counted() -> bool:
            await page.goto(review)
            return (await figure(page, "new_pairs"), await figure(page, "attended_registered")) == ("1", "1")

        await eventually(counted, timeout=30)
        assert await figure(page, "registered_newcomers") == "1"

        await page.click("text=Make a PDF of the review")
        link = page.locator("#pdf-status a[download]")
        await link.wait_for(timeout=60_000)  # htmx polls the status line until reporting's worker is done
        async with page.expect_download() as download_info:
            await link.click()
        path = await (await download_info.value).path()
        with open(path, "rb") as pdf:
            assert pdf.read(5) == b"%PDF-"
