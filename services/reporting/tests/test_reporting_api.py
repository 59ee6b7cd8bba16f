"""The reporting HTTP API on the real service (lifespan, PostgreSQL, NATS): roles, scoping, outputs."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from reporting_events import STOCKHOLM, configured, participant_state, registered

from sprakvan_reporting.service import SERVICE
from sprakvan_reporting.service_layer.consumers import apply_events

pytestmark = pytest.mark.infra

PARTNERSHIP = {
    "title": "Vi ses! Språkvänner i Linköping",
    "valid_from": "2019-01-01",
    "valid_to": "2021-12-31",
    "purpose": "Ett mer inkluderande Linköping.",
    "partners": [
        {"name": "Linköpings kommun", "yearly_contribution_sek": 600000, "covers": "Projektledare"},
        {"name": "Linköping Södra Röda Korskrets", "yearly_contribution_sek": 477600, "covers": "OH, lokaler, resor"},
    ],
    "goals": [{"kind": "regular_activity_in_district", "district": "ryd"}],
}
PERIOD = {"from": "2019-01-01", "to": "2019-10-31"}


@pytest.fixture
async def loaded(start_service):
    async with start_service(SERVICE) as reporting:
        events = [configured(), *(registered(participant_state(date(2019, 3, d))) for d in range(1, 4))]
        async with reporting.pool.acquire() as conn, conn.transaction():
            await apply_events(conn, events, STOCKHOLM)
        yield reporting.client


async def test_admin_writes_the_partnership_viewer_reads_the_review(loaded, token):
    client = loaded
    refused = await client.post("/partnerships", json=PARTNERSHIP, headers=token("coordinator"))
    assert refused.status_code == 403
    created = await client.post("/partnerships", json=PARTNERSHIP, headers=token("admin"))
    assert created.status_code == 201, created.text
    review = await client.get("/reviews", params=PERIOD, headers=token("viewer"))
    assert review.status_code == 200
    body = review.json()
    assert body["figures"]["current"]["registrations"]["total_by_role"]["newcomer"] == 3
    assert [p["yearly_contribution_sek"] for p in body["economy"]["partners"]] == [600000, 477600]
    assert body["goals"][0]["status"] == "not_met"
    again = await client.get("/reviews", params=PERIOD, headers=token("viewer"))
    assert again.content == review.content


async def test_other_organisations_see_nothing_of_it(loaded, token):
    client = loaded
    created = (await client.post("/partnerships", json=PARTNERSHIP, headers=token("admin"))).json()
    other = token("admin", org="norrkoping")
    assert (await client.get(f"/partnerships/{created['id']}", headers=other)).status_code == 404
    anything = {**other, "If-Match": "*"}
    mine = token("admin")
    assert (await client.put(f"/partnerships/{created['id']}", json=PARTNERSHIP, headers=mine)).status_code == 428
    read = {**mine, "If-Match": (await client.get(f"/partnerships/{created['id']}", headers=mine)).headers["etag"]}
    assert read["If-Match"] == '"1"'
    assert (await client.put(f"/partnerships/{created['id']}", json=PARTNERSHIP, headers=read)).status_code == 200
    stale = await client.put(f"/partnerships/{created['id']}", json={**PARTNERSHIP, "title": "Annat"}, headers=read)
    assert stale.status_code == 412
    assert (await client.get(f"/partnerships/{created['id']}", headers=mine)).json()["title"] == PARTNERSHIP["title"]
    assert (await client.put(f"/partnerships/{created['id']}", json=PARTNERSHIP, headers=anything)).status_code == 404
    review = (await client.get("/reviews", params=PERIOD, headers=other)).json()
    assert review["figures"]["current"]["registrations"]["total_by_role"]["newcomer"] == 0
    assert review["partnership"] is None


async def test_hostile_input_is_a_4xx_naming_the_field(loaded, token):
    client = loaded
    viewer = token("viewer")
    backwards = await client.get("/reviews", params={"from": "2019-10-31", "to": "2019-01-01"}, headers=viewer)
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["query", "to"]
    bad_programme = await client.get("/reviews", params={**PERIOD, "programme": "x'; drop"}, headers=viewer)
    assert bad_programme.status_code == 422 and bad_programme.json()["detail"][0]["loc"] == ["query", "programme"]
    bad_money = await client.post(
        "/partnerships", json={**PARTNERSHIP, "partners": [{"name": "X", "yearly_contribution_sek": -1}]},
        headers=token("admin"),
    )  # fmt: skip
    assert bad_money.status_code == 422 and "yearly_contribution_sek" in bad_money.json()["detail"][0]["loc"]
    assert (await client.get("/reviews/tables/nope.csv", params=PERIOD, headers=viewer)).status_code == 404
    # Found by the schema fuzzer: an unknown partnership while the other lanes still run was a 500.
    unknown = {**PERIOD, "partnership_id": "e3e70682-c209-1cac-a29f-6fbed82c07cd"}
    assert (await client.get("/reviews", params=unknown, headers=viewer)).status_code == 404
    year_one = await client.get("/reviews", params={"from": "0001-01-01", "to": "0001-01-31"}, headers=viewer)
    assert year_one.status_code == 422
    assert (await client.get("/reviews", params=PERIOD, headers={"Authorization": "Bearer x"})).status_code == 401


async def test_narrative_csv_html_and_pdf(loaded, token):
    client = loaded
    created = (await client.post("/partnerships", json=PARTNERSHIP, headers=token("admin"))).json()
    narrative = {"background": "Sedan januari 2019 ett IOP.", "future": "Ryd.", "summary": "Fungerar bra."}
    saved = await client.put(
        f"/partnerships/{created['id']}/narratives/2019-01-01/2019-10-31",
        json=narrative,
        headers={**token("coordinator"), "If-Match": "0"},  # a bare version, as older clients send it
    )
    assert saved.status_code == 200, saved.text
    viewer = token("viewer")
    csv = await client.get("/reviews/tables/registrations_by_gender.csv", params=PERIOD, headers=viewer)
    assert csv.content.startswith(b"\xef\xbb\xbfGrupp;K\xc3\xb6n;Perioden;\xc3\x85ret innan\r\n")
    assert "Nyanlända;Kvinnor;3;0" in csv.content.decode("utf-8-sig")
    html = await client.get("/reviews/print", params={**PERIOD, "lang": "en"}, headers=viewer)
    assert "Sedan januari 2019 ett IOP." in html.text and "Registered newcomers" in html.text
    asked = await client.post("/reviews/pdf", params=PERIOD, headers=viewer)
    assert asked.status_code == 202
    location = asked.headers["Location"]
    for _ in range(600):  # the worker process imports WeasyPrint first
        fetched = await client.get(location, headers=viewer)
        if fetched.status_code != 202:
            break
        await asyncio.sleep(0.1)
    assert fetched.status_code == 200 and fetched.content.startswith(b"%PDF-")
    assert (await client.get(location, headers=token("viewer", org="norrkoping"))).status_code == 404


async def test_narrative_versions_charts_and_words_for_other_fronts(loaded, token):
    client = loaded
    created = (await client.post("/partnerships", json=PARTNERSHIP, headers=token("admin"))).json()
    url = f"/partnerships/{created['id']}/narratives/2019-01-01/2019-10-31"
    coordinator = token("coordinator")
    empty = await client.get(url, headers=token("viewer"))
    assert empty.json() == {"background": "", "future": "", "summary": "", "version": 0}
    assert (await client.put(url, json={"summary": "Bra."}, headers=coordinator)).status_code == 428
    first = await client.put(url, json={"summary": "Bra."}, headers={**coordinator, "If-Match": '"0"'})
    assert first.status_code == 200 and first.json()["version"] == 1 and first.headers["ETag"] == '"1"'

    # Someone who read nothing yet, or the first version, no longer matches: 412, nothing overwritten.
    for stale in ("0", "7"):
        late = await client.put(url, json={"summary": "Sämre."}, headers={**coordinator, "If-Match": stale})
        assert late.status_code == 412
    second = await client.put(url, json={"summary": "Bättre."}, headers={**coordinator, "If-Match": "1"})
    assert second.json()["version"] == 2
    assert (await client.get(url, headers=token("viewer"))).json()["summary"] == "Bättre."
    assert (await client.put(url, json={"summary": "x"}, headers=token("viewer"))).status_code == 403
    assert (await client.get(url, headers=token("viewer", org="norrkoping"))).status_code == 404

    chart = await client.get("/reviews/charts/registrations.svg", params={**PERIOD, "lang": "en"}, headers=coordinator)
    assert chart.headers["content-type"] == "image/svg+xml"
    assert chart.text.startswith("<svg") and "Registrations by month and gender" in chart.text
    assert (await client.get("/reviews/charts/nope.svg", params=PERIOD, headers=coordinator)).status_code == 422
    words = (await client.get("/reviews/texts", params={"lang": "sv"}, headers=coordinator)).json()
    assert words["tables"]["registrations_by_gender"] == "Anmälda efter grupp och kön"
    assert words["codes"]["gender"]["woman"] == "Kvinnor"
