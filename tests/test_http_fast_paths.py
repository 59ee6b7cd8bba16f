"""The hot-path shortcuts of ``sprakvan_shared.http`` answer exactly as the plain FastAPI way does: the body
model validated from the raw bytes (``JsonBodyRoute``), the role check as one dependency
(``require_role``), and the request guard's one-class pre-screen of a body."""

from __future__ import annotations

import random
from typing import Annotated, Any, ClassVar

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sprakvan_shared import http
from sprakvan_shared.auth import (
    READERS,
    WRITERS,
    JwtVerifier,
    Principal,
    Role,
    TokenSigner,
    generate_private_key_pem,
    load_public_key,
    public_key_pem,
)


class Wish(BaseModel):
    age_min: int | None = Field(None, ge=16)


class Sample(BaseModel):
    name: Annotated[str, Field(min_length=1)]
    count: int
    tags: tuple[str, ...] = ()
    wish: Wish = Wish()

    validated_from_bytes: ClassVar[int] = 0

    @classmethod
    def model_validate_json(cls, *args: Any, **kwargs: Any) -> Sample:  # type: ignore[override]
        Sample.validated_from_bytes += 1
        return super().model_validate_json(*args, **kwargs)


def _app(route_class: type | None) -> FastAPI:
    router = APIRouter(route_class=route_class) if route_class else APIRouter()

    @router.post("/samples")
    async def post(sample: Sample) -> dict[str, Any]:
        return {"type": type(sample).__name__, **sample.model_dump()}

    app = FastAPI()
    app.add_exception_handler(RequestValidationError, http._validation_failed)
    app.include_router(router)
    return app


BODIES: list[tuple[bytes, str | None]] = [
    (b'{"name": "Asa", "count": "3", "tags": ["a"], "wish": {"age_min": 20}}', "application/json"),
    (b'{"name": "Asa", "count": 3}', "application/json; charset=utf-8"),
    (b'{"name": "", "count": 3}', "application/json"),  # too short
    (b'{"name": "Asa"}', "application/json"),  # missing
    (b'{"name": "Asa", "count": 3, "wish": {"age_min": 3}}', "application/json"),  # nested rule
    (b'{"name": "Asa", "count": NaN}', "application/json"),  # json.loads reads NaN, jiter does not
    (b'{"name": "Asa", "count": 3', "application/json"),  # not JSON
    (b"\xef\xbb\xbf" + b'{"name": "Asa", "count": 3}', "application/json"),  # a BOM: json.loads reads it
    (b"[1, 2]", "application/json"),
    (b"", "application/json"),
    (b'{"name": "Asa", "count": 3}', "text/plain"),
    (b'{"name": "Asa", "count": 3}', None),
]


async def _answers(app: FastAPI) -> list[tuple[int, Any]]:
    found = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for body, content_type in BODIES:
            headers = {"content-type": content_type} if content_type else {}
            response = await client.post("/samples", content=body, headers=headers)
            found.append((response.status_code, response.json()))
    return found


async def test_a_json_body_route_validates_the_raw_bytes_and_answers_like_fastapi() -> None:
    plain = await _answers(_app(None))
    Sample.validated_from_bytes = 0
    fast = await _answers(_app(http.JsonBodyRoute))
    assert fast == plain
    assert [status for status, _ in fast][:3] == [200, 200, 422]
    assert fast[0][1] == {"type": "Sample", "name": "Asa", "count": 3, "tags": ["a"], "wish": {"age_min": 20}}
    # The JSON bodies (nine, the empty one is FastAPI's "missing") went through model_validate_json.
    assert Sample.validated_from_bytes == 9


