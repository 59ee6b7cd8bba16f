"""The review's downloads and images, streamed from reporting through the web front: each table as CSV,
each chart as SVG, and the PDF, which reporting renders off the request path (a page says "being
prepared" with a link that works once it is ready; htmx polls the same link for the page's status line).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from ...adapters.services import ServiceClient
from . import ServiceRefused, ServiceUnavailable, WorkspaceRequest, workspace_request
from .review_view import PeriodChoice, choose_period

router = APIRouter(include_in_schema=False)
_TABLE = re.compile(r"^[a-z_]{1,60}$")
CHARTS = ("registrations", "pairs", "attendance")
_DOWNLOAD_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _(message: str) -> str:  # marks a message for extraction; translated where it is shown
    return message


async def open_stream(client: ServiceClient, path: str, ws: WorkspaceRequest, params: dict[str, str]) -> httpx.Response:
    """A service's response with its body not yet read (any status below 500). The frame's client reads
    whole bodies (``get_bytes``); a download is passed on as it arrives instead."""
    request = client._http.build_request("GET", path, params=params, headers=client._headers(ws.caller))  # noqa: SLF001
    try:
        response = await client._http.send(request, stream=True)  # noqa: SLF001
    except httpx.HTTPError as exc:
        raise client.unavailable(type(exc).__name__) from exc
    if response.status_code >= 500:
        await response.aclose()
        raise client.unavailable(f"answered {response.status_code}")
    return response


async def _refused(response: httpx.Response, client: ServiceClient) -> Exception:
    await response.aread()
    await response.aclose()
    return client.refused(response)


def _passed_on(response: httpx.Response, media_type: str, filename: str | None = None) -> StreamingResponse:
    headers = dict(_DOWNLOAD_HEADERS)
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return StreamingResponse(_body(response), media_type=media_type, headers=headers)


async def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The service's body as it arrives; its connection goes back to the pool also when the browser leaves
    half-way (a background task would not run then)."""
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    finally:
        await response.aclose()


def _choice(ws: WorkspaceRequest, params: Any) -> PeriodChoice | None:
    texts = {key: value for key, value in params.items() if isinstance(value, str)}
    choice, problems = choose_period(texts, date.today())
    return None if problems else choice


def _lang(ws: WorkspaceRequest) -> str:
    return "en" if ws.locale.code == "en" else "sv"


@router.get("/workspace/review/tables/{name}.csv")
async def table_csv(name: str, request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    choice = _choice(ws, request.query_params)
    if choice is None or not _TABLE.match(name):
        return _not_found(ws)
    reporting = ws.web.reporting
    try:
        response = await open_stream(
            reporting, f"/reviews/tables/{name}.csv", ws, choice.service_query() | {"lang": _lang(ws)}
        )
        if response.status_code != 200:
            raise await _refused(response, reporting)
    except ServiceUnavailable:
        return ws.unavailable("review")
    except ServiceRefused:
        return _not_found(ws)
    filename = f"{name}_{choice.start.isoformat()}_{choice.end.isoformat()}.csv"
    return _passed_on(response, "text/csv; charset=utf-8", filename)


@router.get("/workspace/review/charts/{name}.svg")
async def chart_svg(name: str, request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    choice = _choice(ws, request.query_params)
    if choice is None or name not in CHARTS:
        return Response(status_code=404)
    try:
        response = await ws.web.reporting.get_bytes(
            f"/reviews/charts/{name}.svg", ws.caller, **choice.service_query(), lang=_lang(ws)
        )
    except (ServiceUnavailable, ServiceRefused):
        return Response(status_code=404)
    # A chart is small and drawn whole: it is passed on in one piece.
    return Response(response.content, media_type="image/svg+xml", headers=_DOWNLOAD_HEADERS)


@router.post("/workspace/review/pdf")
async def request_pdf(request: Request) -> Response:
    """Any role may ask for the PDF: it changes nothing but is a POST (reporting starts a render)."""
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    form = await request.form()
    if not ws.csrf_ok(form):
        return ws.message(ws.t.text("The form expired"), ws.t.text("Please go back and try again."), status_code=403)
    choice = _choice(ws, form)
    if choice is None:
        return _not_found(ws)
    try:
        asked = await ws.web.reporting.write(
            "POST", f"/reviews/pdf?{urlencode(choice.service_query() | {'lang': _lang(ws)})}", ws.caller
        )
    except ServiceUnavailable:
        return ws.unavailable("review")
    except ServiceRefused:
        return _not_found(ws)
    return RedirectResponse(ws.url(f"/workspace/review/pdf/{asked['render_id']}", **choice.query()), status_code=303)


@router.get("/workspace/review/pdf/{render_id}")
async def pdf(render_id: str, request: Request) -> Response:
    """The PDF once it is ready; until then a page that says so, with this same link. With ``HX-Request``
    only the status line (htmx polls it while the render runs)."""
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    choice = _choice(ws, request.query_params)
    try:
        render = uuid.UUID(render_id)
    except ValueError:
        return _not_found(ws)
    if choice is None:
        return _not_found(ws)
    reporting = ws.web.reporting
    try:
        response = await open_stream(reporting, f"/reviews/pdf/{render}", ws, {})
    except ServiceUnavailable:
        return _pdf_status(ws, render, choice, "failed")
    if response.status_code == 202:
        await response.aclose()
        return _pdf_status(ws, render, choice, "pending")
    if response.status_code != 200:
        await response.aclose()
        return _not_found(ws)
    if request.headers.get("HX-Request"):
        await response.aclose()
        return _pdf_status(ws, render, choice, "ready")
    filename = f"partnership-review_{choice.start.isoformat()}_{choice.end.isoformat()}_{_lang(ws)}.pdf"
    return _passed_on(response, "application/pdf", filename)


def _pdf_status(ws: WorkspaceRequest, render: uuid.UUID, choice: PeriodChoice, status: str) -> Response:
    link = ws.url(f"/workspace/review/pdf/{render}", **choice.query())
    context = {"status": status, "link": link, "back": ws.url("/workspace/review", **choice.query())}
    if ws.request.headers.get("HX-Request"):
        return ws.page("workspace/review/_pdf_status.html", title="", section="review", **context)
    return ws.page(
        "workspace/review/pdf.html",
        title=ws.t.text("The PDF of the partnership review"),
        section="review",
        **context,
    )


def _not_found(ws: WorkspaceRequest) -> Response:
    return ws.message(
        ws.t.text("Not found"),
        ws.t.text("It does not exist, or it belongs to another organisation."),
        status_code=404,
        section="review",
    )
