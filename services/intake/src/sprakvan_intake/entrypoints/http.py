"""The intake HTTP API: thin translation between HTTP and the use cases in ``service_layer``."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from sprakvan_shared import http
from sprakvan_shared.contracts.intake import ParticipantRole
from sprakvan_shared.http import Reader, Writer
from sprakvan_shared.text import Day, line

from ..adapters.repository import ParticipantFilter
from ..domain.commands import RecordInterview, WithdrawParticipant
from ..domain.model import InvalidParticipant, InvalidTransition, Participant, ParticipantStatus
from ..service_layer import handlers
from ..settings import IntakeSettings
from .schemas import InterviewOut, ParticipantOut, ParticipantPage, ParticipantPatch, RegistrationRequest

# JsonBodyRoute: bodies validated by pydantic from the raw bytes (registration is the hot path).
router = APIRouter(prefix="/participants", tags=["participants"], route_class=http.JsonBodyRoute)


def _pool(request: Request):  # noqa: ANN202 - asyncpg.Pool
    return request.app.state.runtime.pool


def _etag(participant: Participant) -> dict[str, str]:
    return {"ETag": f'"{participant.version}"'}


def _link(path: str, method: str, **extra: str) -> dict[str, object]:
    ref = "#/paths/" + path.replace("/", "~1") + "/" + method
    return {"operationRef": ref, "parameters": {"participant_id": "$response.body#/id", **extra}}


# OpenAPI links: what a client (or the schema fuzzer's stateful phase) can do with a new participant.
_ONE = "/participants/{participant_id}"
_REGISTERED_LINKS = {
    "GetParticipant": _link(_ONE, "get"),
    "UpdateParticipant": _link(_ONE, "patch", **{"header.If-Match": "$response.header.ETag"}),
    "RecordInterview": _link(f"{_ONE}/interviews", "post"),
    "WithdrawParticipant": _link(f"{_ONE}/withdraw", "post"),
    "EraseParticipant": _link(_ONE, "delete"),
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ParticipantOut,
    responses={201: {"description": "Registered.", "links": _REGISTERED_LINKS}},
)
@http.direct  # the hot path: past FastAPI's request handling when the request is valid (http.direct)
async def register(
    command: RegistrationRequest,
    request: Request,
    principal: Writer,
) -> Response:
    """Register a newcomer or an established resident. A retry with the same ``Idempotency-Key``
    returns the original response (``Idempotent-Replayed: true``)."""
    # The Idempotency-Key header is the shared mechanism's: it checks the key before any route runs
    # (sprakvan_shared.idempotency) and documents it on every POST (http._document_errors).
    participant = await handlers.register_participant(_pool(request), principal, command)
    headers = {"Location": f"/participants/{participant.id}", **_etag(participant)}
    body = ParticipantOut.json_of(participant)  # the details' JSON, made once for the row and the answer
    return Response(body, status.HTTP_201_CREATED, headers=headers, media_type="application/json")


@router.get("", response_model=ParticipantPage)
async def list_participants(
    request: Request,
    principal: Reader,
    role: ParticipantRole | None = None,
    status_: Annotated[ParticipantStatus | None, Query(alias="status")] = None,
    district: Annotated[line(80) | None, Query()] = None,
    registered_from: Annotated[Day | None, Query(description="First day, inclusive.")] = None,
    registered_to: Annotated[Day | None, Query(description="Last day, inclusive.")] = None,
    programme: Annotated[line(80) | None, Query()] = None,
    interviewed: Annotated[bool | None, Query(description="An interview recorded, or none yet.")] = None,
    name: Annotated[
        line(100) | None, Query(description="The beginnings of words of the first or last name, any order and case.")
    ] = None,
    newest_first: Annotated[bool, Query(description="Latest registrations first.")] = False,
    cursor: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ids: Annotated[
        list[uuid.UUID] | None,
        Query(alias="id", max_length=200, description="Only these participants (repeat: ?id=...&id=...)."),
    ] = None,
) -> Response:
    settings: IntakeSettings = request.app.state.settings
    zone = ZoneInfo(settings.timezone)

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time.min, zone)

    where = ParticipantFilter(
        role=role.value if role else None,
        status=status_.value if status_ else None,
        district=district,
        registered_from=start_of(registered_from) if registered_from else None,
        registered_before=start_of(registered_to + timedelta(days=1)) if registered_to else None,
        ids=tuple(ids or ()),
        programme=programme,
        interviewed=interviewed,
        name=name or None,
        newest_first=newest_first,
    )
    try:
        items, next_cursor = await handlers.list_participants(
            _pool(request), principal, where, cursor=cursor, limit=limit
        )
    except ValueError as exc:
        raise _unprocessable(("query", "cursor"), str(exc)) from exc
    return _json(ParticipantPage.model_construct(items=[ParticipantOut.of(p) for p in items], next_cursor=next_cursor))


@router.get("/{participant_id}", response_model=ParticipantOut)
async def get_participant(participant_id: uuid.UUID, request: Request, principal: Reader) -> Response:
    participant, interviews = await handlers.get_participant(_pool(request), principal, participant_id)
    return _json(ParticipantOut.of(participant, interviews), headers=_etag(participant))


@router.patch("/{participant_id}", response_model=ParticipantOut)
async def update_participant(
    participant_id: uuid.UUID,
    patch: ParticipantPatch,
    request: Request,
    principal: Writer,
    if_match: http.IfMatch = None,
) -> Response:
    """Change some fields. ``If-Match`` carries the version you read (its ETag); if someone changed the
    participant since, the answer is 412 with the current ETag, and nothing changes."""
    participant = await handlers.update_participant(
        _pool(request), principal, participant_id, patch.changes(), expected_version=http.expected_version(if_match)
    )
    return _json(ParticipantOut.of(participant), headers=_etag(participant))


@router.post("/{participant_id}/interviews", status_code=status.HTTP_201_CREATED, response_model=InterviewOut)
async def record_interview(
    participant_id: uuid.UUID, command: RecordInterview, request: Request, principal: Writer
) -> InterviewOut:
    """The coordinator's short interview before matching. Notes stay in intake."""
    interview = await handlers.record_interview(_pool(request), principal, participant_id, command)
    return InterviewOut.of(interview)


