"""Shared plumbing that needs no server: envelopes, retry policy, tokens, log redaction."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from sprakvan_shared.auth import (
    InvalidToken,
    JwtVerifier,
    MissingTokenKey,
    Pseudonymiser,
    Role,
    TokenSigner,
    generate_private_key_pem,
    load_public_key,
    public_key_pem,
    verifier_from_settings,
)
from sprakvan_shared.consumer import RetryPolicy
from sprakvan_shared.contracts.intake import INTAKE_EVENTS, ParticipantErased, ParticipantErasedPayload
from sprakvan_shared.contracts.subjects import INTAKE_STREAM, stream_of_subject
from sprakvan_shared.logging import configure_logging, drop_personal_data

PRIVATE_KEY = generate_private_key_pem()
PRIVATE_KEY_OBJECT = serialization.load_pem_private_key(PRIVATE_KEY.encode(), password=None)
PUBLIC_PEM = public_key_pem(PRIVATE_KEY)
PUBLIC_KEY = load_public_key(PUBLIC_PEM)
SIGNER = TokenSigner(PRIVATE_KEY)
CLAIMS = {"subject": "anna", "organisation_id": "orsa", "role": Role.ADMIN}
JWT_CLAIMS = {
    "sub": "anna",
    "org": "orsa",
    "role": "admin",
    "iss": "sprakvan",
    "aud": "sprakvan",
    "iat": int(time.time()),
    "exp": int(time.time()) + 600,
}


def run(coroutine):  # noqa: ANN001, ANN201
    return asyncio.run(coroutine)


def test_envelope_is_filled_from_the_event_class_and_round_trips() -> None:
    pid = uuid.uuid4()
    event = ParticipantErased(
        organisation_id="linkoping",
        aggregate_id=str(pid),
        version=3,
        payload=ParticipantErasedPayload(participant_id=pid, erased_at=datetime.now(UTC)),
    )
    assert (event.type, event.schema_version) == ("participant.erased", 1)
    assert event.subject == f"intake.participant.{pid}.erased"
    assert ParticipantErased.aggregate_subjects(str(pid)) == f"intake.participant.{pid}.*"
    assert ParticipantErased.model_validate_json(event.model_dump_json()) == event


def test_consumers_ignore_fields_added_by_a_newer_producer() -> None:
    body = {
        "event_id": str(uuid.uuid4()),
        "type": "participant.erased",
        "occurred_at": "2026-11-25T10:00:00Z",
        "organisation_id": "linkoping",
        "schema_version": 2,
        "correlation_id": None,
        "aggregate_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "version": 4,
        "new_envelope_field": 1,
        "payload": {"participant_id": str(uuid.uuid4()), "erased_at": "2026-11-25T10:00:00Z", "reason": "gdpr"},
    }
    event = ParticipantErased.model_validate_json(json.dumps(body))
    assert event.schema_version == 2


def test_every_intake_subject_is_captured_by_the_intake_stream() -> None:
    (pattern,) = INTAKE_STREAM.subjects
    assert all(cls.subject_filter().startswith(pattern.removesuffix(">")) for cls in INTAKE_EVENTS)
    assert len({cls.subject_filter() for cls in INTAKE_EVENTS}) == len(INTAKE_EVENTS)
    assert all(stream_of_subject(cls.subject_filter()) == INTAKE_STREAM for cls in INTAKE_EVENTS)


def test_an_organisation_id_must_be_a_slug() -> None:
    with pytest.raises(ValueError, match="organisation_id"):
        ParticipantErased(
            organisation_id="Linköping kommun",
            aggregate_id="x",
            version=1,
            payload=ParticipantErasedPayload(participant_id=uuid.uuid4(), erased_at=datetime.now(UTC)),
        )


def test_an_aggregate_id_is_one_subject_token() -> None:
    for bad in ("a.b", "a b", "*", ">", ""):
        with pytest.raises(ValueError, match="aggregate_id"):
            ParticipantErased(
                organisation_id="linkoping",
                aggregate_id=bad,
                version=1,
                payload=ParticipantErasedPayload(participant_id=uuid.uuid4(), erased_at=datetime.now(UTC)),
            )


def test_retry_delays_grow_then_stay_at_the_last_step() -> None:
    policy = RetryPolicy(max_deliveries=6, backoff=(1.0, 5.0, 30.0))
    assert [policy.delay_after(n) for n in range(1, 6)] == [1.0, 5.0, 30.0, 30.0, 30.0]


def test_tokens_carry_organisation_and_role_and_expire() -> None:
    verifier = JwtVerifier(public_key=PUBLIC_KEY, leeway=timedelta(0))
    principal = run(verifier.verify(SIGNER.mint(subject="anna@orsa.se", organisation_id="orsa", role=Role.VIEWER)))
    assert (principal.subject, principal.organisation_id, principal.role) == ("anna@orsa.se", "orsa", Role.VIEWER)
    assert principal.pseudonym.startswith("sub-") and "anna" not in principal.pseudonym
    expired = SIGNER.mint(subject="anna", organisation_id="orsa", role=Role.VIEWER, ttl=timedelta(seconds=-1))
    with pytest.raises(InvalidToken):
        run(verifier.verify(expired))


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda: TokenSigner(generate_private_key_pem()).mint(**CLAIMS), id="another key"),
        pytest.param(lambda: TokenSigner(PRIVATE_KEY, issuer="elsewhere").mint(**CLAIMS), id="wrong iss"),
        pytest.param(lambda: TokenSigner(PRIVATE_KEY, audience="elsewhere").mint(**CLAIMS), id="wrong aud"),
        pytest.param(lambda: SIGNER.mint(**CLAIMS, ttl=timedelta(days=2)), id="lifetime too long"),
        pytest.param(lambda: jwt.encode({**JWT_CLAIMS}, "a-shared-secret-" * 4, algorithm="HS256"), id="HS256"),
        pytest.param(lambda: jwt.encode({**JWT_CLAIMS}, None, algorithm="none"), id="alg none"),
        pytest.param(
            lambda: jwt.encode({k: v for k, v in JWT_CLAIMS.items() if k != "aud"}, PRIVATE_KEY_OBJECT, "EdDSA"),
            id="no aud",
        ),
        pytest.param(
            lambda: jwt.encode({k: v for k, v in JWT_CLAIMS.items() if k != "iss"}, PRIVATE_KEY_OBJECT, "EdDSA"),
            id="no iss",
        ),
    ],
)
def test_tokens_the_services_did_not_get_a_key_for_are_refused(forge) -> None:  # noqa: ANN001
    with pytest.raises(InvalidToken):
        run(JwtVerifier(public_key=PUBLIC_KEY).verify(forge()))


def test_an_rs256_token_is_accepted_with_its_public_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    token = TokenSigner(pem).mint(**CLAIMS)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert run(JwtVerifier(public_key=key.public_key()).verify(token)).subject == "anna"


def test_a_service_without_a_public_key_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from sprakvan_shared.settings import ServiceSettings

    for name in ("JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY_FILE", "JWT_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MissingTokenKey, match="there is no default"):
        verifier_from_settings(ServiceSettings())
    with pytest.raises(MissingTokenKey, match="are all set"):
        verifier_from_settings(ServiceSettings(JWT_PUBLIC_KEY=PUBLIC_PEM, JWT_JWKS_URL="https://idp.example/jwks"))
    with pytest.raises(MissingTokenKey, match="cannot be read"):
        verifier_from_settings(ServiceSettings(JWT_PUBLIC_KEY="not a key"))
    one_line = PUBLIC_PEM.replace("\n", "\\n")  # as an env file carries it
    assert isinstance(verifier_from_settings(ServiceSettings(JWT_PUBLIC_KEY=one_line)), JwtVerifier)


def test_the_pseudonym_is_stable_with_a_key_and_opaque() -> None:
    a, b = Pseudonymiser("shared-log-key"), Pseudonymiser("shared-log-key")
    assert a("anna@orsa.se") == b("anna@orsa.se") != Pseudonymiser("other")("anna@orsa.se")
    assert a("anna@orsa.se") != a("bengt@orsa.se")


def test_logs_never_carry_names_or_contacts() -> None:
    line = drop_personal_data(
        None, "info", {"event": "x", "participant_id": "p1", "email": "a@b.se", "first_name": "A"}
    )
    assert line == {"event": "x", "participant_id": "p1", "email": "[redacted]", "first_name": "[redacted]"}


def test_access_log_lines_keep_the_path_but_not_the_query_or_the_client(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("intake", "INFO", json=True)
    # The very call uvicorn's h11 protocol makes for each request when `--access-log` is on.
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "203.0.113.7:51234", "GET", "/participants?q=Amina%20Hassan", "1.1", 200
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == '- - "GET /participants HTTP/1.1" 200'
    assert line["service"] == "intake"


def test_a_token_verified_once_still_expires_on_time() -> None:
    import time

    verifier = JwtVerifier(public_key=PUBLIC_KEY, leeway=timedelta(0))
    token = SIGNER.mint(subject="anna", organisation_id="orsa", role=Role.COORDINATOR, ttl=timedelta(seconds=1))
    assert run(verifier.verify(token)).subject == "anna"
    assert run(verifier.verify(token)).subject == "anna"  # from the cache
    time.sleep(1.1)
    with pytest.raises(InvalidToken):
        run(verifier.verify(token))


def test_tokens_verify_against_an_oidc_providers_jwks_over_http() -> None:
    import http.server
    import threading

    from jwt.algorithms import OKPAlgorithm

    from sprakvan_shared.settings import ServiceSettings

    jwk = {**OKPAlgorithm.to_jwk(PUBLIC_KEY, as_dict=True), "kid": "key-1", "use": "sig", "alg": "EdDSA"}
    document = json.dumps({"keys": [jwk]}).encode()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/realms/sprakvan/protocol/openid-connect/certs"
        verifier = verifier_from_settings(ServiceSettings(JWT_JWKS_URL=url))
        good = TokenSigner(PRIVATE_KEY, key_id="key-1").mint(**CLAIMS)
        assert run(verifier.verify(good)).organisation_id == "orsa"
        with pytest.raises(InvalidToken):  # the right kid, another key
            run(verifier.verify(TokenSigner(generate_private_key_pem(), key_id="key-1").mint(**CLAIMS)))
        with pytest.raises(InvalidToken):  # a key the provider does not publish
            run(verifier.verify(TokenSigner(PRIVATE_KEY, key_id="key-2").mint(**CLAIMS)))
    finally:
        server.shutdown()


def test_fastapis_native_telemetry_is_off_unless_the_setting_turns_it_on() -> None:
    from sprakvan_intake.service import SERVICE as INTAKE

    for enabled in (False, True):
        settings = INTAKE.settings(JWT_PUBLIC_KEY=PUBLIC_PEM, HTTP_NATIVE_TELEMETRY=enabled)
        telemetry = INTAKE.create_app(settings)._telemetry  # what FastAPI(telemetry=...) was given, merged
        assert (telemetry["tracing"], telemetry["metrics"], telemetry["logs"]) == (enabled, enabled, enabled)
    assert INTAKE.settings(JWT_PUBLIC_KEY=PUBLIC_PEM).http_native_telemetry is False
