"""The printable review: one Jinja2 template for the HTML page and the PDF (WeasyPrint renders the same
HTML). Everything it shows comes from the review document, so a PDF made later from stored JSON is
the same report."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from . import charts, formatting
from .texts import CODE_LABELS, LANGUAGES, TABLE_TITLES, column_heading, label, text


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sprakvan_reporting", "templates"),
        autoescape=True,  # narratives and partner names are typed by people
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(review: dict[str, Any], lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}")
    labels = review["labels"]

    def goal_text(goal: dict[str, Any]) -> str:
        if goal["kind"] == "text":
            return goal["text"]
        template = CODE_LABELS["goal_kind"][goal["kind"]][lang]
        checked = template.format(district=label("district", goal["district"], lang, labels))
        return f"{goal['text']} ({checked})" if goal["text"] else checked

    context = {
        "r": review,
        "p": review["partnership"],
        "now": review["figures"]["current"],
        "lang": lang,
        "tables": {t["name"]: t for t in review["tables"]},
        "charts": {
            "registrations": charts.registrations_by_month(review, lang),
            "pairs": charts.pairs_over_time(review, lang),
            "attendance": charts.attendance_by_district(review, lang),
        },
        "t": lambda key: text(key, lang),
        "lbl": lambda kind, code: label(kind, code, lang, labels),
        "heading": lambda key: column_heading(key, lang),
        "table_title": lambda name: TABLE_TITLES[name][lang],
        "num": lambda v: formatting.number(v, lang),
        "sek": lambda v: formatting.sek(v, lang),
        "day": lambda v: formatting.day(v, lang),
        "month": lambda v: formatting.month(v, lang),
        "goal_text": goal_text,
    }
    return _environment().get_template("review.html.j2").render(context)


def render_pdf(review: dict[str, Any], lang: str) -> bytes:
    """Seconds of CPU for a long report: run it off the request path (see service_layer.pdf)."""
    import weasyprint  # imported here: it is heavy, and only the PDF worker needs it

    return weasyprint.HTML(string=render_html(review, lang)).write_pdf()
