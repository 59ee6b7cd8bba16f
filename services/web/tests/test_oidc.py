"""OpenID Connect login against a provider on its own port: users keyed on (issuer, subject)."""

from __future__ import annotations

import re

import httpx
import pytest

from sprakvan_web.adapters.oidc import OidcClient
from tests.kit import ORG_A, ServiceStarter

from .oidc_provider import CLIENT_ID, CLIENT_SECRET, provider
from .stack import serve, web_stack

pytestmark = pytest.mark.infra


async def test_an_oidc_login_makes_a_viewer_keyed_on_issuer_and_subject(start_service: ServiceStarter) -> None:
    idp = provider()
    async with serve(idp) as idp_url, web_stack(start_service, oidc_organisation=ORG_A) as stack:
        idp.state.base_url = idp_url
        web = stack.web.app.state.web
        web.oidc = OidcClient(idp_url, CLIENT_ID, CLIENT_SECRET, f"{stack.web_url}/login/oidc/callback")
        for _ in range(2):  # the second login finds the same user
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as browser:
                landed = await browser.get(f"{stack.web_url}/login/oidc?lang=en")
                assert landed.status_code == 200 and landed.url.path == "/workspace", landed.text[:300]
                assert "Eva Exempel" in landed.text
        rows = await stack.web.pool.fetch("SELECT issuer, subject, role, organisation_id, password_hash FROM users")
        assert [tuple(r) for r in rows] == [(idp_url, "entra-user-42", "viewer", ORG_A, None)]

        async with httpx.AsyncClient(trust_env=False) as browser:
            to_idp = await browser.get(f"{stack.web_url}/login/oidc")
            back = await browser.get(to_idp.headers["location"])
            callback = back.headers["location"]
            assert (await browser.get(callback)).status_code == 303
            assert (await browser.get(callback)).status_code == 401  # a state is used once

        idp.state.wrong_nonce = True
        async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as browser:
            refused = await browser.get(f"{stack.web_url}/login/oidc")
            assert refused.status_code == 401 and "sprakvan_session" not in browser.cookies
        assert await stack.web.pool.fetchval("SELECT count(*) FROM sessions") == 3


ROLE_MAP = {
    "sg-sprakvan-admins": "admin",
    "sg-sprakvan-coordinators": "coordinator",
    "sg-norrkoping-sprakvan": "norrkoping:viewer",
}


async def _login(stack, browser: httpx.AsyncClient) -> httpx.Response:  # noqa: ANN001
    return await browser.get(f"{stack.web_url}/login/oidc?lang=en")


