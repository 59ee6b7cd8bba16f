"""The workspace's participants and settings over HTTP (no browser), on the whole system: the list with its
filters, search and pages, the profile in words, registering on someone's behalf, the interview, editing
(with someone else's change meanwhile), withdrawal, erasure behind its confirmation; the vocabularies with
If-Match; a viewer who sees and cannot change; another organisation's participant is not found."""

from __future__ import annotations

import re

import httpx
import pytest

from tests import factories
from tests.kit import ORG_A, ORG_B, ServiceStarter, mint_token

from .people_forms import as_data, form_fields, with_values
from .stack import PROGRAMME, workspace_stack

pytestmark = pytest.mark.infra
LIST = "/workspace/participants"


def _auth(org: str = ORG_A) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(org, 'coordinator')}"}


async def _register(stack, body: dict, org: str = ORG_A) -> str:  # noqa: ANN001
    response = await stack.intake.client.post("/participants", json=body, headers=_auth(org))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="[^"]+"><bdi>([^<]+)</bdi>', html)


async def _post(client: httpx.AsyncClient, page: httpx.Response, action: str, **values: str) -> httpx.Response:
    return await client.post(f"{action}?lang=en", data=with_values(form_fields(page.text, action), **values))


async def test_a_coordinators_year_with_the_participants(start_service: ServiceStarter) -> None:
    async with workspace_stack(start_service) as stack:
        await factories.configure(stack.intake.client, [mint_token(ORG_B, "admin")])
        amina = await _register(stack, factories.newcomer())
        karin = await _register(stack, factories.established())
        elsewhere = await _register(stack, factories.newcomer(first_name="Other"), org=ORG_B)
        for i in range(50):
            await _register(stack, factories.newcomer(first_name=f"Person{i:02d}", last_name="Many"))

        async with stack.user("coordinator") as coordinator:
            # The list: newest first, paged by 50, filters and search; htmx gets only the results.
            first = await coordinator.get(f"{LIST}?lang=en")
            assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
            assert _names(first.text)[0] == "Person49 Many" and len(_names(first.text)) == 50
            next_url = re.search(r'<a href="([^"]+)">Next page</a>', first.text).group(1).replace("&amp;", "&")
            second = await coordinator.get(next_url)
            assert _names(second.text) == ["Karin Lindqvist", "Amina Haddad"]
            assert "Next page" not in second.text and "First page" in second.text
            established = await coordinator.get(f"{LIST}?lang=en&role=established")
            assert _names(established.text) == ["Karin Lindqvist"] and "Established resident" in established.text
            found = await coordinator.get(f"{LIST}?lang=en&name=HAD", headers={"HX-Request": "true"})
            assert _names(found.text) == ["Amina Haddad"] and "sv-workspace-nav" not in found.text
            assert "Skäggetorp" in found.text and "Language friends" in found.text  # words, not codes
            berga = await coordinator.get(f"{LIST}?lang=sv&district=berga&interviewed=no")
            assert _names(berga.text) == [] and "Inga deltagare" in berga.text
            odd = await coordinator.get(f"{LIST}?lang=en&role=nobody&cursor=forged")
            assert odd.status_code == 303 and "cursor" not in odd.headers["location"]  # a forged cursor: page 1
            assert (await coordinator.get(f"{LIST}?lang=en&name=a%00")).status_code == 422  # the kit's guard

            # The profile, in words.
            profile = await coordinator.get(f"{LIST}/{amina}?lang=en")
            assert profile.status_code == 200
            for words in ("Amina Haddad", "Coffee and cake", "Arabic (first language)", "A2: simple everyday",
                          "Tuesday evening", "amina.haddad@example.org", "SFI", "Not yet"):  # fmt: skip
                assert words in profile.text, words
            sv_profile = await coordinator.get(f"{LIST}/{amina}?lang=sv")
            assert "Promenader" in sv_profile.text and "Nyanländ" in sv_profile.text

            # The interview: a future date is refused at its field, then one is recorded.
            future = await _post(coordinator, profile, f"{LIST}/{amina}/interviews", held_on="2999-01-01")
            assert future.status_code == 422 and 'id="held_on-error"' in future.text
            done = await _post(
                coordinator, profile, f"{LIST}/{amina}/interviews", held_on="2026-11-20", notes="Likes chess."
            )
            assert done.status_code == 303
            profile = await coordinator.get(done.headers["location"])
            assert "The interview was recorded." in profile.text and "Likes chess." in profile.text
            assert "November 20, 2026" in profile.text
            interviewed = await coordinator.get(f"{LIST}?lang=en&interviewed=yes")
            assert _names(interviewed.text) == ["Amina Haddad"]

            # Editing: saved with its version; a stale version is someone else's change, said in words.
            edit = await coordinator.get(f"{LIST}/{amina}/edit?lang=en")
            saved = await _post(
                coordinator, edit, f"{LIST}/{amina}/edit", last_name="Haddad-Ali", district="berga", languages="uk"
            )
            assert saved.status_code == 303, saved.text[-2000:]
            profile = await coordinator.get(saved.headers["location"])
            assert "Amina Haddad-Ali" in profile.text and "Berga" in profile.text
            assert "Arabic (first language), Ukrainian (conversational)" in profile.text
            stale = await _post(coordinator, edit, f"{LIST}/{amina}/edit", last_name="Overwritten")
            assert stale.status_code == 409 and "Someone else changed these details meanwhile" in stale.text
            assert 'value="Overwritten"' in stale.text  # the form keeps what was typed
            no_contact = await _post(coordinator, edit, f"{LIST}/{amina}/edit", email="", phone="")
            assert no_contact.status_code == 422 and "Keep an email address or a phone number" in no_contact.text

            # Withdrawal with a reason; the interview form is gone.
            unreasoned = await _post(coordinator, profile, f"{LIST}/{amina}/withdraw", reason="")
            assert unreasoned.status_code == 422 and "Choose why the participant leaves" in unreasoned.text
            withdrawn = await _post(coordinator, profile, f"{LIST}/{amina}/withdraw", reason="moved")
            profile = await coordinator.get(withdrawn.headers["location"])
            assert "Moved away" in profile.text and "Record the interview" not in profile.text

            # Erasure: the confirmation says what goes and what the statistics keep, then intake erases.
            confirm = await coordinator.get(f"{LIST}/{amina}/erase?lang=en")
            assert "The name, the email address and the phone number" in confirm.text
            assert "pairs end" in confirm.text and "year of birth, district" in confirm.text
            erased = await _post(coordinator, confirm, f"{LIST}/{amina}/erase")
            assert erased.status_code == 303 and "done=erased" in erased.headers["location"]
            assert (await coordinator.get(f"{LIST}/{amina}?lang=en")).status_code == 404
            assert (await stack.intake.client.get(f"/participants/{amina}", headers=_auth())).status_code == 404

            # Another organisation's participant does not exist here.
            assert (await coordinator.get(f"{LIST}/{elsewhere}?lang=en")).status_code == 404
            assert (await coordinator.get(f"{LIST}/{elsewhere}/edit?lang=en")).status_code == 404
            assert (await coordinator.get(f"{LIST}/not-an-id?lang=en")).status_code == 404

            # Registering someone: the public form filled in together, back to the new profile.
            signup_link = re.search(r'href="(/signup/[^"]+assisted=1[^"]*)"', first.text).group(1)
            form = await coordinator.get(signup_link.replace("&amp;", "&"))
            action = f"/signup/{ORG_A}/{PROGRAMME}"
            hidden = {"lang", "form_token", "assisted", "csrf_token"}
            fields = [(n, v) for n, v in form_fields(form.text, action) if n in hidden] + [
                ("role", "established"), ("first_name", "Bo"), ("email", "bo@example.org"), ("gender", "man"),
                ("birth_year", "1950"), ("district", "ryd"), ("capacity", "1"), ("consent_data", "yes"),
                ("contact_language", "sv"),
            ]  # fmt: skip
            registered = await coordinator.post(action, data=as_data(fields))
            assert registered.status_code == 303 and registered.headers["location"].startswith(f"{LIST}/")
            assert "Bo Ej angivet" in (await coordinator.get(registered.headers["location"])).text

        async with stack.user("viewer") as viewer:
            profile = await viewer.get(f"{LIST}/{karin}?lang=en")
            assert profile.status_code == 200 and "Karin Lindqvist" in profile.text
            assert '<form method="post"' not in profile.text.split("sv-workspace-nav")[1]
            assert "Register someone" not in (await viewer.get(f"{LIST}?lang=en")).text
            assert (await viewer.get(f"{LIST}/{karin}/edit?lang=en")).status_code == 403
            refused = await viewer.post(f"{LIST}/{karin}/withdraw?lang=en", data={"reason": "moved"})
            assert refused.status_code == 403
            assert (await viewer.get("/workspace/settings/vocabularies?lang=en")).status_code == 403
            assert "/workspace/settings/matching" in (await viewer.get("/workspace/settings?lang=en")).text

        await _vocabularies_are_edited_with_if_match(stack)


