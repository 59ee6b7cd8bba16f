"""The web front in a real browser: Debian's Chromium, headless, driven by Playwright, one browser for
the whole test session; axe-core (vendored from ``npm pack axe-core@4.14.1``) injected into each page.

Every page in every locale must have 0 violations of the WCAG 2.0/2.1 A and AA rules. A keyboard-only
test fills in and sends the form; a screenshot shows Arabic mirrored; an Arabic sign-up reaches a real
intake and a coordinator sees it after logging in.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

from sprakvan_shared.auth import Role
from sprakvan_web.domain.locales import LOCALES
from sprakvan_web.service_layer.accounts import create_local_user
from tests.kit import ORG_A, ServiceStarter

from .browsing import ARTIFACTS, axe_violations
from .stack import Stack, web_stack

pytestmark = pytest.mark.infra

PASSWORD = "correct horse battery staple"


async def log_in(page: Page, stack: Stack, username: str, lang: str = "sv") -> None:
    await page.goto(f"{stack.web_url}/login?lang={lang}")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/workspace**")


async def test_every_page_in_every_locale_has_no_wcag_a_or_aa_violations(
    start_service: ServiceStarter, page: Page
) -> None:
    async with web_stack(start_service) as stack:
        await create_local_user(
            stack.web.pool, organisation_id=ORG_A, username="koordinator", password=PASSWORD, role=Role.ADMIN
        )
        found: dict[str, list[dict[str, Any]]] = {}

        async def check(name: str) -> None:
            violations = await axe_violations(page)
            if violations:
                found[name] = violations

        for locale in LOCALES:
            lang = locale.code
            for path in ("/", "/accessibility", "/login", "/signup/nowhere/sprakvan"):
                await page.goto(f"{stack.web_url}{path}?lang={lang}")
                await check(f"{lang} {path}")
            await page.goto(stack.signup_url(lang))
            await check(f"{lang} sign-up form")
            await page.click("button[type=submit]")  # empty: every error at once
            await page.wait_for_selector(".sv-error-summary")
            await check(f"{lang} sign-up form with errors")
            await page.goto(f"{stack.web_url}/signup/{ORG_A}/sprakvan/thanks?lang={lang}")
            await check(f"{lang} confirmation")
        await log_in(page, stack, "koordinator")
        for locale in LOCALES:
            await page.goto(f"{stack.web_url}/registrations?lang={locale.code}")
            await check(f"{locale.code} registrations")
            await page.goto(f"{stack.web_url}/admin/users?lang={locale.code}")
            await check(f"{locale.code} users")
        assert found == {}


async def tab_to(page: Page, selector: str, *, limit: int = 200) -> None:
    """Press Tab until ``selector`` has the focus (the keyboard is all that moves it)."""
    for _ in range(limit):
        if await page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


async def test_the_form_can_be_filled_in_and_sent_with_the_keyboard_alone(
    start_service: ServiceStarter, page: Page
) -> None:
    async with web_stack(start_service) as stack:
        await page.goto(stack.signup_url("en"))
        # Sent empty first: the error summary takes the focus, is announced (role=alert), links to the fields.
        await tab_to(page, "button[type=submit]")
        await page.keyboard.press("Enter")
        await page.wait_for_selector(".sv-error-summary")
        summary = page.locator(".sv-error-summary")
        assert await summary.get_attribute("role") == "alert"
        assert await page.evaluate("document.activeElement.classList.contains('sv-error-summary')")
        assert "Enter your first name" in await summary.inner_text()
        await tab_to(page, ".sv-error-summary a[href='#first_name']")
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.id") == "first_name"
        assert await page.get_attribute("#first_name", "aria-describedby") == "first_name-error"

        await page.keyboard.type("Karin")
        await tab_to(page, "#email")
        await page.keyboard.type("karin@example.org")
        await tab_to(page, "input[name=role]")
        await page.keyboard.press("ArrowDown")  # radio group: the arrow moves to "I live in Sweden" and checks it
        await tab_to(page, "input[name=gender]")
        await page.keyboard.press("Space")  # the first option, Woman
        await tab_to(page, "#birth_year")
        await page.keyboard.type("1962")
        await tab_to(page, "#district")
        await page.keyboard.press("ArrowDown")
        await tab_to(page, "#capacity")
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("ArrowDown")
        await tab_to(page, "#interests-chess")
        await page.keyboard.press("Space")
        await tab_to(page, "#availability-thu-evening")
        await page.keyboard.press("Space")
        await tab_to(page, "#consent_data")
        await page.keyboard.press("Space")
        await tab_to(page, "button[type=submit]")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/thanks?lang=en")
        assert await page.locator("h1").inner_text() == "Thank you for signing up"

        token = stack.web.app.state.web.issuer.mint(
            subject="test", organisation_id=ORG_A, role=Role.VIEWER, audience="intake"
        )
        listed = await stack.intake.client.get("/participants", headers={"Authorization": f"Bearer {token}"})
        (karin,) = listed.json()["items"]
        assert karin["role"] == "established" and karin["capacity"] == 2 and karin["gender"] == "woman"
        assert karin["interests"] == ["chess"] and karin["birth_year"] == 1962
        assert karin["availability"] == [{"weekday": "thu", "part_of_day": "evening"}]


async def test_arabic_is_mirrored_reaches_intake_and_a_coordinator_sees_it(
    start_service: ServiceStarter, page: Page
) -> None:
    async with web_stack(start_service) as stack:
        await create_local_user(
            stack.web.pool, organisation_id=ORG_A, username="koordinator", password=PASSWORD, role=Role.COORDINATOR
        )
        await page.goto(stack.signup_url("ar"))
        assert await page.evaluate("document.documentElement.dir") == "rtl"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "signup-ar.png"), full_page=False)
        # Mirrored: the heading's text starts at the right edge of its box, the brand sits at the right of
        # the header, and a radio button is right of its label.
        edges = await page.evaluate(
            """() => { const h = document.querySelector('h1'); const r = document.createRange();
                       r.selectNodeContents(h); const t = r.getBoundingClientRect(), b = h.getBoundingClientRect();
                       return {gapStart: b.right - t.right, gapEnd: t.left - b.left}; }"""
        )
        assert edges["gapStart"] < 2 < edges["gapEnd"], edges
        brand = await page.locator(".sv-brand").bounding_box()
        assert brand is not None and brand["x"] > page.viewport_size["width"] / 2
        radio = await page.locator("#role-newcomer").bounding_box()
        label = await page.get_by_text("أنا جديد في السويد").bounding_box()
        assert radio is not None and label is not None and radio["x"] > label["x"]
        # An untranslated referral source label is isolated, the Swedish consent original shown beside.
        assert await page.locator(".sv-original[lang=sv]").count() == 1

        await page.get_by_label("أنا جديد في السويد").check()
        await page.fill("#first_name", "أمينة")
        await page.fill("#phone", "070 123 45 67")
        await page.get_by_label("امرأة").check()
        await page.fill("#birth_year", "1991")
        await page.select_option("#district", "skaggetorp")
        await page.select_option("#native_language", "ar")
        await page.select_option("#swedish_level", "A1")
        await page.check("#interests-cooking")
        await page.check("#consent_data")
        await page.click("button[type=submit]")
        await page.wait_for_url("**/thanks?lang=ar")
        assert await page.locator("h1").inner_text() == "شكرًا لتسجيلك"
        await page.screenshot(path=str(ARTIFACTS / "thanks-ar.png"))

        await log_in(page, stack, "koordinator")
        await page.goto(f"{stack.web_url}/registrations?lang=sv")
        rows = page.locator("#registrations tbody tr")
        assert await rows.count() == 1
        assert "أمينة" in await rows.first.inner_text()
        assert "Skäggetorp" in await rows.first.inner_text()
        assert "العربية" in await rows.first.inner_text()  # the language to contact her in
        # htmx: changing the filter swaps only the table (the page stays; without JavaScript it is a GET form).
        await page.evaluate("window.sameDocument = true")
        await page.select_option("#filter-role", "established")
        await page.wait_for_function("document.querySelectorAll('#registrations tbody tr').length === 0")
        assert await page.evaluate("window.sameDocument === true")
