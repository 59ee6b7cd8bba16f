"""The review document and its outputs (JSON, CSV, HTML, PDF) from hand-loaded read models."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date

import pytest
from reporting_builders import ORG, load_sample

from sprakvan_reporting.adapters import partnerships
from sprakvan_reporting.adapters.figures import Scope
from sprakvan_reporting.domain.model import Narrative, PartnershipTerms, Period
from sprakvan_reporting.domain.review import to_json
from sprakvan_reporting.outputs.csv_tables import table_csv
from sprakvan_reporting.outputs.printable import render_html, render_pdf
from sprakvan_reporting.service_layer.review import compute_review
from sprakvan_shared.db import create_pool

pytestmark = pytest.mark.infra

PERIOD = Period(date(2019, 1, 1), date(2019, 10, 31))

TERMS = PartnershipTerms.model_validate(
    {
        "title": "Vi ses! Språkvänner i Linköping",
        "valid_from": "2019-01-01",
        "valid_to": "2021-12-31",
        "purpose": "Ett mer inkluderande Linköping genom mellanmänskliga möten.",
        "partners": [
            {"name": "Linköpings kommun", "yearly_contribution_sek": 600000, "covers": "Projektledare"},
            {"name": "=Röda Korset", "yearly_contribution_sek": 477600, "covers": "OH, lokaler, resor"},
        ],
        "goals": [
            {"kind": "more_new_pairs", "text": "Öka antalet matchade språkvänner jämfört med 2019."},
            {"kind": "regular_activity_in_district", "district": "ryd"},
            {"kind": "regular_activity_in_district", "district": "skaggetorp"},
            {"kind": "keep_mean_attendance"},
            {"kind": "text", "text": "Fler samarbeten med näringslivet."},
        ],
    }
)


@pytest.fixture
async def review(conn, reporting_db):
    await load_sample(conn)
    partnership = await partnerships.add(conn, ORG, TERMS, "admin-1")
    await partnerships.save_narrative(
        conn, partnership.id, PERIOD, Narrative(background="Tre år av <möten>.", future="Ryd.", summary="Bra."), "a"
    )
    pool = await create_pool(reporting_db, min_size=1, max_size=4)
    try:
        yield await compute_review(pool, Scope(ORG, None), PERIOD)
    finally:
        await pool.close()


async def test_a_small_pool_or_many_reviews_at_once_never_wait_for_each_other(conn, reporting_db):
    await load_sample(conn)
    for size in (1, 2, 4):
        pool = await create_pool(reporting_db, min_size=1, max_size=size)
        try:
            reviews = await asyncio.gather(*(compute_review(pool, Scope(ORG, None), PERIOD) for _ in range(6)))
        finally:
            await pool.close()
        assert len({to_json(r) for r in reviews}) == 1


async def test_goals_economy_and_narrative(review):
    assert [g["status"] for g in review["goals"]] == ["not_met", "not_met", "met", "met", "text"]
    economy = review["economy"]
    assert [p["yearly_contribution_sek"] for p in economy["partners"]] == [600000, 477600]
    # Jan-Oct 2019 is 304 of 365 days: 600 000 * 304/365 = 499 726.03, 477 600 * 304/365 = 397 781.92
    assert [p["contribution_for_period_sek"] for p in economy["partners"]] == [499726, 397782]
    assert economy["period_total_sek"] == 897508
    assert economy["cost_per_active_pair_sek"] == round(897508 / 2)
    assert economy["cost_per_registered_participant_sek"] == round(897508 / 7)
    assert review["narrative"]["background"] == "Tre år av <möten>."


async def test_json_is_canonical(review):
    first = to_json(review)
    assert json.loads(first) == json.loads(to_json(json.loads(first)))
    assert to_json(json.loads(first)) == first


def _csv(review, name, lang="sv"):
    table = next(t for t in review["tables"] if t["name"] == name)
    return table_csv(table, lang, review["labels"])


async def test_csv_for_swedish_excel(review):
    data = _csv(review, "economy")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode()), delimiter=";"))
    assert rows[0] == ["Part", "Avser", "Bidrag per år (kr)", "Bidrag för perioden (kr)"]
    assert rows[1] == ["Linköpings kommun", "Projektledare", "600000", "499726"]
    assert rows[2][0] == "'=Röda Korset"  # a formula would run in Excel
    assert b"\r\n" in data
    attendance = list(csv.reader(io.StringIO(_csv(review, "attendance_by_district")[3:].decode()), delimiter=";"))
    skaggetorp = next(r for r in attendance if r[0] == "skaggetorp")
    assert skaggetorp[1:4] == ["44", "528", "12"]  # raw numbers, no thousands separators
    ryd = next(r for r in attendance if r[0] == "ryd")
    assert ryd[4] == "0,1"  # 3 sessions / 44 weeks, decimal comma


async def test_html_in_swedish_and_english(review):
    sv = render_html(review, "sv")
    assert "Antal anmälda nyanlända: 6 st (4 kvinnor / 2 män)" in " ".join(sv.split())
    assert "Tre år av &lt;möten&gt;." in sv  # typed text is escaped
    assert "600\u00a0000\u00a0kr" in sv and "1\u00a0077\u00a0600\u00a0kr" in sv
    assert "1 januari 2019" in sv
    assert "<svg" in sv and "<text" in sv  # charts keep their text as text
    en = render_html(review, "en")
    assert "Registered newcomers: 6" in " ".join(en.split())
    assert "SEK\u00a0600,000" in en and "1 January 2019" in en


async def test_pdf_from_the_same_template(review):
    pdf = render_pdf(review, "sv")
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 10_000
