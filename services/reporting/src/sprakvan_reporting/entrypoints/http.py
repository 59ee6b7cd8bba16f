"""The reporting HTTP API: thin translation between HTTP and the service layer. Every route is scoped to
the caller's organisation; viewers read, admins write the partnership, coordinators the narrative."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import StringConstraints

from sprakvan_shared import http
from sprakvan_shared.auth import Principal, Role
from sprakvan_shared.http import Reader, Writer, require_role
from sprakvan_shared.text import Day

from ..adapters import partnerships as repository
from ..adapters.figures import Scope
from ..domain.model import InvalidPeriod, Narrative, Partnership, PartnershipTerms, Period
from ..domain.review import to_json
from ..outputs import charts
from ..outputs.csv_tables import table_csv
from ..outputs.printable import render_html
from ..outputs.texts import CODE_LABELS, TABLE_TITLES, TEXT
from ..service_layer.review import UnknownPartnership, compute_review

Admin = Annotated[Principal, Depends(require_role({Role.ADMIN}))]
ProgrammeCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
Language = Literal["sv", "en"]
TableName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,60}$")]

reviews = APIRouter(prefix="/reviews", tags=["reviews"])
partnerships = APIRouter(prefix="/partnerships", tags=["partnerships"])


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


def _period(start: date, end: date, field: tuple[str, str] = ("query", "to")) -> Period:
    try:
        return Period(start, end)
    except InvalidPeriod as exc:
        raise _Unprocessable(field, str(exc)) from exc


class _Unprocessable(Exception):
    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        self.loc, self.message = loc, message


class ReviewQuery:
    """The review asked for: a period (days, inclusive), a programme or all, a partnership or the one
    valid in the period."""

    def __init__(
        self,
        start: Annotated[Day, Query(alias="from", description="First day, inclusive.")],
        end: Annotated[Day, Query(alias="to", description="Last day, inclusive.")],
        programme: Annotated[ProgrammeCode | None, Query(description="One programme; none for all.")] = None,
        partnership_id: uuid.UUID | None = None,
    ) -> None:
        self.period = _period(start, end)
        self.programme = programme
        self.partnership_id = partnership_id


async def _review(request: Request, principal: Principal, query: ReviewQuery) -> dict:
    try:
        return await compute_review(
            _pool(request), Scope(principal.organisation_id, query.programme), query.period, query.partnership_id
        )
    except UnknownPartnership as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such partnership") from exc


# A review names a partnership by id; one of another organisation, or none, is a 404.
UNKNOWN_PARTNERSHIP: dict[int | str, dict[str, object]] = {404: {"description": "No such partnership here."}}


@reviews.get("", summary="The partnership review as JSON", responses=UNKNOWN_PARTNERSHIP)
async def review_json(request: Request, principal: Reader, query: Annotated[ReviewQuery, Depends()]) -> Response:
    """Figures for the period and the same period a year earlier, tables, goals, economy, narrative and
    the definition of every figure. The same read models always give the same bytes."""
    return Response(to_json(await _review(request, principal, query)), media_type="application/json")


@reviews.get("/tables/{name}.csv", summary="One table of the review as CSV for Swedish Excel")
async def review_csv(
    name: TableName,
    request: Request,
    principal: Reader,
    query: Annotated[ReviewQuery, Depends()],
    lang: Language = "sv",
) -> Response:
    review = await _review(request, principal, query)
    table = next((t for t in review["tables"] if t["name"] == name), None)
    if table is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such table; GET /reviews lists them under tables[].name")
    period = review["period"]
    return Response(
        table_csv(table, lang, review["labels"]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}_{period["start"]}_{period["end"]}.csv"'},
    )


CHARTS = {
    "registrations": charts.registrations_by_month,
    "pairs": charts.pairs_over_time,
    "attendance": charts.attendance_by_district,
}
ChartName = Literal["registrations", "pairs", "attendance"]


@reviews.get(
    "/charts/{name}.svg",
    response_class=Response,
    summary="One chart of the printed review, as an SVG image",
    responses={200: {"content": {"image/svg+xml": {}}}, **UNKNOWN_PARTNERSHIP},
)
async def review_chart(
    name: ChartName,
    request: Request,
    principal: Reader,
    query: Annotated[ReviewQuery, Depends()],
    lang: Language = "sv",
) -> Response:
    """The same chart the printable review and the PDF draw, for pages that show it beside its table."""
    review = await _review(request, principal, query)
    svg = await request.app.state.run_in_thread(CHARTS[name], review, lang)
    return Response(svg, media_type="image/svg+xml")


@reviews.get("/texts", summary="The review's words in one language")
async def review_texts(principal: Reader, lang: Language = "sv") -> dict:
    """Headings, table titles and the labels of the codes every organisation shares, as the printed review
    uses them, so that another front shows the review in the same words. The organisation's own codes
    (districts, campaigns) are labelled under ``labels`` in the review."""
    return {
        "lang": lang,
        "text": {key: words[lang] for key, words in TEXT.items()},
        "tables": {name: words[lang] for name, words in TABLE_TITLES.items()},
        "codes": {kind: {code: words[lang] for code, words in codes.items()} for kind, codes in CODE_LABELS.items()},
    }


@reviews.get(
    "/print", response_class=HTMLResponse, summary="The printable review (HTML)", responses=UNKNOWN_PARTNERSHIP
)
async def review_html(
    request: Request, principal: Reader, query: Annotated[ReviewQuery, Depends()], lang: Language = "sv"
) -> HTMLResponse:
    review = await _review(request, principal, query)
    return HTMLResponse(await request.app.state.run_in_thread(render_html, review, lang))


@reviews.post(
    "/pdf",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Render the review as PDF, off the request path",
    responses=UNKNOWN_PARTNERSHIP,
)
async def request_pdf(
    request: Request, principal: Reader, query: Annotated[ReviewQuery, Depends()], lang: Language = "sv"
) -> JSONResponse:
    review = await _review(request, principal, query)
    render_id = await request.app.state.pdf.request(principal.organisation_id, review, lang)
    return JSONResponse(
        {"render_id": str(render_id), "status": "pending"},
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/reviews/pdf/{render_id}"},
    )


@reviews.get("/pdf/{render_id}", summary="A rendered PDF (202 while it is being made)")
async def fetch_pdf(render_id: uuid.UUID, request: Request, principal: Reader) -> Response:
    row = await request.app.state.pdf.fetch(principal.organisation_id, render_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such render")
    if row["status"] == "pending":
        return JSONResponse({"status": "pending"}, status_code=status.HTTP_202_ACCEPTED, headers={"Retry-After": "2"})
    if row["status"] == "failed":
        return JSONResponse({"status": "failed"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return Response(row["pdf"], media_type="application/pdf")


def _partnership_out(p: Partnership) -> dict:
    return {"id": str(p.id), "version": p.version, **p.terms.model_dump(mode="json")}


@partnerships.get("", summary="The organisation's partnerships")
async def list_partnerships(request: Request, principal: Reader) -> list[dict]:
    async with _pool(request).acquire() as conn:
        return [_partnership_out(p) for p in await repository.list_all(conn, principal.organisation_id)]


@partnerships.post("", status_code=status.HTTP_201_CREATED, summary="Record a partnership (admin)")
async def add_partnership(terms: PartnershipTerms, request: Request, principal: Admin) -> JSONResponse:
    async with _pool(request).acquire() as conn, conn.transaction():  # the Idempotency-Key with it
        created = await repository.add(conn, principal.organisation_id, terms, principal.subject)
    return JSONResponse(
        _partnership_out(created),
        status_code=status.HTTP_201_CREATED,
        headers={"Location": f"/partnerships/{created.id}", "ETag": http.etag(created.version)},
    )


@partnerships.get("/{partnership_id}")
async def get_partnership(partnership_id: uuid.UUID, request: Request, principal: Reader) -> JSONResponse:
    """One partnership; its ``ETag`` is the version a PUT sends back as ``If-Match``."""
    async with _pool(request).acquire() as conn:
        found = await repository.get(conn, principal.organisation_id, partnership_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such partnership")
    return JSONResponse(_partnership_out(found), headers={"ETag": http.etag(found.version)})


@partnerships.put("/{partnership_id}", summary="Replace a partnership's terms (admin)")
async def replace_partnership(
    partnership_id: uuid.UUID,
    terms: PartnershipTerms,
    request: Request,
    principal: Admin,
    if_match: http.IfMatch = None,
) -> JSONResponse:
    """Replace the terms; ``If-Match`` carries the version you read (412 when someone saved in between)."""
    expected = http.expected_version(if_match)
    async with _pool(request).acquire() as conn:
        try:
            updated = await repository.replace(
                conn, principal.organisation_id, partnership_id, terms, principal.subject, expected
            )
        except repository.VersionConflict as exc:
            raise http.PreconditionFailed() from exc
    if updated is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such partnership")
    return JSONResponse(_partnership_out(updated), headers={"ETag": http.etag(updated.version)})


NARRATIVE_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "No such partnership here."},
    412: {"description": "If-Match is not the narrative's version (0: none written yet)."},
}


def _narrative_out(narrative: Narrative, version: int) -> JSONResponse:
    return JSONResponse({**narrative.model_dump(), "version": version}, headers={"ETag": http.etag(version)})


async def _known_partnership(conn: asyncpg.Connection, principal: Principal, partnership_id: uuid.UUID) -> None:
    if await repository.get(conn, principal.organisation_id, partnership_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such partnership")


@partnerships.get(
    "/{partnership_id}/narratives/{start}/{end}",
    summary="A review's narrative and its version",
    responses=UNKNOWN_PARTNERSHIP,  # a read: no 412
)
async def get_narrative(
    partnership_id: uuid.UUID, start: Day, end: Day, request: Request, principal: Reader
) -> JSONResponse:
    """Empty parts and version 0 while nothing is written."""
    period = _period(start, end, ("path", "end"))
    async with _pool(request).acquire() as conn:
        await _known_partnership(conn, principal, partnership_id)
        found = await repository.get_narrative_version(conn, partnership_id, period)
    return _narrative_out(*(found or (Narrative(), 0)))


@partnerships.put(
    "/{partnership_id}/narratives/{start}/{end}",
    summary="Background, future and summary of a review",
    responses=NARRATIVE_RESPONSES,
)
async def save_narrative(
    partnership_id: uuid.UUID,
    start: Day,
    end: Day,
    narrative: Narrative,
    request: Request,
    principal: Writer,
    if_match: http.IfMatch = None,
) -> JSONResponse:
    """Save the narrative; ``If-Match`` carries the version you read (`"0"` while none is written)."""
    expected = http.expected_version(if_match)
    period = _period(start, end, ("path", "end"))
    async with _pool(request).acquire() as conn, conn.transaction():
        await _known_partnership(conn, principal, partnership_id)
        try:
            version = await repository.save_narrative(
                conn, partnership_id, period, narrative, principal.subject, expected
            )
        except repository.NarrativeConflict as exc:
            raise http.PreconditionFailed() from exc
    return _narrative_out(narrative, version)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(_Unprocessable)
    async def unprocessable(_: Request, exc: _Unprocessable) -> JSONResponse:
        return http.unprocessable([(exc.loc, exc.message)])
