"""Venues, partners and a programme's own activity types."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sprakvan_shared import http
from sprakvan_shared.http import Reader, Writer, unprocessable

from ..adapters import repository as repo
from ..domain.model import BUILT_IN_TYPES, ActivityType, InvalidInput, Partner, Venue
from .common import pool_of
from .schemas import (
    ActivityTypeIn,
    ActivityTypeOut,
    PartnerIn,
    PartnerOut,
    VenueIn,
    VenueOut,
)

router = APIRouter()


@router.post("/venues", status_code=status.HTTP_201_CREATED, response_model=VenueOut, tags=["venues"])
async def create_venue(body: VenueIn, request: Request, principal: Writer) -> VenueOut:
    venue = Venue(uuid.uuid4(), principal.organisation_id, **body.model_dump())
    # One transaction: an Idempotency-Key commits with the venue (sprakvan_shared.db.Connection).
    async with pool_of(request).acquire() as conn, conn.transaction():
        vocabulary = await repo.load_vocabulary(conn, principal.organisation_id)
        if vocabulary is not None and venue.district not in vocabulary.districts:
            raise InvalidInput.one(f"unknown district {venue.district!r}", "body", "district")
        await repo.save_venue(conn, venue)
    return VenueOut.of(venue)


@router.put("/venues/{venue_id}", response_model=VenueOut, tags=["venues"])
async def change_venue(
    venue_id: uuid.UUID, body: VenueIn, request: Request, principal: Writer, if_match: http.IfMatch = None
) -> Response:
    """Replace a venue's details, at the version you read (``If-Match``, the ``ETag`` of ``GET
    /venues/{id}`` or the listed ``version``): a change someone saved in between is a 412 and nothing of this
    one is saved. Occurrences already scheduled keep the district and capacity they were given; later ones
    (and feeds, calendars) show the venue as it is now."""
    expected = http.expected_version(if_match)
    venue = Venue(venue_id, principal.organisation_id, **body.model_dump())
    async with pool_of(request).acquire() as conn:
        vocabulary = await repo.load_vocabulary(conn, principal.organisation_id)
        if vocabulary is not None and venue.district not in vocabulary.districts:
            raise InvalidInput.one(f"unknown district {venue.district!r}", "body", "district")
        venue = await repo.update_venue(conn, venue, expected)
    return _versioned(VenueOut.of(venue), venue.version)


@router.get("/venues/{venue_id}", response_model=VenueOut, tags=["venues"])
async def get_venue(venue_id: uuid.UUID, request: Request, principal: Reader) -> Response:
    """One venue; its ``ETag`` is the version a PUT sends back as ``If-Match``."""
    async with pool_of(request).acquire() as conn:
        venue = await repo.load_venue(conn, principal.organisation_id, venue_id)
    if venue is None:
        raise repo.NotFound("venue")
    return _versioned(VenueOut.of(venue), venue.version)


def _versioned(out: BaseModel, version: int, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(
        out.model_dump_json(), status_code, media_type="application/json", headers={"ETag": http.etag(version)}
    )


@router.get("/venues", response_model=list[VenueOut], tags=["venues"])
async def list_venues(request: Request, principal: Reader) -> list[VenueOut]:
    async with pool_of(request).acquire() as conn:
        return [VenueOut.of(v) for v in await repo.list_venues(conn, principal.organisation_id)]


@router.post("/partners", status_code=status.HTTP_201_CREATED, response_model=PartnerOut, tags=["partners"])
async def create_partner(body: PartnerIn, request: Request, principal: Writer) -> PartnerOut:
    partner = Partner(uuid.uuid4(), principal.organisation_id, body.name, body.kind)
    async with pool_of(request).acquire() as conn, conn.transaction():  # the Idempotency-Key with it
        await repo.insert_partner(conn, partner)
    return PartnerOut(id=partner.id, name=partner.name, kind=partner.kind)


@router.get("/partners", response_model=list[PartnerOut], tags=["partners"])
async def list_partners(request: Request, principal: Reader) -> list[PartnerOut]:
    async with pool_of(request).acquire() as conn:
        found = await repo.list_partners(conn, principal.organisation_id)
    return [PartnerOut(id=p.id, name=p.name, kind=p.kind) for p in found]


@router.put(
    "/activity-types/{code}",
    response_model=ActivityTypeOut,
    responses={201: {"model": ActivityTypeOut, "description": "A new type (no If-Match needed)."}},
    tags=["activities"],
)
async def define_type(
    code: str, body: ActivityTypeIn, request: Request, principal: Writer, if_match: http.IfMatch = None
) -> Response:
    """Define a programme's own type (201; no ``If-Match`` needed for a new one) or replace it (200) at the
    version you read (``If-Match``, the listed ``version``): a change in between is a 412, none sent 428."""
    if code in BUILT_IN_TYPES:
        return JSONResponse({"detail": "a built-in type cannot be redefined"}, status.HTTP_409_CONFLICT)
    if not (1 <= len(code) <= 40 and code.replace("_", "").replace("-", "").isalnum() and code.islower()):
        return unprocessable([(("path", "code"), "a code is 1-40 lower-case letters, digits, _ or -")])
    expected = None if if_match is None else http.expected_version(if_match)
    async with pool_of(request).acquire() as conn:
        vocabulary = await repo.load_vocabulary(conn, principal.organisation_id)
        if body.programme and vocabulary is not None and body.programme not in vocabulary.programmes:
            raise InvalidInput.one(f"unknown programme {body.programme!r}", "body", "programme")
        wanted = ActivityType(code, dict(body.labels), body.programme)
        stored, created = await repo.put_type(
            conn, principal.organisation_id, wanted, expected, precondition=if_match is not None
        )
    out = ActivityTypeOut.of(stored, built_in=False)
    return _versioned(out, stored.version, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get("/activity-types", response_model=list[ActivityTypeOut], tags=["activities"])
async def list_types(request: Request, principal: Reader) -> list[ActivityTypeOut]:
    async with pool_of(request).acquire() as conn:
        custom = await repo.custom_types(conn, principal.organisation_id)
    every = [(t, True) for t in BUILT_IN_TYPES.values()] + [(t, False) for t in custom.values()]
    return [ActivityTypeOut.of(t, built_in=b) for t, b in every]
