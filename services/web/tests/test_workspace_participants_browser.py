"""Every page of the workspace's participants and settings, in Swedish and English, in a real browser:
0 axe-core violations of WCAG 2.0/2.1 A and AA (also with the error summaries showing); the filters
swap only the results with htmx."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

from sprakvan_shared.auth import Role
from sprakvan_web.service_layer.accounts import create_local_user
from tests import factories
from tests.kit import ORG_A, ServiceStarter, mint_token

from .browsing import axe_violations
from .stack import workspace_stack

pytestmark = pytest.mark.infra
PASSWORD = "correct horse battery staple"


async def test_every_participants_and_settings_page_has_no_wcag_a_or_aa_violations(
    start_service: ServiceStarter, page: Page
) -> None:
    async with workspace_stack(start_service) as stack:
        await create_local_user(
            stack.web.pool, organisation_id=ORG_A, username="samordnare", password=PASSWORD, role=Role.ADMIN
        )
        auth = {"Authorization": f"Bearer {mint_token(ORG_A, 'coordinator')}"}
        amina = (await stack.intake.client.post("/participants", json=factories.newcomer(), headers=auth)).json()["id"]
        karin = (await stack.intake.client.post("/participants", json=factories.established(), headers=auth)).json()
        await stack.intake.client.post(
            f"/participants/{amina}/interviews", json={"held_on": "2026-11-20", "notes": "Fika."}, headers=auth
        )
        await page.goto(f"{stack.web_url}/login?lang=sv")
        await page.fill("#username", "samordnare")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/workspace?lang=sv")

        found: dict[str, list[dict[str, Any]]] = {}

        async def check(name: str) -> None:
            violations = await axe_violations(page)
            if violations:
                found[name] = violations

        base = f"{stack.web_url}/workspace"
        for lang in ("sv", "en"):
            for name, path in (
                ("list", "/participants"),
                ("profile", f"/participants/{amina}"),
                ("established profile", f"/participants/{karin['id']}"),
                ("edit", f"/participants/{karin['id']}/edit"),
                ("erase", f"/participants/{amina}/erase"),
                ("settings", "/settings"),
                ("vocabularies", "/settings/vocabularies"),
            ):
                await page.goto(f"{base}{path}?lang={lang}")
                await check(f"{lang} {name}")
            await page.goto(f"{base}/participants/{amina}?lang={lang}")
            await page.select_option("#reason", "")
            await page.click("form[action*='/withdraw'] button[type=submit]")
            await page.wait_for_selector(".sv-error-summary")
            await check(f"{lang} profile with an error")
            await page.goto(f"{base}/participants/{karin['id']}/edit?lang={lang}")
            await page.fill("#first_name", "")
            await page.click("form[action*='/edit'] button[type=submit]")
            await page.wait_for_selector(".sv-error-summary")
            await check(f"{lang} edit with an error")

        # htmx: a filter swaps only the results; the URL follows (without JavaScript it is a GET form).
        await page.goto(f"{base}/participants?lang=en")
        await page.evaluate("window.sameDocument = true")
        await page.select_option("#filter-role", "established")
        await page.wait_for_function("document.querySelectorAll('#participant-results tbody tr').length === 1")
        assert await page.evaluate("window.sameDocument === true") and "role=established" in page.url
        await page.fill("#filter-name", "amin")
        await page.select_option("#filter-role", "")
        await page.wait_for_function(
            "document.querySelector('#participant-results tbody')?.innerText.includes('Amina')"
            " && document.querySelectorAll('#participant-results tbody tr').length === 1"
        )
        await check("en list searched")
        assert found == {}
