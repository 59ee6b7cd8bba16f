"""The web front's JSON API (its token keys, health, readiness, AsyncAPI) fuzzed with schemathesis (all
checks), as every service's is; its HTML forms get hostile input in ``services/web/tests/test_web_hostile_forms.py``."""

from __future__ import annotations

from .fuzz import schema_fuzz_test
from .kit import PRIVATE_KEY, ServiceStarter


def _signing_key() -> str:
    return PRIVATE_KEY


test_web_survives_the_schema_fuzzer = schema_fuzz_test("sprakvan_web.service:SERVICE", signing_key=_signing_key)


async def test_the_web_fronts_document_describes_its_json_api(start_service: ServiceStarter) -> None:
    """What the fuzzer is given: the key set, with the shape services read, beside health and readiness."""
    from sprakvan_web.service import SERVICE as WEB

    async with start_service(WEB, wait_for_messaging=False, signing_key=PRIVATE_KEY) as web:
        document = (await web.client.get("/openapi.json")).json()
        served = (await web.client.get("/.well-known/jwks.json")).json()
    assert {"/.well-known/jwks.json", "/health", "/ready"} <= set(document["paths"])
    operation = document["paths"]["/.well-known/jwks.json"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/KeySet"
    }
    assert set(served["keys"][0]) <= set(document["components"]["schemas"]["PublicKey"]["properties"])
    assert not [path for path in document["paths"] if path.startswith(("/workspace", "/signup", "/login"))]
