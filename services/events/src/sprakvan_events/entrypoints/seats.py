"""Sign-ups: confirmed while there are seats, the waiting list after."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from sprakvan_shared.http import Reader, Writer

from ..adapters import repository as repo
from ..service_layer import signups
from .common import correlation_of, now_of, pool_of
from .schemas import (
    GroupSignupIn,
    SignupCancelIn,
    SignupIn,
    SignupOut,
)

router = APIRouter(tags=["signups"])


@router.post(
    "/occurrences/{occurrence_id}/signups",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupOut,
    tags=["signups"],
)
async def sign_up(occurrence_id: uuid.UUID, body: SignupIn, request: Request, principal: Writer) -> SignupOut:
    """Confirmed while there are seats, waitlisted after; capacity 0 is closed. ``over_capacity`` is the
    only way past a full occurrence, and the sign-up records it."""
    async with pool_of(request).acquire() as conn:
        signup = await signups.sign_up(
            conn,
            principal.organisation_id,
            occurrence_id,
            body.participant_id,
            now=now_of(request),
            over_capacity=body.over_capacity,
            correlation_id=correlation_of(request),
        )
    return SignupOut.of(signup)


@router.post(
    "/occurrences/{occurrence_id}/signups/group",
    status_code=status.HTTP_201_CREATED,
    response_model=list[SignupOut],
    tags=["signups"],
)
async def sign_up_group(
    occurrence_id: uuid.UUID, body: GroupSignupIn, request: Request, principal: Writer
) -> list[SignupOut]:
    """Several participants at once, in the order given, each through the capacity rule; all or nothing."""
    async with pool_of(request).acquire() as conn:
        added = await signups.sign_up_group(
            conn,
            principal.organisation_id,
            occurrence_id,
            body.participant_ids,
            now=now_of(request),
            over_capacity=body.over_capacity,
            correlation_id=correlation_of(request),
        )
    return [SignupOut.of(s) for s in added]


@router.get("/occurrences/{occurrence_id}/signups", response_model=list[SignupOut], tags=["signups"])
async def list_signups(occurrence_id: uuid.UUID, request: Request, principal: Reader) -> list[SignupOut]:
    async with pool_of(request).acquire() as conn:
        await repo.load_occurrence(conn, principal.organisation_id, occurrence_id)
        found = await repo.signups_of(conn, principal.organisation_id, occurrence_id)
    return [SignupOut.of(s) for s in found]


@router.post("/signups/{signup_id}/cancel", response_model=SignupOut, tags=["signups"])
async def cancel_signup(signup_id: uuid.UUID, body: SignupCancelIn, request: Request, principal: Writer) -> SignupOut:
    """Cancel; the first on the waiting list takes the seat in the same transaction."""
    async with pool_of(request).acquire() as conn:
        cancelled = await signups.cancel_signup(
            conn,
            principal.organisation_id,
            signup_id,
            body.reason,
            now=now_of(request),
            correlation_id=correlation_of(request),
        )
    return SignupOut.of(cancelled)