async def _vocabularies_are_edited_with_if_match(stack) -> None:  # noqa: ANN001
    """Part of the test above (one stack): a participant of ORG_A uses skaggetorp, fika, walks, cooking."""
    async with stack.user("admin") as admin, stack.user("admin") as other_admin:
        settings = await admin.get("/workspace/settings?lang=en")
        for link in ("/workspace/settings/vocabularies", "/workspace/settings/matching",
                     "/workspace/settings/partnership", "/admin/users"):  # fmt: skip
            assert f'href="{link}?lang=en"' in settings.text, link
        action = "/workspace/settings/vocabularies"
        page = await admin.get(f"{action}?lang=en")
        theirs = await other_admin.get(f"{action}?lang=en")
        assert page.status_code == 200 and "Skäggetorp" in page.text
        fields = form_fields(page.text, action)
        new_row = next(i for i in range(20) if (f"districts-{i}-existing", "1") not in fields)
        changed = with_values(
            fields,
            **{f"districts__{new_row}__code": "lambohov", f"districts__{new_row}__sv": "Lambohov",
               f"districts__{new_row}__en": "Lambohov", f"districts__{new_row}__neighbours": "ryd"},
        )  # fmt: skip
        saved = await admin.post(f"{action}?lang=en", data=changed)
        assert saved.status_code == 303, saved.text[-1500:]
        configuration = (await stack.intake.client.get("/configuration", headers=_auth())).json()
        lambohov = next(d for d in configuration["districts"] if d["code"] == "lambohov")
        assert lambohov["neighbours"] == ["ryd"]
        assert "Lambohov" in (await admin.get("/workspace/participants?lang=sv")).text  # no stale cache

        stale = await other_admin.post(f"{action}?lang=en", data=as_data(form_fields(theirs.text, action)))
        assert stale.status_code == 409 and "Another admin saved the vocabularies meanwhile" in stale.text
        assert "lambohov" in stale.text  # the form shows theirs now

        page = await admin.get(f"{action}?lang=sv")
        fika = next(n for n, v in form_fields(page.text, action) if v == "fika").rsplit("-", 1)[0]
        in_use = await admin.post(
            f"{action}?lang=sv", data=as_data([*form_fields(page.text, action), (f"{fika}-remove", "yes")])
        )
        assert in_use.status_code == 409 and "fika" in in_use.text and "används" in in_use.text
        skaggetorp = next(n for n, v in form_fields(page.text, action) if v == "skaggetorp").rsplit("-", 1)[0]
        bad = await admin.post(
            f"{action}?lang=en",
            data=with_values(form_fields(page.text, action), **{f"{skaggetorp.replace('-', '__')}__sv": ""}),
        )
        assert bad.status_code == 422 and "Districts, row 1, swedish" in bad.text
