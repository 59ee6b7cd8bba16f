"""The intake HTTP API: thin translation between HTTP and the use cases in ``service_layer``."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from sprakvan_shared import http
from sprakvan_shared.contracts.intake import ParticipantRole
from sprakvan_shared.http import Reader, Writer

from ..adapters.repository import ParticipantFilter
from ..domain.commands import RecordInterview, RegisterParticipant, WithdrawParticipant
from ..domain.model import InvalidParticipant, InvalidTransition, ParticipantStatus
from ..service_layer import handlers
from ..settings import IntakeSettings
from .schemas import InterviewOut, ParticipantOut, ParticipantPage, ParticipantPatch

router = APIRouter(prefix="/participants", tags=["participants"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


def _pool(request: Request):  # noqa: ANN202 - asyncpg.Pool
    return request.app.state.runtime.pool


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ParticipantOut)
async def register(
    command: RegisterParticipant,
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Register a newcomer or an established resident. A retry with the same ``Idempotency-Key``
    returns the participant created the first time."""
    registration = await handlers.register_participant(
        _pool(request), principal, command, idempotency_key=idempotency_key
    )
    headers = {"Location": f"/participants/{registration.participant.id}"}
    if registration.replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(ParticipantOut.of(registration.participant), status.HTTP_201_CREATED, headers)


@router.get("", response_model=ParticipantPage)
async def list_participants(
    request: Request,
    principal: Reader,
    role: ParticipantRole | None = None,
    status_: Annotated[ParticipantStatus | None, Query(alias="status")] = None,
    district: str | None = None,
    registered_from: Annotated[date | None, Query(description="First day, inclusive.")] = None,
    registered_to: Annotated[date | None, Query(description="Last day, inclusive.")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
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
    return _json(ParticipantOut.of(participant, interviews))


@router.patch("/{participant_id}", response_model=ParticipantOut)
async def update_participant(
    participant_id: uuid.UUID, patch: ParticipantPatch, request: Request, principal: Writer
) -> Response:
    participant = await handlers.update_participant(_pool(request), principal, participant_id, patch.changes())
    return _json(ParticipantOut.of(participant))


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
    return _json(ParticipantOut.of(participant))


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

    @app.exception_handler(handlers.IdempotencyKeyReused)
    async def key_reused(_: Request, __: handlers.IdempotencyKeyReused) -> JSONResponse:
        return http.unprocessable(
            [(("header", "Idempotency-Key"), "this key was already used for a different request")]
        )