@router.post("/{participant_id}/withdraw", response_model=ParticipantOut)
async def withdraw(
    participant_id: uuid.UUID, command: WithdrawParticipant, request: Request, principal: Writer
) -> Response:
    participant = await handlers.withdraw_participant(_pool(request), principal, participant_id, command)
    return _json(ParticipantOut.of(participant), headers=_etag(participant))


@router.delete("/{participant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def erase(participant_id: uuid.UUID, request: Request, principal: Writer) -> Response:
    """GDPR erasure: names, contact details, registration details and interview notes are deleted;
    ``participant.erased`` tells the other services to delete theirs."""
    zone = ZoneInfo(request.app.state.settings.timezone)
    await handlers.erase_participant(_pool(request), principal, participant_id, zone=zone)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _json(body: BaseModel, status_code: int = status.HTTP_200_OK, headers: dict[str, str] | None = None) -> Response:
    """Serialise once, here: a returned Response skips FastAPI's second validation of the response
    model, which the route still declares for the OpenAPI document."""
    return Response(body.model_dump_json(), status_code, headers=headers, media_type="application/json")


def _unprocessable(loc: tuple[str, ...], msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": list(loc), "msg": msg, "type": "value_error"}])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InvalidParticipant)
    async def invalid(_: Request, exc: InvalidParticipant) -> JSONResponse:
        return http.unprocessable((("body", *e.field), e.message) for e in exc.errors)

    @app.exception_handler(ValidationError)
    async def invalid_merge(_: Request, exc: ValidationError) -> JSONResponse:
        # A PATCH whose merged result is not a valid registration.
        return http.unprocessable((("body", *e["loc"]), e["msg"]) for e in exc.errors())

    @app.exception_handler(handlers.ParticipantNotFound)
    async def not_found(_: Request, __: handlers.ParticipantNotFound) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": "participant not found"})

    @app.exception_handler(InvalidTransition)
    async def conflict(_: Request, exc: InvalidTransition) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_409_CONFLICT, content={"detail": str(exc)})

    @app.exception_handler(handlers.VersionMismatch)
    async def stale(_: Request, exc: handlers.VersionMismatch) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_412_PRECONDITION_FAILED,
            content={"detail": "If-Match does not match the current version; read the participant again"},
            headers={"ETag": http.etag(exc.current)},
        )
