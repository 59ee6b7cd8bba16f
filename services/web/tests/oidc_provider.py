"""A stand-in OpenID Connect provider for tests (what Entra ID or Keycloak does, minimally): discovery,
an authorisation endpoint whose user is already signed in, a token endpoint that checks the client and
the PKCE verifier, an RS256-signed ID token, and its JWKS. Not a mock of our code: it is the outside world."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

CLIENT_ID, CLIENT_SECRET = "sprakvan-web", "client-secret-for-tests"


def provider(subject: str = "entra-user-42", name: str = "Eva Exempel") -> FastAPI:
    app = FastAPI()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "k1", "use": "sig", "alg": "RS256"}
    codes: dict[str, dict[str, str]] = {}
    app.state.base_url = ""
    app.state.wrong_nonce = False
    # What the provider says about the user at the next login (groups, roles): tests change it between logins.
    app.state.extra_claims = {}

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        base = app.state.base_url
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
        }

    @app.get("/authorize")
    async def authorize(request: Request) -> RedirectResponse:
        q = request.query_params
        assert q["client_id"] == CLIENT_ID and q["code_challenge_method"] == "S256" and "openid" in q["scope"]
        code = secrets.token_urlsafe(16)
        codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    @app.post("/token")
    async def token(
        request: Request, code: str = Form(), code_verifier: str = Form(), redirect_uri: str = Form()
    ) -> JSONResponse:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        grant = codes.pop(code, None)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
        if request.headers.get("authorization") != f"Basic {expected}" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if challenge != grant["challenge"] or redirect_uri != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        now = int(time.time())
        claims = {
            "iss": app.state.base_url,
            "sub": subject,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": "not-yours" if app.state.wrong_nonce else grant["nonce"],
            "name": name,
            "email": "eva@example.org",
        } | app.state.extra_claims
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        return JSONResponse({"access_token": "a", "token_type": "Bearer", "id_token": id_token})

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return {"keys": [jwk]}

    return app
