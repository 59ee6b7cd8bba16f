"""The workspace's overview: where each part of a year's work is."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from . import SECTIONS, workspace_request

router = APIRouter(include_in_schema=False)


@router.get("/workspace")
async def overview(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    parts = [(path, ws.t.text(label)) for key, path, label in SECTIONS if key != "home"]
    return ws.page("workspace/home.html", title=ws.t.text("Overview"), section="home", parts=parts)
