"""The web front over HTTP (no browser): sign-up to intake, spam rules, tokens, consent records."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from tests.kit import ORG_A, ServiceStarter, eventually

from .stack import Stack, csrf_of, web_stack

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
        assert registered["last_name"] == "Ej angivet"  # the form asks only the first name
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
        assert "> الطبخ</label>" in page.text  # an interest labelled by code in vocabulary.po
        # An interest the catalogue has no label for shows the configuration's English one, marked and isolated.
        tigrinya = await client.get(stack.signup_url("ti"))
        assert '> <bdi lang="en" dir="ltr">Chess</bdi></label>' in tigrinya.text
        assert '<span lang="en">Sign up to meet someone' in tigrinya.text  # an untranslated message
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


async def _logged_in(client: httpx.AsyncClient, stack: Stack, username: str, password: str) -> httpx.Response:
    page = await client.get(f"{stack.web_url}/login")
    csrf = csrf_of(page.text)
    return await client.post(
        f"{stack.web_url}/login", data={"csrf_token": csrf, "username": username, "password": password}
    )


async def test_the_first_admin_logs_in_and_manages_users_and_roles(start_service: ServiceStarter) -> None:
    password = "first admin password"
    async with web_stack(
        start_service, bootstrap_admin_org=ORG_A, bootstrap_admin_user="admin", bootstrap_admin_password=password
    ) as stack:
        async with httpx.AsyncClient(trust_env=False) as admin:
            assert (await _logged_in(admin, stack, "admin", "wrong password!!")).status_code == 401
            # A NUL (PostgreSQL cannot even compare it) or a bidi override is no user: 401, not a 500, not echoed.
            for hostile in ("admin\x00Zq9x", "admin\u202eZq9x"):
                refused = await _logged_in(admin, stack, hostile, password)
                assert refused.status_code == 401 and "Zq9x" not in refused.text
            logged_in = await _logged_in(admin, stack, "admin", password)
            assert logged_in.status_code == 303 and logged_in.headers["location"].startswith("/workspace")
            cookie = logged_in.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=lax" in cookie
            users = await admin.get(f"{stack.web_url}/admin/users")
            assert users.status_code == 200 and "admin" in users.text
            forged = await admin.post(
                f"{stack.web_url}/admin/users", data={"csrf_token": "x", "username": "eve", "role": "admin"}
            )
            assert forged.status_code == 400
            added = await admin.post(
                f"{stack.web_url}/admin/users",
                data={"csrf_token": csrf_of(users.text), "username": "kim", "role": "coordinator",
                      "password": "kims long password"},
            )  # fmt: skip
            assert added.status_code == 303
            admin_id = await stack.web.pool.fetchval("SELECT id FROM users WHERE subject = 'admin'")
            demoted = await admin.post(
                f"{stack.web_url}/admin/users/{admin_id}/role",
                data={"csrf_token": csrf_of(users.text), "role": "viewer"},
            )
            assert demoted.status_code == 409  # the last admin stays: the break-glass account
        async with httpx.AsyncClient(trust_env=False) as kim:
            assert (await _logged_in(kim, stack, "kim", "kims long password")).status_code == 303
            assert (await kim.get(f"{stack.web_url}/admin/users")).status_code == 403
            registrations = await kim.get(f"{stack.web_url}/registrations")
            assert registrations.status_code == 200 and "Anmälningar" in registrations.text
            async with httpx.AsyncClient(trust_env=False) as admin:
                await _logged_in(admin, stack, "admin", password)
                page = await admin.get(f"{stack.web_url}/admin/users")
                kim_id = await stack.web.pool.fetchval("SELECT id FROM users WHERE subject = 'kim'")
                own = await admin.post(
                    f"{stack.web_url}/admin/users/{admin_id}/disable", data={"csrf_token": csrf_of(page.text)}
                )
                assert own.status_code == 409
                removed = await admin.post(
                    f"{stack.web_url}/admin/users/{kim_id}/disable", data={"csrf_token": csrf_of(page.text)}
                )
                assert removed.status_code == 303
            assert (await kim.get(f"{stack.web_url}/registrations")).status_code == 303  # the session ended
            assert (await _logged_in(kim, stack, "kim", "kims long password")).status_code == 401
        rows = await stack.web.pool.fetch(
            "SELECT subject, role, issuer, disabled, password_hash FROM users ORDER BY subject"
        )
        assert [(r["subject"], r["role"], r["issuer"], r["disabled"]) for r in rows] == [
            ("admin", "admin", "local", False),
            ("kim", "coordinator", "local", True),
        ]
        assert all(r["password_hash"].startswith("$argon2id$") for r in rows)


async def test_a_coordinator_signs_someone_up_on_their_behalf(start_service: ServiceStarter) -> None:
    async with web_stack(start_service, form_min_seconds=60) as stack, httpx.AsyncClient(trust_env=False) as client:
        from sprakvan_web.service_layer.accounts import create_local_user

        await create_local_user(
            stack.web.pool, organisation_id=ORG_A, username="kim", password="kims long password", role="coordinator"
        )
        await _logged_in(client, stack, "kim", "kims long password")
        page = await client.get(stack.signup_url("sv") + "&assisted=1")
        assert 'name="assisted" value="1"' in page.text
        fields = signup_fields(**_form(page.text)) | {"assisted": "1", "csrf_token": csrf_of(page.text)}
        # Sent at once (a coordinator is no bot): no time-token wait in assisted mode.
        response = await client.post(stack.signup_url("sv").split("?")[0], data=fields)
        assert response.status_code == 303, response.text
        record = await stack.web.pool.fetchrow("SELECT channel, assisted_by FROM signups")
        kim = await stack.web.pool.fetchval("SELECT id FROM users WHERE subject = 'kim'")
        assert record["channel"] == "assisted" and record["assisted_by"] == kim


async def test_hostile_input_gets_a_4xx_or_the_form_never_a_500(start_service: ServiceStarter) -> None:
    async with web_stack(start_service) as stack, httpx.AsyncClient(trust_env=False) as client:
        url = stack.signup_url("sv").split("?")[0]
        page = await client.get(stack.signup_url("sv"))
        token = _form(page.text)
        too_many = urlencode([("interests", f"x{i}") for i in range(300)])
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        assert (await client.post(url, content=too_many, headers=form_type)).status_code == 400
        odd = signup_fields(**token) | {"birth_year": "١٩٩١", "capacity": "9" * 50, "role": "admin", "lang": "<x>"}
        answered = await client.post(url, data=odd)
        assert answered.status_code == 422 and "<x>" not in answered.text
        long_name = signup_fields(**token) | {"first_name": "A" * 5000}
        assert (await client.post(url, data=long_name)).status_code == 422
        for path in ("/signup/..%2F/sprakvan", "/signup/UPPER/sprakvan", f"/signup/{ORG_A}/nope"):
            assert (await client.get(f"{stack.web_url}{path}")).status_code == 404
        assert await _participants(stack) == []


async def test_while_intake_is_away_the_form_says_try_again_with_503(start_service: ServiceStarter) -> None:
    from sprakvan_web.service import SERVICE as WEB

    from .stack import serve, signing_key

    async with start_service(
        WEB, wait_for_messaging=False, intake_url="http://127.0.0.1:9", signing_key=signing_key()
    ) as web:
        async with serve(web.app) as web_url, httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(f"{web_url}/signup/{ORG_A}/sprakvan?lang=en")
            assert response.status_code == 503 and response.headers["retry-after"] == "30"
            assert "Please try again in a moment" in response.text
