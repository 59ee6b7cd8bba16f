"""The review's charts as SVG with real text (``svg.fonttype = "none"``), so that a PDF search or a
screen reader finds the words; each chart is printed beside a table of the same numbers."""

from __future__ import annotations

import io
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..domain.model import ROLES
from .formatting import month
from .texts import label, text

_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "sprakvan",  # stable ids: the same review gives the same SVG
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# Set once for the process, not per chart: rc_context() would swap global settings under a chart that
# another thread is drawing.
matplotlib.rcParams.update(_STYLE)
_COLOURS = {"woman": "#b5338a", "man": "#1f6fb2", "non_binary": "#d9822b", "undisclosed": "#7a7a7a"}


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    # Figure, not pyplot: no global state, so charts may be drawn in threads side by side.
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def _svg(figure: Figure, counts_on: str = "y") -> str:
    for axes in figure.axes:  # counts of people and pairs: no 0.5 ticks
        (axes.yaxis if counts_on == "y" else axes.xaxis).set_major_locator(MaxNLocator(integer=True))
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # inline in HTML: no XML declaration or doctype


def registrations_by_month(review: dict[str, Any], lang: str) -> str:
    by_month = review["figures"]["current"]["registrations"]["by_month"]
    months = list(by_month)
    figure, axes = _figure(6.4, 2.8)
    positions = range(len(months))
    width = 0.38
    for offset, role in zip((-width / 2, width / 2), ROLES, strict=True):
        bottom = [0] * len(months)
        for gender in ("woman", "man", "non_binary", "undisclosed"):
            values = [by_month[m][role][gender] for m in months]
            if not any(values):
                continue
            axes.bar(
                [p + offset for p in positions], values, width, bottom=bottom, color=_COLOURS[gender],
                hatch="//" if role == "established" else None, edgecolor="white", linewidth=0.5,
                label=f"{label('role', role, lang, {})}: {label('gender', gender, lang, {})}",
            )  # fmt: skip
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(list(positions), [month(m, lang, short=True) for m in months])
    axes.set_title(text("chart_registrations", lang), loc="left")
    if any(any(by_month[m][r][g] for r in ROLES for g in _COLOURS) for m in months):  # no bars: no legend
        axes.legend(fontsize=7, frameon=False, ncols=2)
    return _svg(figure)


def pairs_over_time(review: dict[str, Any], lang: str) -> str:
    over_time = review["figures"]["current"]["pairs"]["over_time"]
    months = list(over_time)
    figure, axes = _figure(6.4, 2.6)
    axes.bar(months, [over_time[m]["new"] for m in months], color="#9cc3e6", label=text("new", lang))
    axes.plot(
        months, [over_time[m]["active_at_month_end"] for m in months], color="#1f4e79", marker="o",
        label=text("active_at_month_end", lang),
    )  # fmt: skip
    axes.set_xticks(months, [month(m, lang, short=True) for m in months])
    axes.set_title(text("chart_pairs", lang), loc="left")
    axes.legend(fontsize=7, frameon=False)
    return _svg(figure)


def attendance_by_district(review: dict[str, Any], lang: str) -> str:
    by_district = review["figures"]["current"]["activities"]["by_district"]
    districts = sorted(by_district, key=lambda d: by_district[d]["attendance"])
    figure, axes = _figure(6.4, 0.6 + 0.3 * max(len(districts), 1))
    names = [label("district", d, lang, review["labels"]) for d in districts]
    axes.barh(
        names,
        [by_district[d]["attended_registered"] for d in districts],
        color="#2e7d32",
        label=text("attended_registered", lang),
    )
    axes.barh(
        names,
        [by_district[d]["attended_walk_in"] for d in districts],
        color="#a5d6a7",
        left=[by_district[d]["attended_registered"] for d in districts],
        label=text("attended_walk_in", lang),
    )
    axes.set_title(text("chart_attendance", lang), loc="left")
    axes.legend(fontsize=7, frameon=False)
    return _svg(figure, counts_on="x")  # fmt: skip
