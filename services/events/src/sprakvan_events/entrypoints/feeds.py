"""Calendar feeds: managed under the bearer token, read with the URL's own token."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from sprakvan_shared import idempotency
from sprakvan_shared.http import Reader, Writer

from ..adapters import repository as repo
from ..service_layer import feeds
from .common import extend_series_if_due, now_of, pool_of
from .schemas import (
    FeedIn,
    FeedListed,
    FeedOut,
)

router = APIRouter(tags=["feeds"])


@router.post("/feeds", status_code=status.HTTP_201_CREATED, response_model=FeedOut)
async def create_feed(body: FeedIn, request: Request, principal: Writer) -> FeedOut:
    """A calendar feed URL for an organisation, programme, district or venue. The URL is shown once: a retry
    with the same Idempotency-Key gets 409 ``response_shown_once`` naming the feed, not the URL again (only
    the token's hash is kept, in the idempotency record too)."""
    async with pool_of(request).acquire() as conn, conn.transaction():  # the Idempotency-Key with it
        feed, token = await feeds.create_feed(
            conn, principal.organisation_id, body.scope, body.value, body.name, now=now_of(request)
        )
    idempotency.bind_resource(feed.id)
    idempotency.response_shown_once()
    return FeedOut(id=feed.id, scope=feed.scope, value=feed.scope_value, name=feed.name, url=f"/feeds/{token}.ics")


@router.get("/feeds", response_model=list[FeedListed])
async def list_feeds(request: Request, principal: Reader) -> list[FeedListed]:
    """The organisation's working feeds, without their URLs (shown once, at creation; only hashes are kept)."""
    async with pool_of(request).acquire() as conn:
        found = await repo.list_feeds(conn, principal.organisation_id)
    return [FeedListed(id=f.id, scope=f.scope, value=f.scope_value, name=f.name) for f in found]


# Only a UUID matches: DELETE on a feed URL ("/feeds/<token>.ics") is then a 405, not a 422 on feed_id.
@router.delete("/feeds/{feed_id:uuid}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_feed(feed_id: uuid.UUID, request: Request, principal: Writer) -> Response:
    async with pool_of(request).acquire() as conn:
        if not await repo.revoke_feed(conn, principal.organisation_id, feed_id, now_of(request)):
            raise repo.NotFound("feed")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/feeds/{token}.ics", response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
async def read_feed(token: str, request: Request) -> Response:
    """The iCalendar feed; no bearer token (phone calendars cannot send one): the URL's token is the key."""
    await extend_series_if_due(request)
    async with pool_of(request).acquire() as conn:
        body = await feeds.render(conn, token, now=now_of(request))
    if body is None:
        return JSONResponse({"detail": "no such feed"}, status.HTTP_404_NOT_FOUND)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={"Cache-Control": "private, max-age=300"})
