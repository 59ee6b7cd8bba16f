"""The waiting list (longest wait first) and the balance of newcomers to free volunteer places by district,
as a bar chart drawn here (inline SVG with a title, a description and the data table beside it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from . import ServiceUnavailable, WorkspaceRequest, workspace_request
from .matching_support import SECTION, full_name, names_of, programmes_of, today
from .matching_words import word

router = APIRouter(include_in_schema=False)

# The chart's geometry in SVG user units (it scales to the page's width).
LABEL_WIDTH, BAR_WIDTH, VALUE_WIDTH = 150, 380, 50
BAR_HEIGHT, GROUP_GAP, TOP = 18, 16, 10


@dataclass(frozen=True)
class Bar:
    y: float
    width: float
    value: int
    kind: str  # waiting | places


@dataclass(frozen=True)
class District:
    label: str
    y: float  # the label's baseline
    bars: tuple[Bar, Bar]
    row: dict[str, Any]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    districts: tuple[District, ...]
    description: str


def balance_chart(ws: WorkspaceRequest, balance: list[dict[str, Any]], district_label: Any) -> Chart:
    """Two bars a district: newcomers waiting and free places, on one scale, largest shortfall first."""
    largest = max([1, *(b["newcomers_waiting"] for b in balance), *(b["free_places"] for b in balance)])
    group = 2 * BAR_HEIGHT + GROUP_GAP
    districts = []
    sentences = []
    for index, row in enumerate(balance):
        top = TOP + index * group
        label = district_label(row["district"])
        bars = (
            Bar(top, BAR_WIDTH * row["newcomers_waiting"] / largest, row["newcomers_waiting"], "waiting"),
            Bar(top + BAR_HEIGHT, BAR_WIDTH * row["free_places"] / largest, row["free_places"], "places"),
        )
        districts.append(District(label, top + BAR_HEIGHT + 5, bars, row))
        sentences.append(
            ws.t.text("%(district)s: newcomers waiting %(waiting)s, free places %(places)s, places short %(short)s.")
            % {
                "district": label,
                "waiting": row["newcomers_waiting"],
                "places": row["free_places"],
                "short": row["shortfall"],
            }
        )
    return Chart(
        width=LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH,
        height=TOP * 2 + max(1, len(balance)) * group,
        label_width=LABEL_WIDTH,
        districts=tuple(districts),
        description=" ".join(sentences) or ws.t.text("Nobody is waiting and no places are free."),
    )


@router.get("/workspace/matching/waiting")
async def waiting_list(request: Request) -> Response:
    ws = await workspace_request(request)
    if isinstance(ws, Response):
        return ws
    try:
        programmes = await programmes_of(ws, request.query_params.get("programme"))
        found = None
        people: dict[str, dict[str, Any]] = {}
        if programmes.chosen:
            found = await ws.web.matching.get(f"/programmes/{programmes.chosen}/waiting", ws.caller, limit=200)
            people = await names_of(ws, [w["participant_id"] for w in found["waiting"]])
    except ServiceUnavailable:
        return ws.unavailable(SECTION)
    now = today()
    return ws.page(
        "workspace/matching/waiting.html",
        title=ws.t.text("Waiting list"),
        section=SECTION,
        programmes=programmes,
        found=found,
        chart=balance_chart(ws, found["balance"], programmes.district) if found else None,
        since=lambda days: (now - timedelta(days=days)).isoformat(),
        name=lambda pid: full_name(people.get(str(pid)), ws),
        word=lambda kind, code: word(ws.t, kind, code),
    )
