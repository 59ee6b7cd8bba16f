"""The matching HTTP API: thin translation between HTTP and the use cases in ``service_layer``."""

from __future__ import annotations

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sprakvan_shared import http
from sprakvan_shared.auth import Principal, Role
from sprakvan_shared.contracts.matching import PairStatus
from sprakvan_shared.http import Reader, Writer

from ..adapters.pair_store import PairFilter
from ..domain.constraints import MESSAGES
from ..domain.settings import ProgrammeSettings
from ..service_layer import pairs, rounds
from ..service_layer.unit_of_work import Conflict, ConstraintsBroken, Context, InvalidInput, NotFound
from .schemas import (
    ConversationIn,
    EndIn,
    FollowUpDoneIn,
    FollowUpIn,
    MeetupIn,
    PairKeyIn,
    PairOut,
    PairPage,
    RejectIn,
    RematchIn,
    RematchOut,
    RoundIn,
    RoundOut,
    WaitingListOut,
)

Admin = Annotated[Principal, Depends(http.require_role({Role.ADMIN}))]
Programme = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="The programme's code.")]

programmes = APIRouter(prefix="/programmes/{programme}", tags=["programmes"])
pair_routes = APIRouter(prefix="/pairs", tags=["pairs"])


def context(request: Request) -> Context:
    """The use cases' context, made once the kit's pool exists (the first request after start-up)."""
    found = getattr(request.app.state, "matching", None)
    if found is None or found.pool is not request.app.state.runtime.pool:
        settings = request.app.state.settings
        found = Context(
            pool=request.app.state.runtime.pool,
            zone=ZoneInfo(settings.timezone),
            lock_timeout_ms=settings.lock_timeout_ms,
        )
        request.app.state.matching = found
    return found


def _json(body: BaseModel, status_code: int = status.HTTP_200_OK, headers: dict[str, str] | None = None) -> Response:
    return Response(body.model_dump_json(), status_code, headers, media_type="application/json")


async def _pair_out(request: Request, principal: Principal, pair) -> Response:  # noqa: ANN001 - a domain Pair
    labels = await rounds.interest_labels(context(request), principal)
    return _json(PairOut.of(pair, labels, with_notes=principal.role is not Role.VIEWER))


# -- programmes: rounds, manual pairs, meetups, waiting list, settings, forbids ----------------------
@programmes.post("/rounds", status_code=status.HTTP_201_CREATED, response_model=RoundOut)
async def run_round(programme: Programme, body: RoundIn, request: Request, principal: Writer) -> Response:
    """Propose the best set of pairs for everyone waiting, each with its reasons. Earlier open proposals
    of the programme end (superseded); ``locks`` must be in, forbidden and ended pairs never are."""
    outcome = await rounds.run(
        context(request), principal, programme, [(lock.newcomer_id, lock.established_id) for lock in body.locks]
    )
    return _json(
        RoundOut(
            round_id=outcome.round_id,
            waiting=outcome.waiting,
            candidates=outcome.candidates,
            superseded=outcome.superseded,
            proposals=[
                PairOut.of(
                    p,
                    outcome.interest_labels,
                    score=outcome.scores.get(p.pair_id),
                    explained=outcome.breakdowns.get(p.pair_id),
                )
                for p in outcome.proposals
            ],
        ),
        status.HTTP_201_CREATED,
    )


@programmes.post("/pairs", status_code=status.HTTP_201_CREATED, response_model=PairOut)
async def form_pair(programme: Programme, body: PairKeyIn, request: Request, principal: Writer) -> Response:
    """A pair by hand. A broken hard constraint is a 422 naming it."""
    pair = await pairs.form_manually(context(request), principal, programme, body.newcomer_id, body.established_id)
    response = await _pair_out(request, principal, pair)
    response.status_code = status.HTTP_201_CREATED
    return response