async def test_the_providers_groups_decide_the_role_at_every_login(start_service: ServiceStarter) -> None:
    idp = provider()
    settings = {
        "oidc_organisation": ORG_A,
        "oidc_roles_claim": "groups",
        "oidc_role_map": ROLE_MAP,
        "bootstrap_admin_org": ORG_A,
        "bootstrap_admin_user": "admin",
        "bootstrap_admin_password": "break-glass-password",
    }
    async with serve(idp) as idp_url, web_stack(start_service, **settings) as stack:
        idp.state.base_url = idp_url
        stack.web.app.state.web.oidc = OidcClient(
            idp_url, CLIENT_ID, CLIENT_SECRET, f"{stack.web_url}/login/oidc/callback"
        )
        pool = stack.web.pool

        async def user() -> tuple:
            return tuple(await pool.fetchrow("SELECT organisation_id, role FROM users WHERE issuer = $1", idp_url))

        idp.state.extra_claims = {"groups": ["unrelated", "sg-sprakvan-coordinators"]}
        first = httpx.AsyncClient(trust_env=False, follow_redirects=True)
        async with first:
            landed = await _login(stack, first)
            assert landed.url.path == "/workspace", landed.text[:300]
            assert await user() == (ORG_A, "coordinator")
            assert (await first.get(f"{stack.web_url}/admin/users")).status_code == 403

            # Added to the admins' group at the provider: admin from the next login on.
            idp.state.extra_claims = {"groups": ["sg-sprakvan-coordinators", "sg-sprakvan-admins"]}
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as second:
                assert (await _login(stack, second)).url.path == "/workspace"
                assert await user() == (ORG_A, "admin")
                assert (await second.get(f"{stack.web_url}/admin/users")).status_code == 200

            # An admin's change here does not outlast the next login: the provider decides.
            user_id = await pool.fetchval("SELECT id FROM users WHERE issuer = $1", idp_url)
            await pool.execute("UPDATE users SET role = 'viewer' WHERE id = $1", user_id)
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as third:
                await _login(stack, third)
            assert await user() == (ORG_A, "admin")

            # Taken out of every mapped group: no access, a clear page, and the open sessions end.
            idp.state.extra_claims = {"groups": ["unrelated"]}
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as refused:
                page = await _login(stack, refused)
                assert page.status_code == 403 and "No access to Språkvän" in page.text, page.text[:300]
                assert "sprakvan_session" not in refused.cookies
            assert await pool.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1", user_id) == 0
            assert (await first.get(f"{stack.web_url}/registrations")).url.path == "/login"

            # Groups of two organisations: which one is meant cannot be guessed, so neither.
            idp.state.extra_claims = {"groups": ["sg-sprakvan-admins", "sg-norrkoping-sprakvan"]}
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as ambiguous:
                assert (await _login(stack, ambiguous)).status_code == 403
            assert await user() == (ORG_A, "admin")  # unchanged: a refused login writes no role

            # A group that maps to another organisation: the same user (issuer, subject) moves there.
            idp.state.extra_claims = {"groups": ["sg-norrkoping-sprakvan"]}
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as moved:
                assert (await _login(stack, moved)).url.path == "/workspace"
            assert await user() == ("norrkoping", "viewer")
            assert await pool.fetchval("SELECT count(*) FROM users WHERE issuer = $1", idp_url) == 1

            # No claim at all (the provider sends no groups): no access.
            idp.state.extra_claims = {}
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as nothing:
                assert (await _login(stack, nothing)).status_code == 403

        # The break-glass local admin is untouched by all of this and still logs in.
        async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as local:
            form = await local.get(f"{stack.web_url}/login?lang=en")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
            data = {"username": "admin", "password": "break-glass-password", "csrf_token": csrf, "lang": "en"}
            landed = await local.post(f"{stack.web_url}/login", data=data)
            assert landed.url.path == "/workspace", landed.text[:300]
            assert (await local.get(f"{stack.web_url}/admin/users")).status_code == 200
        assert tuple(await pool.fetchrow("SELECT organisation_id, role FROM users WHERE issuer = 'local'")) == (
            ORG_A,
            "admin",
        )


async def test_without_a_roles_claim_an_admins_role_change_lasts(start_service: ServiceStarter) -> None:
    idp = provider()
    async with serve(idp) as idp_url, web_stack(start_service, oidc_organisation=ORG_A) as stack:
        idp.state.base_url = idp_url
        idp.state.extra_claims = {"groups": ["sg-sprakvan-admins"]}  # ignored: no roles claim configured
        stack.web.app.state.web.oidc = OidcClient(
            idp_url, CLIENT_ID, CLIENT_SECRET, f"{stack.web_url}/login/oidc/callback"
        )
        for role_before_login in ("viewer", "coordinator"):
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as browser:
                assert (await _login(stack, browser)).url.path == "/workspace"
            assert await stack.web.pool.fetchval("SELECT role FROM users") == role_before_login
            await stack.web.pool.execute("UPDATE users SET role = 'coordinator'")


async def test_a_provider_whose_discovery_names_another_issuer_is_refused(start_service: ServiceStarter) -> None:
    idp = provider()
    async with serve(idp) as idp_url, web_stack(start_service, oidc_organisation=ORG_A) as stack:
        idp.state.base_url = "https://login.example.org"
        stack.web.app.state.web.oidc = OidcClient(
            idp_url, CLIENT_ID, CLIENT_SECRET, f"{stack.web_url}/login/oidc/callback"
        )
        async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as browser:
            assert (await _login(stack, browser)).status_code == 401
        # Read through another address, as the compose profile does (keycloak:8080 for the service,
        # localhost:8080 for browsers and in `iss`): the metadata's issuer must still be the configured one.
        idp.state.base_url = idp_url
        for discovery_host, status in (("localhost", 200), ("127.0.0.2", 401)):
            stack.web.app.state.web.oidc = OidcClient(
                idp_url,
                CLIENT_ID,
                CLIENT_SECRET,
                f"{stack.web_url}/login/oidc/callback",
                discovery_url=f"{idp_url.replace('127.0.0.1', discovery_host)}/.well-known/openid-configuration",
            )
            async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as browser:
                assert (await _login(stack, browser)).status_code == status, discovery_host