async def test_a_route_with_another_kind_of_body_is_left_to_fastapi() -> None:
    router = APIRouter(route_class=http.JsonBodyRoute)

    @router.post("/two")
    async def two(a: Sample, b: Sample) -> dict[str, int]:  # embedded: {"a": ..., "b": ...}
        return {"sum": a.count + b.count}

    app = FastAPI()
    app.include_router(router)
    Sample.validated_from_bytes = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post("/two", json={"a": {"name": "x", "count": 1}, "b": {"name": "y", "count": 2}})
    assert response.status_code == 200 and response.json() == {"sum": 3}
    assert Sample.validated_from_bytes == 0


async def test_the_role_check_is_one_dependency_that_still_answers_401_and_403() -> None:
    private = generate_private_key_pem()
    signer = TokenSigner(private)
    app = FastAPI()
    app.state.token_verifier = JwtVerifier(public_key=load_public_key(public_key_pem(private)))

    @app.post("/write")
    async def write(principal: Annotated[Principal, Depends(http.require_role(WRITERS))]) -> dict[str, str]:
        return {"role": principal.role.value}

    @app.get("/read")
    async def read(principal: Annotated[Principal, Depends(http.require_role(READERS))]) -> dict[str, str]:
        return {"role": principal.role.value}

    def bearer(role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {signer.mint(subject='s', organisation_id='org-a', role=role)}"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.post("/write", headers=bearer(Role.COORDINATOR))).json() == {"role": "coordinator"}
        forbidden = await client.post("/write", headers=bearer(Role.VIEWER))
        missing = await client.post("/write")
        wrong_scheme = await client.post("/write", headers={"Authorization": "Basic eDp5"})
        forged = await client.post("/write", headers={"Authorization": "Bearer not.a.token"})
        assert (await client.get("/read", headers=bearer(Role.VIEWER))).status_code == 200
    assert forbidden.status_code == 403 and "viewer" in forbidden.json()["detail"]
    assert missing.status_code == wrong_scheme.status_code == forged.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    document = app.openapi()
    assert document["components"]["securitySchemes"] == {"HTTPBearer": {"type": "http", "scheme": "bearer"}}
    assert document["paths"]["/write"]["post"]["security"] == [{"HTTPBearer": []}]


def test_the_guards_pre_screen_passes_exactly_the_bodies_the_full_screen_passes() -> None:
    crafted = [
        b'{"a": "\\u0000"}', b'{"a": "\\u001F"}', b'{"a": "\\u202e"}', b'{"a": "\\u2066"}', b'{"a": "\\ud800"}',
        b'{"a": "\\n"}', "\u202e".encode(), "\x85".encode(), b"\xed\xa0\x80", b"\x01", b"\x7f", b"\t\r\n",
        "Åsa Öberg – ’ مرحبا ትግርኛ".encode(), b'{"plain": "ascii"}', b"",
    ]  # fmt: skip
    rng = random.Random(7)
    alphabet = b'\\u0123456789abcdefABCDEF\xc2\x80\x85\x9f\xe2\x81\xa6\xaa\xae\xed\xa0\xbf\x00\x1f\x7f\x09 "'
    crafted += [bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 10))) for _ in range(20_000)]
    assert [http._suspect(body) for body in crafted] == [http._SUSPECT.search(body) is not None for body in crafted]
    assert any(http._suspect(body) for body in crafted) and not all(http._suspect(body) for body in crafted)


class Refused(Exception):
    pass


def _direct_app(*, direct: bool, served: list[bool]) -> tuple[FastAPI, TokenSigner]:
    """One JSON route as a service has it (body model, Request, role), served directly or FastAPI's way."""
    private = generate_private_key_pem()
    router = APIRouter(prefix="/samples", route_class=http.JsonBodyRoute)

    async def post(sample: Sample, request: Request, principal: http.Writer) -> Response:
        served.append("fastapi_middleware_astack" not in request.scope)  # no FastAPI handling on the way
        if sample.name == "refused":
            raise Refused
        if sample.name == "teapot":
            raise HTTPException(418, "short and stout")
        body = {"name": sample.name, "count": sample.count, "role": principal.role.value}
        return JSONResponse(body, status_code=201, headers={"Location": f"/samples/{sample.name}"})

    router.post("", status_code=201)(http.direct(post) if direct else post)
    app = FastAPI()
    app.state.token_verifier = JwtVerifier(public_key=load_public_key(public_key_pem(private)))
    app.add_middleware(http.DirectRouteMiddleware)
    app.add_exception_handler(RequestValidationError, http._validation_failed)
    app.add_exception_handler(Refused, lambda _, __: JSONResponse({"detail": "refused"}, status_code=409))
    app.include_router(router)
    return app, TokenSigner(private)


