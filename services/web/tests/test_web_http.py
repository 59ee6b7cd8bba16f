"""The web front over HTTP (no browser): sign-up to intake, spam rules, tokens, consent records."""

from __future__ import annotations

import re

import httpx
import jwt
import pytest

from tests.kit import ORG_A, ServiceStarter, eventually

from .stack import Stack, web_stack

pytestmark = pytest.mark.infra


def _form(html: str) -> dict[str, str]:
    token = re.search(r'name="form_token" value="([^"]+)"', html)
    assert token, html[:500]
    return {"form_token": token.group(1)}


def signup_fields(**overrides: str) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {
        "lang": "sv",
        "role": "newcomer",
        "first_name": "Amina",
        "email": "amina@example.org",
        "contact_language": "ar",
        "gender": "woman",
        "birth_year": "1991",
        "district": "skaggetorp",
        "native_language": "ar",
        "languages": ["en"],
        "swedish_level": "A2",
        "interests": ["fika", "walks"],
        "availability": ["tue-evening", "sat-morning"],
        "referral_source": "sfi",
        "consent_data": "yes",
        "website": "",
    }
    fields.update(overrides)
    return fields


async def _post(client: httpx.AsyncClient, stack: Stack, **overrides: str) -> httpx.Response:
    page = await client.get(stack.signup_url("sv"))
    assert page.status_code == 200, page.text
    return await client.post(stack.signup_url("sv").split("?")[0], data=signup_fields(**(_form(page.text) | overrides)))


async def _participants(stack: Stack) -> list[dict]:
    response = await stack.intake.client.get("/participants", headers=_intake_auth(stack))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _intake_auth(stack: Stack) -> dict[str, str]:
    token = stack.web.app.state.web.issuer.mint(
        subject="test", organisation_id=ORG_A, role="coordinator", audience="intake"
    )
    return {"Authorization": f"Bearer {token}"}


async def test_a_signup_registers_at_intake_and_keeps_its_consent_record(start_service: ServiceStarter) -> None:
    async with web_stack(start_service) as stack, httpx.AsyncClient(trust_env=False) as client:
        response = await _post(client, stack)
        assert response.status_code == 303, response.text
        assert response.headers["location"].endswith("/thanks?lang=sv")
        (registered,) = await _participants(stack)
        assert registered["first_name"] == "Amina"
        assert registered["last_name"] == "-"  # the form asks only the first name
        assert registered["languages"] == [{"code": "ar", "level": "native"}, {"code": "en", "level": "conversational"}]
        assert registered["availability"] == [
            {"weekday": "tue", "part_of_day": "evening"},
            {"weekday": "sat", "part_of_day": "morning"},
        ]
        record = await stack.web.pool.fetchrow(
            """SELECT s.*, t.body, t.language AS text_language FROM signups s
               JOIN consent_texts t ON t.text_sha256 = s.consent_sha256"""
        )
        assert str(record["participant_id"]) == registered["id"]
        assert record["consent_version"] == "2026-12-01"
        assert record["consent_language"] == "sv" and record["contact_language"] == "ar"
        assert record["channel"] == "web_form" and record["original_sha256"] is None
        assert "samordnare" in record["body"]
        assert record["shown_at"] <= record["given_at"]
        assert registered["consent"]["given_at"].startswith(record["given_at"].date().isoformat())


async def test_a_draft_locale_stores_the_swedish_original_beside_the_translation(start_service: ServiceStarter) -> None:
    async with web_stack(start_service) as stack, httpx.AsyncClient(trust_env=False) as client:
        page = await client.get(stack.signup_url("ar"))
        assert 'dir="rtl"' in page.text and 'lang="ar"' in page.text
        assert "لم يراجعها بعد متحدث أصلي" in page.text  # the draft notice
        assert "Originalet på svenska" not in page.text and "النص الأصلي باللغة السويدية" in page.text
        response = await client.post(
            stack.signup_url("ar").split("?")[0], data=signup_fields(**_form(page.text), lang="ar")
        )
        assert response.status_code == 303, response.text
        record = await stack.web.pool.fetchrow(
            "SELECT s.consent_language, o.body FROM signups s JOIN consent_texts o ON o.text_sha256 = s.original_sha256"
        )
        assert record["consent_language"] == "ar" and "samordnare" in record["body"]


