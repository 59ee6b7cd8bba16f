"""The browser fixtures of the web front's tests: one headless Chromium for the whole session, a fresh
context (cookies, storage) per test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from .browsing import CHROMIUM


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    # bypass_csp: the pages allow no inline script, and axe is injected as one.
    context = await browser.new_context(viewport={"width": 1024, "height": 900}, bypass_csp=True)
    yield await context.new_page()
    await context.close()


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    """A phone's width (360 CSS pixels, touch), for pages used at the door of a café."""
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, bypass_csp=True, has_touch=True, is_mobile=True
    )
    yield await context.new_page()
    await context.close()
