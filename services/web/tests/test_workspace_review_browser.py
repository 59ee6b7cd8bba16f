"""Every page of the partnership review and its settings in a real browser, in Swedish and English: 0 axe
violations (WCAG 2.0/2.1 A and AA), and the charts load as images under the page's CSP."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from playwright.async_api import Page

from sprakvan_shared.auth import Role
from sprakvan_web.service_layer.accounts import create_local_user
from tests.kit import ORG_A, ServiceStarter, mint_token

from .browsing import axe_violations
from .stack import workspace_stack
from .test_workspace_review import register_participants

pytestmark = pytest.mark.infra

PASSWORD = "correct horse battery staple"
YEAR = date.today().year


async def test_every_review_page_in_swedish_and_english_has_no_wcag_a_or_aa_violations(
    start_service: ServiceStarter, page: Page
) -> None:
    async with workspace_stack(start_service) as stack:
        await register_participants(stack)
        admin = {"Authorization": f"Bearer {mint_token(role='admin')}"}
        created = await stack.reporting.client.post("/partnerships", json=_partnership(), headers=admin)
        assert created.status_code == 201, created.text
        partnership = created.json()["id"]
        narrative = f"/partnerships/{partnership}/narratives/{YEAR}-01-01/{YEAR}-12-31"
        first = {**admin, "If-Match": '"0"'}  # none written yet
        saved = await stack.reporting.client.put(narrative, json={"summary": "Det fungerar."}, headers=first)
        assert saved.status_code == 200, saved.text
        await create_local_user(
            stack.web.pool, organisation_id=ORG_A, username="samordnare", password=PASSWORD, role=Role.ADMIN
        )
        await page.goto(f"{stack.web_url}/login?lang=sv")
        await page.fill("#username", "samordnare")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
        found: dict[str, list[dict[str, Any]]] = {}

        async def visit(name: str, path: str) -> None:
            await page.goto(f"{stack.web_url}{path}")
            violations = await axe_violations(page)
            if violations:
                found[name] = violations

        for lang in ("sv", "en"):
            await visit(f"{lang} review", f"/workspace/review?lang={lang}&year={YEAR}")
            charts = page.locator(".sv-review-chart img")
            assert await charts.count() == 3
            for index in range(3):  # the page's load event waited for its images
                loaded = await charts.nth(index).evaluate("img => img.complete && img.naturalWidth > 0")
                assert loaded, f"{lang}: chart {index} did not load"
            assert (
                await page.locator('[data-figure="registered_newcomers"] [data-period="current"]').inner_text() == "2"
            )
            await visit(f"{lang} review with a problem", f"/workspace/review?lang={lang}&from=2019-13-01&to=x")
            await visit(f"{lang} review", f"/workspace/review?lang={lang}&year={YEAR}")
            await page.click(".sv-review-downloads button[type=submit]")
            await page.wait_for_selector("#pdf-status")
            violations = await axe_violations(page)
            if violations:
                found[f"{lang} pdf"] = violations
            await visit(f"{lang} partnerships", f"/workspace/settings/partnership?lang={lang}")
            await visit(f"{lang} new partnership", f"/workspace/settings/partnership/new?lang={lang}")
            await visit(f"{lang} partnership", f"/workspace/settings/partnership/{partnership}?lang={lang}")
            await page.fill("#title", "")
            await page.click(".sv-partnership button[type=submit]:not([name])")
            await page.wait_for_selector(".sv-error-summary")
            violations = await axe_violations(page)
            if violations:
                found[f"{lang} partnership with a problem"] = violations
        assert found == {}


def _partnership() -> dict[str, Any]:
    return {
        "title": "Vi ses! Språkvänner",
        "valid_from": f"{YEAR}-01-01",
        "valid_to": f"{YEAR + 2}-12-31",
        "purpose": "Ett mer inkluderande Linköping.",
        "partners": [
            {"name": "Linköpings kommun", "yearly_contribution_sek": 600000, "covers": "Projektledare"},
            {"name": "Röda Korset", "yearly_contribution_sek": 477600, "covers": "OH, lokaler, resor"},
        ],
        "goals": [
            {"kind": "more_new_pairs"},
            {"kind": "regular_activity_in_district", "district": "ryd"},
            {"kind": "text", "text": "Fler aktiviteter i Ryd."},
        ],
    }