@programmes.post("/meetups", status_code=status.HTTP_201_CREATED, response_model=list[PairOut])
async def record_meetup(programme: Programme, body: MeetupIn, request: Request, principal: Writer) -> Response:
    """The pairs that formed themselves at a group-matching meetup: active pairs, origin group_meetup."""
    formed = await pairs.record_meetup(
        context(request), principal, programme, body.held_on, [(p.newcomer_id, p.established_id) for p in body.pairs]
    )
    body_json = "[" + ",".join(PairOut.of(p).model_dump_json() for p in formed) + "]"
    return Response(body_json, status.HTTP_201_CREATED, media_type="application/json")


@programmes.get("/waiting", response_model=WaitingListOut)
async def waiting_list(
    programme: Programme,
    request: Request,
    principal: Reader,
    limit: Annotated[int, Query(ge=0, le=1000, description="How many of the longest waiting to list.")] = 200,
) -> Response:
    """Who waits and how long, by district, gender and age band, and newcomers per free place by district.
    The counts cover everyone; ``waiting`` lists the ``limit`` who have waited longest."""
    return _json(WaitingListOut.of(await rounds.waiting(context(request), principal, programme), limit))


@programmes.get("/settings", response_model=ProgrammeSettings)
async def get_settings(programme: Programme, request: Request, principal: Reader) -> Response:
    """The settings; their ``ETag`` is the version a PUT sends back as ``If-Match`` (``"0"``: the defaults,
    never saved)."""
    settings, version = await rounds.get_settings(context(request), principal, programme)
    return _json(settings, headers={"ETag": http.etag(version)})


@programmes.put("/settings", response_model=ProgrammeSettings)
async def put_settings(
    programme: Programme, body: ProgrammeSettings, request: Request, principal: Admin, if_match: http.IfMatch = None
) -> Response:
    """Eligibility, weights, language preference, longest wait that counts, follow-up days (admin only), at
    the version you read (``If-Match``, the GET's ``ETag``): another admin's change in between is a 412 and
    nothing is saved; none sent is a 428, except for a programme's first settings."""
    expected = False if if_match is None else http.expected_version(if_match)
    settings, version = await rounds.put_settings(context(request), principal, programme, body, expected)
    return _json(settings, headers={"ETag": http.etag(version)})