JSON = {"content-type": "application/json"}


async def _direct_answers(direct: bool) -> tuple[list[tuple[int, Any, str | None]], list[bool]]:
    served: list[bool] = []
    app, signer = _direct_app(direct=direct, served=served)

    def bearer(role: Role) -> str:
        return "Bearer " + signer.mint(subject="s", organisation_id="org-a", role=role)

    coordinator = bearer(Role.COORDINATOR)
    valid = b'{"name": "Asa", "count": 3}'
    requests: list[tuple[bytes, dict[str, str]]] = [
        (valid, {"authorization": coordinator}),  # the router learns the way here
        (valid, {"authorization": coordinator}),
        (b'{"name": "Bo", "count": "4", "tags": ["x"]}', {"authorization": coordinator}),
        (valid, {"authorization": "bearer " + coordinator.split()[1]}),  # the scheme in any case
        (valid, {"authorization": bearer(Role.VIEWER)}),  # 403
        (valid, {}),  # 401
        (valid, {"authorization": "Bearer not.a.token"}),  # 401
        (valid, {"authorization": "Basic eDp5"}),  # 401
        (valid, {"authorization": "Bearer"}),  # 401
        *[(body, {"authorization": coordinator}) for body, _ in BODIES[2:10]],  # 422s, the same as FastAPI's
        (valid, {"authorization": coordinator, "content-type": "text/plain"}),
        (valid, {"authorization": coordinator, "content-type": "application/json; charset=utf-8"}),
        (b'{"name": "refused", "count": 1}', {"authorization": coordinator}),  # the app's handler: 409
        (b'{"name": "teapot", "count": 1}', {"authorization": coordinator}),  # HTTPException: 418
        (valid, {"authorization": coordinator}),
    ]
    found = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for body, headers in requests:
            response = await client.post("/samples", content=body, headers={**JSON, **headers})
            found.append((response.status_code, response.json(), response.headers.get("location")))
        app.dependency_overrides[http.require_role] = lambda: None  # overrides: always FastAPI's way
        await client.post("/samples", content=valid, headers={**JSON, "authorization": coordinator})
    return found, served


async def test_a_direct_route_answers_every_request_as_fastapi_does_and_takes_the_valid_ones_directly() -> None:
    plain, plain_served = await _direct_answers(direct=False)
    direct, direct_served = await _direct_answers(direct=True)
    assert direct == plain
    statuses = [status for status, _, _ in direct]
    assert statuses[:9] == [201, 201, 201, 201, 403, 401, 401, 401, 401]
    assert statuses[-3:] == [409, 418, 201] and direct[1][1] == {"name": "Asa", "count": 3, "role": "coordinator"}
    assert not any(plain_served)
    # The first request is routed (and learns the way), the next valid ones go straight to the endpoint;
    # a body that only json.loads reads (a BOM), a content type with parameters, and any request while
    # dependencies are overridden, go FastAPI's way.
    assert direct_served == [False, True, True, True, False, False, True, True, True, False]


def test_a_direct_route_of_another_shape_is_refused() -> None:
    router = APIRouter(route_class=http.JsonBodyRoute)

    async def post(sample: Sample, request: Request, principal: http.Writer, page: int = 1) -> Response:
        return Response()

    with pytest.raises(TypeError, match="a direct route takes"):
        router.post("/samples")(http.direct(post))
