"""The workspace's frame on the whole system: login required, Swedish or English, every part linked, and
every workspace message translated into Swedish."""

from __future__ import annotations

from pathlib import Path

import httpx
from babel.messages.extract import extract_from_dir

from sprakvan_web.adapters.i18n import Translator
from sprakvan_web.domain import locales
from tests.kit import ServiceStarter

from .stack import workspace_stack

WEB = Path(__file__).parents[1] / "src" / "sprakvan_web"


async def test_the_overview_needs_a_login_and_links_every_part_in_swedish_or_english(
    start_service: ServiceStarter,
) -> None:
    async with workspace_stack(start_service) as stack:
        async with httpx.AsyncClient(base_url=stack.web_url, trust_env=False) as anonymous:
            away = await anonymous.get("/workspace")
            assert away.status_code == 303 and away.headers["location"].startswith("/login")
        async with stack.user("viewer") as viewer:
            swedish = await viewer.get("/workspace?lang=sv")
            assert swedish.status_code == 200 and 'lang="sv"' in swedish.text
            assert "Partnerskapsuppföljning" in swedish.text and 'aria-current="page"' in swedish.text
            english = await viewer.get("/workspace?lang=en")
            assert "Partnership review" in english.text
            arabic = await viewer.get("/workspace?lang=ar")  # the workspace is not translated further
            assert 'lang="sv"' in arabic.text and "العربية" not in arabic.text


def _workspace_messages() -> set[str]:
    found: set[str] = set()
    method_map = [("**/workspace/**.py", "python"), ("**/templates/workspace/**.html", "jinja2")]
    keywords = {"_": None, "text": None, "plain": None, "gettext": None}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, keywords=keywords, options_map={"**/templates/workspace/**.html": {}}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_workspace_message_has_a_swedish_translation() -> None:
    messages = _workspace_messages()
    assert "Partnership review" in messages and "Overview" in messages  # the extraction found them
    swedish = Translator(locales.find("sv"))
    untranslated = sorted(m for m in messages if "%(" not in m and swedish.text(m) == m)
    assert untranslated == []