@programmes.post("/forbidden", status_code=status.HTTP_204_NO_CONTENT)
async def forbid(programme: Programme, body: PairKeyIn, request: Request, principal: Writer) -> Response:
    """Never propose this pair."""
    await pairs.forbid(context(request), principal, programme, body.newcomer_id, body.established_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@programmes.delete("/forbidden/{newcomer_id}/{established_id}", status_code=status.HTTP_204_NO_CONTENT)
async def allow(
    programme: Programme, newcomer_id: uuid.UUID, established_id: uuid.UUID, request: Request, principal: Writer
) -> Response:
    await pairs.allow(context(request), principal, newcomer_id, established_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- pairs -------------------------------------------------------------------------------------------
@pair_routes.get("", response_model=PairPage)
async def list_pairs(
    request: Request,
    principal: Reader,
    programme: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")] = None,
    status_: Annotated[PairStatus | None, Query(alias="status")] = None,
    participant_id: uuid.UUID | None = None,
    round_id: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    where = PairFilter(programme, status_.value if status_ else None, participant_id, round_id)
    found = await pairs.list_pairs(context(request), principal, where, limit=limit, after=after)
    labels = await rounds.interest_labels(context(request), principal)
    page = PairPage(
        items=[PairOut.of(p, labels, with_notes=principal.role is not Role.VIEWER) for p in found],
        next_after=found[-1].pair_id if len(found) == limit else None,
    )
    return _json(page)


@pair_routes.get("/{pair_id}", response_model=PairOut)
async def get_pair(pair_id: uuid.UUID, request: Request, principal: Reader) -> Response:
    return await _pair_out(request, principal, await pairs.get_pair(context(request), principal, pair_id))


@pair_routes.post("/{pair_id}/accept", response_model=PairOut)
async def accept(pair_id: uuid.UUID, request: Request, principal: Writer) -> Response:
    """Form the proposed pair; 409 if its volunteer is full or its newcomer was paired meanwhile."""
    return await _pair_out(request, principal, await pairs.accept(context(request), principal, pair_id))


@pair_routes.post("/{pair_id}/reject", response_model=PairOut)
async def reject(pair_id: uuid.UUID, body: RejectIn, request: Request, principal: Writer) -> Response:
    return await _pair_out(request, principal, await pairs.reject(context(request), principal, pair_id, body.reason))


@pair_routes.post("/{pair_id}/conversation", response_model=PairOut)
async def record_conversation(
    pair_id: uuid.UUID, body: ConversationIn, request: Request, principal: Writer
) -> Response:
    """The matching conversation: the pair becomes active and its follow-ups are scheduled."""
    pair = await pairs.record_conversation(context(request), principal, pair_id, body.held_on, body.attended)
    return await _pair_out(request, principal, pair)


@pair_routes.post("/{pair_id}/follow-ups", response_model=PairOut)
async def schedule_follow_up(pair_id: uuid.UUID, body: FollowUpIn, request: Request, principal: Writer) -> Response:
    pair = await pairs.schedule_follow_up(context(request), principal, pair_id, body.due_on)
    return await _pair_out(request, principal, pair)


@pair_routes.post("/{pair_id}/follow-ups/done", response_model=PairOut)
async def record_follow_up(pair_id: uuid.UUID, body: FollowUpDoneIn, request: Request, principal: Writer) -> Response:
    """A follow-up held: its outcome (in the events) and notes (never leave matching)."""
    pair = await pairs.record_follow_up(
        context(request),
        principal,
        pair_id,
        done_on=body.done_on,
        outcome=body.outcome,
        notes=body.notes,
        due_on=body.due_on,
    )
    return await _pair_out(request, principal, pair)


@pair_routes.post("/{pair_id}/end", response_model=PairOut)
async def end(pair_id: uuid.UUID, body: EndIn, request: Request, principal: Writer) -> Response:
    return await _pair_out(request, principal, await pairs.end(context(request), principal, pair_id, body.end_reason))


@pair_routes.post("/{pair_id}/rematch", response_model=RematchOut)
async def rematch(pair_id: uuid.UUID, body: RematchIn, request: Request, principal: Writer) -> Response:
    """End the pair and give the newcomer a new volunteer now (``established_id``) or a place in the queue."""
    ended, new = await pairs.rematch(context(request), principal, pair_id, body.end_reason, body.established_id)
    labels = await rounds.interest_labels(context(request), principal)
    return _json(RematchOut(ended=PairOut.of(ended, labels), new_pair=PairOut.of(new, labels) if new else None))


# -- errors ------------------------------------------------------------------------------------------
def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(_: Request, __: NotFound) -> JSONResponse:
        return JSONResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": "not found"})

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT, content={"detail": {"code": exc.code, "msg": str(exc)}}
        )

    @app.exception_handler(ConstraintsBroken)
    async def broken(_: Request, exc: ConstraintsBroken) -> JSONResponse:
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={
                "detail": [
                    {"loc": ["body", *exc.where], "msg": MESSAGES[b], "type": f"constraint.{b.value}"}
                    for b in exc.broken
                ]
            },
        )

    async def busy(_: Request, exc: Exception) -> JSONResponse:
        # Another coordinator held the same people longer than the lock timeout (or PostgreSQL broke a
        # rare deadlock): nothing was saved, and trying again is safe.
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT,
            content={"detail": {"code": "busy", "msg": "someone else is changing these people; try again"}},
        )

    for error in (asyncpg.exceptions.LockNotAvailableError, asyncpg.exceptions.DeadlockDetectedError):
        app.add_exception_handler(error, busy)

    @app.exception_handler(InvalidInput)
    async def invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return http.unprocessable([(("body", exc.field), str(exc))])


ROUTERS = (programmes, pair_routes)
