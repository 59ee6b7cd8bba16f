"""The import plumbing every service shares: rows parsed one by one, held back with what they need, keys
remembered with the hash of their row."""

from __future__ import annotations

from datetime import date

import asyncpg
from pydantic import BaseModel

from sprakvan_shared import imports
from sprakvan_shared.db import migrate, shared_migrations
from sprakvan_shared.imports import ErrorCode, ImportRequest, Outcome


class PairRow(BaseModel):
    newcomer: str
    begins_on: date
    participant_key: str | None = None


def request(*rows: dict) -> ImportRequest:
    return ImportRequest.model_validate({"rows": list(rows)})


def test_each_row_is_parsed_alone_and_errors_name_the_field_without_the_input() -> None:
    parsed, failed = imports.parse_rows(
        PairRow,
        request(
            {"row": 2, "key": "a", "newcomer": "n1", "begins_on": "2024-03-05"},
            {"row": 3, "key": "b", "begins_on": "secret-value\u0000"},
            {"row": 4, "key": "a", "newcomer": "n2", "begins_on": "2024-03-05"},
        ).rows,
    )
    assert [(p.row, p.key, p.value.begins_on) for p in parsed] == [(2, "a", date(2024, 3, 5))]
    by_row = {r.row: r for r in failed}
    assert {(e.field, e.code) for e in by_row[3].errors} == {
        ("newcomer", ErrorCode.REQUIRED),
        ("begins_on", ErrorCode.INVALID),
    }
    assert "secret-value" not in by_row[3].model_dump_json()
    assert by_row[4].errors[0].field == "key" and by_row[4].outcome is Outcome.REFUSED


def test_rows_that_need_a_refused_row_are_held_back_transitively() -> None:
    parsed, _ = imports.parse_rows(
        PairRow,
        request(
            *(
                {"row": n, "key": k, "newcomer": "x", "begins_on": "2024-01-01"}
                for n, k in [(2, "p"), (3, "q"), (4, "r")]
            )
        ).rows,
    )
    kept, held = imports.hold_back(parsed, {"q": [("participant_key", "gone")], "r": [("after", "q")]}, ["gone"])
    assert [r.key for r in kept] == ["p"]
    assert sorted((h.key, h.errors[0].field, h.errors[0].code) for h in held) == [
        ("q", "participant_key", ErrorCode.DEPENDS_ON_REFUSED),
        ("r", "after", ErrorCode.DEPENDS_ON_REFUSED),
    ]


def test_the_result_counts_each_outcome_in_row_order() -> None:
    results = [imports.RowResult(row=5, key="b", outcome=Outcome.UPDATED), imports.refused(2, "a")]
    result = imports.ImportResult.of("pairs", True, results)
    assert (result.created, result.updated, result.refused, [r.row for r in result.results]) == (0, 1, 1, [2, 5])


async def test_a_key_remembers_its_aggregate_and_row(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, shared_migrations())
        row = PairRow(newcomer="n", begins_on=date(2024, 1, 1))
        digest = imports.row_hash(row)
        assert imports.outcome_of(None, digest) is Outcome.CREATED
        await imports.remember(conn, "org-a", "pairs", "k1", "agg-1", digest)
        known = await imports.known_keys(conn, "org-a", "pairs", ["k1", "k2"])
        assert imports.outcome_of(known["k1"], digest) is Outcome.UNCHANGED
        changed = imports.row_hash(row.model_copy(update={"newcomer": "m"}))
        assert imports.outcome_of(known["k1"], changed) is Outcome.UPDATED
        assert await imports.known_keys(conn, "org-b", "pairs", ["k1"]) == {}
        assert await imports.keys_of_aggregates(conn, "org-a", "pairs", ["agg-1"]) == {"agg-1": "k1"}
        await imports.forget_aggregate(conn, "org-a", "agg-1")
        assert await imports.known_keys(conn, "org-a", "pairs", ["k1"]) == {}
    finally:
        await conn.close()


def test_a_forbidden_character_anywhere_in_a_row_refuses_that_row_naming_the_field() -> None:
    class Row(BaseModel):
        names: list[dict[str, str]]

    parsed, failed = imports.parse_rows(
        Row,
        request(
            {"row": 2, "key": "a", "names": [{"first": "Amina"}, {"first": "Sa\u202emir"}]},
            {"row": 3, "key": "b", "names": [], "bad\u0000name": 1},
            {"row": 4, "key": "c", "names": [{"first": "Karin"}]},
        ).rows,
    )
    assert [p.key for p in parsed] == ["c"]
    assert {(r.row, e.field, e.code) for r in failed for e in r.errors} >= {
        (2, "names.1.first", ErrorCode.INVALID),
        (3, "row", ErrorCode.INVALID),
    }
