"""Intake's list for the coordinators' workspace: search by the beginnings of names, programme and
interview filters, newest first, keyset paging that keeps every filter."""

from __future__ import annotations

import asyncpg
import httpx

from .conftest import ORG_B
from .factories import established, newcomer


def _names(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return [f"{p['first_name']} {p['last_name']}" for p in page.json()["items"]]


async def test_search_by_part_of_a_name_filters_and_pages_newest_first(
    intake: httpx.AsyncClient,
    db: asyncpg.Connection,
    mint,  # noqa: ANN001
) -> None:
    people = [
        newcomer(first_name="Amina", last_name="Haddad"),
        newcomer(first_name="Åsa", last_name="Öberg"),
        established(first_name="Karin", last_name="Lindqvist"),
        newcomer(first_name="Mohammed", last_name="Ahmadi"),
        newcomer(first_name="Ahmad", last_name="Karimi"),
        newcomer(first_name="Sara", last_name="O'Brien-Ali"),
    ]
    ids = [(await intake.post("/participants", json=body)).json()["id"] for body in people]
    await intake.post(f"/participants/{ids[3]}/interviews", json={"held_on": "2026-11-20", "coordinator": "Eva"})

    assert _names(await intake.get("/participants", params={"name": "ahmad"})) == ["Mohammed Ahmadi", "Ahmad Karimi"]
    assert _names(await intake.get("/participants", params={"name": "ÖBERG"})) == ["Åsa Öberg"]
    assert _names(await intake.get("/participants", params={"name": "kari"})) == ["Karin Lindqvist", "Ahmad Karimi"]
    assert _names(await intake.get("/participants", params={"name": "had AMI"})) == ["Amina Haddad"]  # any order
    assert _names(await intake.get("/participants", params={"name": "o'brien"})) == ["Sara O'Brien-Ali"]
    assert _names(await intake.get("/participants", params={"name": "ali"})) == ["Sara O'Brien-Ali"]
    assert _names(await intake.get("/participants", params={"name": "amina | karin"})) == []  # no operators
    assert _names(await intake.get("/participants", params={"name": "k", "role": "established"})) == ["Karin Lindqvist"]
    interviewed = await intake.get("/participants", params={"interviewed": "true"})
    assert _names(interviewed) == ["Mohammed Ahmadi"]
    not_yet = _names(await intake.get("/participants", params={"interviewed": "false", "name": "a"}))
    assert not_yet == ["Amina Haddad", "Ahmad Karimi", "Sara O'Brien-Ali"]
    assert _names(await intake.get("/participants", params={"programme": "other"})) == []
    assert len(_names(await intake.get("/participants", params={"programme": "sprakvan"}))) == 6

    seen, cursor = [], None
    while True:
        query = {"role": "newcomer", "newest_first": "true", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await intake.get("/participants", params=query)).json()
        seen += [p["id"] for p in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [ids[5], ids[4], ids[3], ids[1], ids[0]]  # newest first, no gaps, no repeats

    other = {"Authorization": f"Bearer {mint(org=ORG_B)}"}
    assert _names(await intake.get("/participants", params={"name": "amina"}, headers=other)) == []
    await intake.delete(f"/participants/{ids[0]}")
    assert _names(await intake.get("/participants", params={"name": "amina"})) == []
    assert (await intake.get("/participants", params={"name": "a\x00"})).status_code == 422
    assert (await intake.get("/participants", params={"name": "x" * 101})).status_code == 422

    # The search's expression is the index's (a few rows would be read without it: forbid that here).
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        plan = await db.fetch(
            "EXPLAIN SELECT id FROM participants WHERE "
            "to_tsvector('simple', coalesce(name_search, '')) @@ to_tsquery('simple', 'ahmad:*')"
        )
    assert "participants_by_name" in "\n".join(row[0] for row in plan)