async def test_the_honeypot_gets_a_fake_success_and_nothing_is_stored(start_service: ServiceStarter) -> None:
    async with web_stack(start_service) as stack, httpx.AsyncClient(trust_env=False) as client:
        response = await _post(client, stack, website="http://spam.example")
        assert response.status_code == 303 and response.headers["location"].endswith("/thanks?lang=sv")
        assert await _participants(stack) == []
        assert await stack.web.pool.fetchval("SELECT count(*) FROM signups") == 0


async def test_a_post_too_soon_after_the_form_was_served_gets_the_form_again(start_service: ServiceStarter) -> None:
    async with web_stack(start_service, form_min_seconds=60) as stack, httpx.AsyncClient(trust_env=False) as client:
        response = await _post(client, stack)
        assert response.status_code == 200
        assert "Kontrollera dina svar och skicka formuläret igen." in response.text
        assert 'value="Amina"' in response.text  # what was entered is kept
        assert await _participants(stack) == []


async def test_a_forged_time_token_gets_the_form_again(start_service: ServiceStarter) -> None:
    async with web_stack(start_service) as stack, httpx.AsyncClient(trust_env=False) as client:
        response = await _post(client, stack, form_token="1700000000.abc.0123456789abcdef0123456789abcdef")
        assert response.status_code == 200 and "skicka formuläret igen" in response.text
        assert await _participants(stack) == []


async def test_over_the_rate_limit_an_address_gets_429_with_retry_after(start_service: ServiceStarter) -> None:
    async with web_stack(start_service, rate_limit_posts=3) as stack, httpx.AsyncClient(trust_env=False) as client:
        statuses = [(await _post(client, stack, email=f"p{i}@example.org")).status_code for i in range(4)]
        assert statuses == [303, 303, 303, 429]
        limited = await _post(client, stack)
        assert limited.status_code == 429
        assert 0 < int(limited.headers["retry-after"]) <= 3601
        assert len(await _participants(stack)) == 3


async def test_field_errors_are_listed_and_linked_to_their_fields(start_service: ServiceStarter) -> None:
    async with web_stack(start_service) as stack, httpx.AsyncClient(trust_env=False) as client:
        response = await _post(client, stack, first_name="", email="not-an-address", consent_data="")
        assert response.status_code == 422
        html = response.text
        assert '<a href="#first_name">Skriv ditt förnamn</a>' in html
        assert '<a href="#email">Skriv en e-postadress, till exempel namn@example.com</a>' in html
        assert (
            'id="email" name="email" autocomplete="email" dir="ltr" value="not-an-address" aria-invalid="true"' in html
        )
        assert await _participants(stack) == []


async def test_tokens_are_short_lived_for_one_audience_and_verify_against_the_jwks(
    start_service: ServiceStarter,
) -> None:
    async with web_stack(start_service) as stack, httpx.AsyncClient(trust_env=False) as client:
        jwks = (await client.get(f"{stack.web_url}/.well-known/jwks.json")).json()
        (key,) = jwks["keys"]
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA" and "d" not in key
        token = stack.web.app.state.web.issuer.mint(
            subject="u1", organisation_id=ORG_A, role="viewer", audience="intake"
        )
        assert jwt.get_unverified_header(token)["kid"] == key["kid"]
        claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="intake", issuer="sprakvan")
        assert claims["org"] == ORG_A and claims["role"] == "viewer" and claims["exp"] - claims["iat"] == 300
        with pytest.raises(jwt.InvalidAudienceError):
            jwt.decode(token, jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="matching", issuer="sprakvan")
        # Intake refuses anything else, e.g. a token of the old shared secret:
        old = await stack.intake.client.get("/participants")
        assert old.status_code == 401


async def test_an_erased_participant_loses_the_consent_record_too(start_service: ServiceStarter) -> None:
    async with web_stack(start_service) as stack, httpx.AsyncClient(trust_env=False) as client:
        await stack.web.runtime.messaging_ready.wait()
        assert (await _post(client, stack)).status_code == 303
        (registered,) = await _participants(stack)
        erased = await stack.intake.client.delete(f"/participants/{registered['id']}", headers=_intake_auth(stack))
        assert erased.status_code in (200, 204), erased.text

        async def gone() -> bool:
            return await stack.web.pool.fetchval("SELECT count(*) FROM signups") == 0

        await eventually(gone)
