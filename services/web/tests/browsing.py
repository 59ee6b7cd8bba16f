"""Real-browser testing of the web front: Debian's Chromium, headless, driven by Playwright (the ``browser``
and ``page`` fixtures are in conftest.py); axe-core (vendored from ``npm pack axe-core@4.14.1``) injected
into each page to count WCAG 2.0/2.1 A and AA violations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.async_api import Page

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("SPRAKVAN_TEST_ARTIFACTS", "/tmp/sprakvan-test-artifacts"))


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("opts => axe.run(document, opts)", WCAG_AA)
    assert len(result["passes"]) >= 10, "axe did not run its rules"  # a blank or broken page passes nothing
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]
