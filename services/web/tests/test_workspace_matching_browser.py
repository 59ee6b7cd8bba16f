"""Every page of the workspace's matching part, in Swedish and English, in a real browser: no WCAG 2.0/2.1
A or AA violations (axe), with a proposal, a formed pair, a meetup form and a refused manual pair on show."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

from sprakvan_shared.auth import Role
from sprakvan_web.service_layer.accounts import create_local_user
from tests import factories
from tests.kit import ORG_A, ServiceStarter, eventually

from .browsing import axe_violations
from .stack import workspace_stack

pytestmark = pytest.mark.infra

PASSWORD = "correct horse battery staple"
PROGRAMME = "sprakvan"
FREE = {"same_gender": False}


async def test_every_matching_page_in_swedish_and_english_has_no_wcag_violations(
    start_service: ServiceStarter, page: Page
) -> None:
    async with workspace_stack(start_service) as stack:
        people = [
            factories.newcomer(wishes=FREE),
            factories.newcomer(first_name="Yusuf", gender="man", wishes={"same_gender": True}),
            factories.newcomer(first_name="Sara", district="ryd", wishes=FREE),
            factories.established(wishes=FREE),
            factories.established(first_name="Erik", gender="man", district="ryd", capacity=1, wishes=FREE),
        ]
        ids = [(await stack.intake.client.post("/participants", json=body)).json()["id"] for body in people]
        matching = stack.matching.client

        async def known() -> bool:
            waiting = (await matching.get(f"/programmes/{PROGRAMME}/waiting")).json()
            return waiting.get("total") == 3

        await eventually(known)
        admin = stack.matching.as_(role="admin")
        settings = (await matching.get(f"/programmes/{PROGRAMME}/settings")).json() | {"eligibility": "all"}
        assert (
            await matching.put(f"/programmes/{PROGRAMME}/settings", json=settings, headers=admin)
        ).status_code == 200
        proposals = (await matching.post(f"/programmes/{PROGRAMME}/rounds", json={})).json()["proposals"]
        assert len(proposals) >= 2
        pair_id = next(p["pair_id"] for p in proposals if p["newcomer_id"] != ids[1])  # Yusuf stays waiting
        assert (await matching.post(f"/pairs/{pair_id}/accept")).status_code == 200

        await create_local_user(
            stack.web.pool, organisation_id=ORG_A, username="samordnare", password=PASSWORD, role=Role.ADMIN
        )
        await page.goto(f"{stack.web_url}/login?lang=sv")
        await page.fill("#username", "samordnare")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_load_state()

        found: dict[str, list[dict[str, Any]]] = {}
        paths = (
            "/workspace/matching",
            "/workspace/matching/pairs",
            f"/workspace/matching/pairs/{pair_id}",
            *(f"/workspace/matching/pairs/{p['pair_id']}" for p in proposals if p["pair_id"] != pair_id),
            "/workspace/matching/follow-ups",
            "/workspace/matching/meetups",
            "/workspace/matching/waiting",
            "/workspace/settings/matching",
        )
        for lang in ("sv", "en"):
            for path in paths:
                response = await page.goto(f"{stack.web_url}{path}?lang={lang}")
                assert response is not None and response.status == 200, path
                if violations := await axe_violations(page):
                    found[f"{lang} {path}"] = violations
            # A refused manual pair: the error summary and the field's error.
            await page.goto(f"{stack.web_url}/workspace/matching?lang={lang}")
            await page.select_option("#newcomer_id", ids[1])
            await page.select_option("#established_id", ids[3])
            await page.click("#manual ~ form button[type=submit]")
            await page.wait_for_selector(".sv-error-summary")
            if violations := await axe_violations(page):
                found[f"{lang} manual pair refused"] = violations
            # A meetup row with only one person: the row's error in the table.
            await page.goto(f"{stack.web_url}/workspace/matching/meetups?lang={lang}")
            await page.select_option("#newcomer-1", ids[1])
            await page.click("form[method=post] .sv-actions button:not([name=more])")
            await page.wait_for_selector("#newcomer-1-error")
            if violations := await axe_violations(page):
                found[f"{lang} meetup refused"] = violations
        assert found == {}
