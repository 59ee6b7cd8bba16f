"""The partnership review in the workspace, on the whole system: participants registered through intake are
counted by reporting and shown with the year before beside them; the partnership is recorded in the
settings (admin, with its version), a narrative part is written and kept, CSV and PDF come through the web
front; a viewer sees and downloads but changes nothing; another organisation sees none of it."""

from __future__ import annotations

import re
from datetime import date

import httpx

from tests import factories
from tests.kit import ORG_B, ServiceStarter, eventually, mint_token

from .stack import WorkspaceStack, csrf_of, workspace_stack

THIS_YEAR = date.today().year
# Two years, so that the year before (a year earlier, also two years) includes today as well.
TWO_YEARS = {"from": f"{THIS_YEAR}-01-01", "to": f"{THIS_YEAR + 1}-12-31"}


def figure(html: str, name: str, period: str = "current") -> str:
    """The raw value of a key figure, as the page names it (``data-figure``, ``data-period``)."""
    row = re.search(rf'<tr data-figure="{name}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"no figure {name}"
    return re.search(rf'data-period="{period}" data-value="([^"]*)"', row.group(1)).group(1)


async def register_participants(stack: WorkspaceStack) -> None:
    auth = {"Authorization": f"Bearer {mint_token(role='coordinator')}"}
    bodies = [
        factories.newcomer(),
        factories.newcomer(first_name="Omar", gender="man", email="omar@example.org"),
        factories.established(),
    ]
    for body in bodies:
        created = await stack.intake.client.post("/participants", json=body, headers=auth)
        assert created.status_code == 201, created.text

    async def counted() -> bool:
        review = await stack.reporting.client.get(
            "/reviews", params={"from": f"{THIS_YEAR}-01-01", "to": f"{THIS_YEAR}-12-31"}, headers=auth
        )
        totals = review.json()["figures"]["current"]["registrations"]["total_by_role"]
        return totals == {"newcomer": 2, "established": 1}

    await eventually(counted)


def partnership_form(csrf: str, version: str = "", **overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "version": version,
        "title": "Vi ses! Språkvänner",
        "programme": "",
        "valid_from": f"{THIS_YEAR}-01-01",
        "valid_to": f"{THIS_YEAR + 2}-12-31",
        "purpose": "Ett mer inkluderande Linköping.",
        "partner-0-name": "Linköpings kommun",
        "partner-0-contribution": "600000",
        "partner-0-covers": "Projektledare",
        "partner-1-name": "Röda Korset",
        "partner-1-contribution": "477 600",
        "partner-1-covers": "OH, lokaler, resor",
        "goal-0-kind": "more_new_pairs",
        "goal-1-kind": "regular_activity_in_district",
        "goal-1-district": "ryd",
        "goal-2-kind": "text",
        "goal-2-text": "Fler aktiviteter i Ryd.",
    }
    return form | overrides


async def test_the_review_counts_registrations_keeps_the_narrative_and_downloads_csv_and_pdf(
    start_service: ServiceStarter,
) -> None:
    async with workspace_stack(start_service) as stack:
        await register_participants(stack)
        async with stack.user("admin") as admin, stack.user("coordinator") as coordinator:
            # The partnership, recorded by an admin in the settings.
            settings = await admin.get("/workspace/settings/partnership/new?lang=en")
            assert settings.status_code == 200, settings.text
            created = await admin.post(
                "/workspace/settings/partnership/new?lang=en", data=partnership_form(csrf_of(settings.text))
            )
            assert created.status_code == 303, created.text
            edit_url = created.headers["location"]
            edit = await admin.get(edit_url)
            assert "Röda Korset" in edit.text and 'value="477600"' in edit.text

            year = await coordinator.get(f"/workspace/review?lang=en&year={THIS_YEAR}")
            assert year.status_code == 200, year.text
            assert figure(year.text, "registered_newcomers") == "2"
            assert figure(year.text, "registered_newcomers", "previous") == "0"
            assert figure(year.text, "registered_established_women") == "1"
            assert "Vi ses! Språkvänner" in year.text and "Linköpings kommun" in year.text
            assert "Not met" in year.text and "Fler aktiviteter i Ryd." in year.text  # goals in words

            two = await coordinator.get("/workspace/review", params={"lang": "sv", **TWO_YEARS})
            assert figure(two.text, "registered_newcomers") == "2"
            assert figure(two.text, "registered_newcomers", "previous") == "2"  # today is in the year before too
            assert 'lang="sv"' in two.text and "Antal anmälda nyanlända" in two.text

            # A narrative part, written and kept; a stale form (someone saved since) is refused in words.
            page = await coordinator.get(f"/workspace/review?lang=en&year={THIS_YEAR}")
            form = _narrative_form(page.text, "summary")
            saved = await coordinator.post("/workspace/review/narrative?lang=en", data=form | {"text": "It works."})
            assert saved.status_code == 303, saved.text
            again = await coordinator.get(saved.headers["location"])
            assert "It works.</textarea>" in again.text and "Saved." in again.text
            stale = await coordinator.post(
                "/workspace/review/narrative?lang=en", data=form | {"text": "Mine, written meanwhile."}
            )
            assert stale.status_code == 409 and "Someone else saved the narrative" in stale.text
            assert "Mine, written meanwhile.</textarea>" in stale.text and "It works." in stale.text
            background = await coordinator.post(
                "/workspace/review/narrative?lang=en",
                data=_narrative_form(again.text, "background") | {"text": "Sedan januari."},
            )
            assert background.status_code == 303
            both = await coordinator.get(background.headers["location"])
            assert "Sedan januari.</textarea>" in both.text and "It works.</textarea>" in both.text

            # Downloads through the web front.
            csv = await coordinator.get(
                f"/workspace/review/tables/registrations_by_gender.csv?lang=sv&year={THIS_YEAR}"
            )
            assert csv.status_code == 200 and csv.headers["content-type"] == "text/csv; charset=utf-8"
            assert csv.headers["content-disposition"].startswith('attachment; filename="registrations_by_gender_')
            assert "Nyanlända;Kvinnor;1;0" in csv.content.decode("utf-8-sig")
            chart = await coordinator.get(f"/workspace/review/charts/registrations.svg?lang=en&year={THIS_YEAR}")
            assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
            render_link = await _download_pdf(coordinator, page.text)

            await _settings_conflicts_and_problems_in_words(stack, admin, edit_url)
        await _viewer_sees_and_downloads_but_changes_nothing(stack)
        await _another_organisation_sees_none_of_it(stack, edit_url, render_link)


async def _settings_conflicts_and_problems_in_words(stack: WorkspaceStack, admin: httpx.AsyncClient, url: str) -> None:
    opened = await admin.get(url)
    version = re.search(r'name="version" value="(\d+)"', opened.text).group(1)
    async with stack.user("admin") as other_admin:
        theirs = await other_admin.get(url)
        changed = await other_admin.post(
            url, data=partnership_form(csrf_of(theirs.text), version, **{"partner-0-contribution": "650000"})
        )
        assert changed.status_code == 303
    mine = partnership_form(csrf_of(opened.text), version, **{"partner-1-covers": "Lokaler"})
    refused = await admin.post(url, data=mine)
    assert refused.status_code == 409 and "Someone else changed this partnership" in refused.text
    assert 'value="Lokaler"' in refused.text and "650000" in refused.text  # mine kept, theirs shown
    wrong = partnership_form(
        csrf_of(opened.text), str(int(version) + 1), valid_to="2000-01-01", **{"partner-0-contribution": "many"}
    )
    problems = await admin.post(url, data=wrong)
    assert problems.status_code == 422
    assert (
        "The partnership ends before it starts." in problems.text and 'href="#partner-0-contribution"' in problems.text
    )
    assert 'id="valid_to" name="valid_to" value="2000-01-01" aria-invalid="true"' in problems.text
    listed = await admin.get("/workspace/settings/partnership?lang=sv")
    assert "Vi ses! Språkvänner" in listed.text and "Linköpings kommun, Röda Korset" in listed.text


async def _viewer_sees_and_downloads_but_changes_nothing(stack: WorkspaceStack) -> None:
    async with stack.user("viewer") as viewer:
        page = await viewer.get(f"/workspace/review?lang=en&year={THIS_YEAR}")
        assert figure(page.text, "registered_newcomers") == "2" and "It works." in page.text
        assert "<textarea" not in page.text  # no narrative forms
        csv = await viewer.get(f"/workspace/review/tables/pairs.csv?lang=en&year={THIS_YEAR}")
        assert csv.status_code == 200 and csv.headers["content-type"] == "text/csv; charset=utf-8"
        narrative = _narrative_form(page.text, "summary") | {"csrf_token": csrf_of(page.text), "text": "x"}
        assert (await viewer.post("/workspace/review/narrative", data=narrative)).status_code == 403
        assert (await viewer.get("/workspace/settings/partnership")).status_code == 403
        assert (await viewer.post("/workspace/settings/partnership/new", data={"title": "x"})).status_code == 403


async def _another_organisation_sees_none_of_it(stack: WorkspaceStack, edit_url: str, render_link: str) -> None:
    async with stack.user("admin", organisation=ORG_B) as stranger:
        page = await stranger.get(f"/workspace/review?lang=en&year={THIS_YEAR}")
        assert page.status_code == 200 and figure(page.text, "registered_newcomers") == "0"
        assert "Vi ses! Språkvänner" not in page.text and "It works." not in page.text
        assert (await stranger.get(edit_url)).status_code == 404
        listed = await stranger.get("/workspace/settings/partnership")
        assert "Vi ses! Språkvänner" not in listed.text
        assert (await stranger.get(render_link)).status_code == 404


def _narrative_form(html: str, part: str) -> dict[str, str]:
    section = re.search(rf'<section id="narrative-{part}".*?</section>', html, re.S).group(0)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', section))
    return fields


async def _download_pdf(client: httpx.AsyncClient, page: str) -> str:
    form = re.search(r'<form method="post" action="(/workspace/review/pdf[^"]*)">(.*?)</form>', page, re.S)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
    asked = await client.post(form.group(1), data=fields)
    assert asked.status_code == 303, asked.text
    link = asked.headers["location"]
    waiting = await client.get(link)
    assert waiting.status_code == 200 and "text/html" in waiting.headers["content-type"]

    async def ready() -> httpx.Response | None:
        fetched = await client.get(link)
        return fetched if fetched.headers["content-type"] == "application/pdf" else None

    pdf = await eventually(ready, timeout=60, interval=0.5)  # the worker process imports WeasyPrint first
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-disposition"].startswith("attachment;")
    return link
