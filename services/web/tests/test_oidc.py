"""OpenID Connect login against a provider on its own port: users keyed on (issuer, subject)."""

from __future__ import annotations

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
                assert landed.status_code == 200 and landed.url.path == "/registrations", landed.text[:300]
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
