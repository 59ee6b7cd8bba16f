"""The import pages in a real browser, in Swedish and English: the upload form (also with its error
summary), the dry run's page (htmx polls it, and it reloads whole once the dry run is over) with its summary
and a refused row, the run's page and the summary of what was done; a run's progress, a run that stopped
and a dry run that stopped, each in one language: 0 axe violations (WCAG 2.0/2.1 A and AA)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.async_api import Page

from sprakvan_shared.auth import Role
from sprakvan_web.service_layer.accounts import create_local_user
from tests.kit import ORG_A, ServiceStarter

from .browsing import axe_violations
from .stack import workspace_stack
from .test_workspace_import import XLSX, history_file

pytestmark = pytest.mark.infra

PASSWORD = "correct horse battery staple"
PAGE = "/workspace/settings/import"


async def test_every_import_page_in_swedish_and_english_has_no_wcag_a_or_aa_violations(
    start_service: ServiceStarter, page: Page
) -> None:
    async with workspace_stack(start_service) as stack:
        await create_local_user(
            stack.web.pool, organisation_id=ORG_A, username="importer", password=PASSWORD, role=Role.ADMIN
        )
        await page.goto(f"{stack.web_url}/login?lang=sv")
        await page.fill("#username", "importer")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
        found: dict[str, list[dict[str, Any]]] = {}

        async def check(name: str) -> None:
            violations = await axe_violations(page)
            if violations:
                found[name] = violations

        for lang in ("sv", "en"):
            await page.goto(f"{stack.web_url}{PAGE}?lang={lang}")
            await check(f"{lang} upload")
            await page.click(".sv-import-form button[type=submit]")  # no file chosen
            await page.wait_for_selector(".sv-error-summary")
            await check(f"{lang} upload with a problem")
            await page.set_input_files("#file", files=[{"name": "historik.xlsx", "mimeType": XLSX,
                                                        "buffer": history_file()}])  # fmt: skip
            await page.click(".sv-import-form button[type=submit]")
            await page.wait_for_selector(".sv-import-refused", timeout=90_000)  # the dry run's page, when done
            await check(f"{lang} dry run")
            await page.click(".sv-import-confirm button[type=submit]")
            await page.wait_for_selector(".sv-import-counts", timeout=90_000)  # the run's page, reloaded when done
            assert await page.locator(".sv-import-confirm").count() == 0  # done: nothing more to confirm
            await check(f"{lang} done")
        # A run's progress (as another replica's run would show), one that stopped and a dry run that stopped,
        # copied from a done run.
        sheets = [{"kind": "participants", "sheet": "deltagare", "rows": 4, "sent": 1000, "total": 3000,
                   "finished": False}]  # fmt: skip
        stale = "now() - interval '1 minute'"
        for lang, heartbeat, dry_run, name in (
            ("sv", "now()", False, "running"), ("en", stale, False, "stopped"), ("sv", stale, True, "dry run stopped")
        ):  # fmt: skip
            run_id = uuid.uuid4()
            await stack.web.pool.execute(
                "INSERT INTO import_runs (id, organisation_id, user_id, file_name, content, status, sheets,"
                f" heartbeat_at, dry_run) SELECT $1, organisation_id, user_id, file_name, '', 'running', $2,"
                f" {heartbeat}, $3 FROM import_runs LIMIT 1",
                run_id, sheets, dry_run,
            )  # fmt: skip
            await page.goto(f"{stack.web_url}{PAGE}/runs/{run_id}?lang={lang}")
            await page.wait_for_selector("#import-sheets")
            await check(f"{lang} {name}")
            again = page.locator(".sv-import-again button")
            if name == "running":
                assert await again.count() == 0
            else:  # a stopped run offers to run again, a dry run to check again
                assert await again.inner_text() == (
                    "Kontrollera historik.xlsx igen" if dry_run else "Import historik.xlsx again"
                )
        assert found == {}
