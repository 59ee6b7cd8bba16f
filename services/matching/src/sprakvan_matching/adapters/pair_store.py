"""Pairs and who is taken: the pair table, open pairs per person, the pairs never to propose again.

Every query that a caller reaches takes the organisation id. JSON columns go in and come out as Python
values (the shared pool's jsonb codec).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from ..domain.model import (
    Attendee,
    Conversation,
    EndReason,
    FollowUp,
    FollowUpOutcome,
    Origin,
    Pair,
    PairStatus,
    RejectionReason,
)

OPEN = ("formed", "active")
NOT_A_PAST_PAIR = ["superseded", "withdrawn", "erased"]
"""Ends that do not make two people a past pair: a proposal a new round replaced, or that ended because one
of them withdrew or was erased before anyone decided. Every other end (rejected included) is never proposed
again, and neither is a pair that was formed before it ended so (an imported 2024 pair that ended when one
of them withdrew met; they are not strangers to propose)."""
PAST_PAIR = "status = 'ended' AND (end_reason <> ALL($3) OR formed_at IS NOT NULL OR activated_on IS NOT NULL)"


# -- pairs -------------------------------------------------------------------------------------------
PAIR_COLUMNS = (
    "pair_id, organisation_id, programme, newcomer_id, established_id, origin, status, proposed_at, formed_at, "
    "activated_at, activated_on, conversation, follow_ups, ended_on, end_reason, rejection_reason, score, "
    "round_id, meetup_id, rematch_of, notes, version"
)


def _pair_values(pair: Pair) -> tuple[object, ...]:
    conversation = (
        {"held_on": pair.conversation.held_on.isoformat(), "attended": list(pair.conversation.attended)}
        if pair.conversation
        else None
    )
    follow_ups = [
        {
            "due_on": f.due_on.isoformat(),
            "done_on": f.done_on.isoformat() if f.done_on else None,
            "outcome": f.outcome.value if f.outcome else None,
            "notes": f.notes,
            "import_key": f.import_key,
        }
        for f in pair.follow_ups
    ]
    return (
        pair.pair_id,
        pair.organisation_id,
        pair.programme,
        pair.newcomer_id,
        pair.established_id,
        pair.origin.value,
        pair.status.value,
        pair.proposed_at,
        pair.formed_at,
        pair.activated_at,
        pair.activated_on,
        conversation,
        follow_ups,
        pair.ended_on,
        pair.end_reason.value if pair.end_reason else None,
        pair.rejection_reason.value if pair.rejection_reason else None,
        pair.score,
        pair.round_id,
        pair.meetup_id,
        pair.rematch_of,
        pair.notes,
        pair.version,
    )


_SAVE_PAIR = f"""
    INSERT INTO pairs ({PAIR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb,
        $13::jsonb, $14, $15, $16, $17::jsonb, $18, $19, $20, $21, $22)
    ON CONFLICT (pair_id) DO UPDATE SET
        origin = EXCLUDED.origin, proposed_at = EXCLUDED.proposed_at, notes = EXCLUDED.notes,
        status = EXCLUDED.status, formed_at = EXCLUDED.formed_at, activated_at = EXCLUDED.activated_at,
        activated_on = EXCLUDED.activated_on, conversation = EXCLUDED.conversation,
        follow_ups = EXCLUDED.follow_ups, ended_on = EXCLUDED.ended_on, end_reason = EXCLUDED.end_reason,
        rejection_reason = EXCLUDED.rejection_reason, score = EXCLUDED.score, version = EXCLUDED.version,
        updated_at = now()
    WHERE pairs.organisation_id = EXCLUDED.organisation_id
"""


async def save_pairs(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> None:
    if len(pairs) == 1:
        await conn.execute(_SAVE_PAIR, *_pair_values(pairs[0]))
    elif pairs:
        await conn.executemany(_SAVE_PAIR, [_pair_values(p) for p in pairs])


async def save_endings(conn: asyncpg.Connection, organisation_id: str, pairs: Sequence[Pair]) -> None:
    """Save pairs whose only change is their end (``Pair.close``): status, day, reason and version, in one
    statement over arrays. A round ends every open proposal of the programme; rewriting their whole rows
    (score and follow-ups sent as JSON again) took about three times as long at 10,000 (measured)."""
    if not pairs:
        return
    await conn.execute(
        """
        UPDATE pairs SET status = v.status, ended_on = v.ended_on, end_reason = v.end_reason,
            version = v.version, updated_at = now()
        FROM unnest($2::uuid[], $3::text[], $4::date[], $5::text[], $6::integer[])
            AS v(pair_id, status, ended_on, end_reason, version)
        WHERE pairs.organisation_id = $1 AND pairs.pair_id = v.pair_id
        """,
        organisation_id,
        [p.pair_id for p in pairs],
        [p.status.value for p in pairs],
        [p.ended_on for p in pairs],
        [p.end_reason.value if p.end_reason else None for p in pairs],
        [p.version for p in pairs],
    )


def pair_of(row: asyncpg.Record) -> Pair:
    conversation = row["conversation"]
    return Pair(
        pair_id=row["pair_id"],
        organisation_id=row["organisation_id"],
        programme=row["programme"],
        newcomer_id=row["newcomer_id"],
        established_id=row["established_id"],
        origin=Origin(row["origin"]),
        status=PairStatus(row["status"]),
        proposed_at=row["proposed_at"],
        formed_at=row["formed_at"],
        activated_at=row["activated_at"],
        activated_on=row["activated_on"],
        conversation=Conversation(
            date.fromisoformat(conversation["held_on"]), tuple(Attendee(a) for a in conversation["attended"])
        )
        if conversation
        else None,
        follow_ups=tuple(
            FollowUp(
                date.fromisoformat(f["due_on"]),
                date.fromisoformat(f["done_on"]) if f["done_on"] else None,
                FollowUpOutcome(f["outcome"]) if f["outcome"] else None,
                f.get("notes", ""),
                f.get("import_key"),
            )
            for f in row["follow_ups"]
        ),
        ended_on=row["ended_on"],
        end_reason=EndReason(row["end_reason"]) if row["end_reason"] else None,
        rejection_reason=RejectionReason(row["rejection_reason"]) if row["rejection_reason"] else None,
        score=row["score"],
        round_id=row["round_id"],
        meetup_id=row["meetup_id"],
        rematch_of=row["rematch_of"],
        notes=row["notes"],
        version=row["version"],
    )


async def get_pair(
    conn: asyncpg.Connection, organisation_id: str, pair_id: uuid.UUID, *, for_update: bool = False
) -> Pair | None:
    row = await conn.fetchrow(
        f"SELECT {PAIR_COLUMNS} FROM pairs WHERE organisation_id = $1 AND pair_id = $2"
        + (" FOR UPDATE" if for_update else ""),
        organisation_id,
        pair_id,
    )
    return pair_of(row) if row else None


@dataclass(frozen=True)
class PairFilter:
    programme: str | None = None
    status: str | None = None
    participant_id: uuid.UUID | None = None
    round_id: uuid.UUID | None = None


async def list_pairs(
    conn: asyncpg.Connection, organisation_id: str, where: PairFilter, *, limit: int, after: uuid.UUID | None
) -> list[Pair]:
    rows = await conn.fetch(
        f"""
        SELECT {PAIR_COLUMNS} FROM pairs
        WHERE organisation_id = $1
          AND ($2::text IS NULL OR programme = $2)
          AND ($3::text IS NULL OR status = $3)
          AND ($4::uuid IS NULL OR newcomer_id = $4 OR established_id = $4)
          AND ($5::uuid IS NULL OR round_id = $5)
          AND ($6::uuid IS NULL OR pair_id > $6)
        ORDER BY pair_id LIMIT $7
        """,
        organisation_id,
        where.programme,
        where.status,
        where.participant_id,
        where.round_id,
        after,
        limit,
    )
    return [pair_of(r) for r in rows]


async def pairs_of_participant(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID, *, statuses: Sequence[str]
) -> list[Pair]:
    rows = await conn.fetch(
        f"SELECT {PAIR_COLUMNS} FROM pairs WHERE organisation_id = $1 AND (newcomer_id = $2 OR established_id = $2) "
        "AND status = ANY($3) ORDER BY pair_id FOR UPDATE",
        organisation_id,
        participant_id,
        list(statuses),
    )
    return [pair_of(r) for r in rows]


async def pending_proposals(conn: asyncpg.Connection, organisation_id: str, programme: str) -> list[Pair]:
    rows = await conn.fetch(
        f"SELECT {PAIR_COLUMNS} FROM pairs WHERE organisation_id = $1 AND programme = $2 AND status = 'proposed' "
        "ORDER BY pair_id FOR UPDATE",
        organisation_id,
        programme,
    )
    return [pair_of(r) for r in rows]


@dataclass(frozen=True)
class Occupancy:
    """Who is taken: open pairs per volunteer, newcomers with an open pair."""

    by_volunteer: dict[uuid.UUID, int]
    paired_newcomers: set[uuid.UUID]


async def occupancy(
    conn: asyncpg.Connection, organisation_id: str, participant_ids: Iterable[uuid.UUID] | None = None
) -> Occupancy:
    ids = sorted(set(participant_ids)) if participant_ids is not None else None
    rows = await conn.fetch(
        """
        SELECT newcomer_id, established_id FROM pairs
        WHERE organisation_id = $1 AND status = ANY($2)
          AND ($3::uuid[] IS NULL OR newcomer_id = ANY($3) OR established_id = ANY($3))
        """,
        organisation_id,
        list(OPEN),
        ids,
    )
    by_volunteer: dict[uuid.UUID, int] = {}
    for r in rows:
        by_volunteer[r["established_id"]] = by_volunteer.get(r["established_id"], 0) + 1
    return Occupancy(by_volunteer, {r["newcomer_id"] for r in rows})


async def ended_pairs(
    conn: asyncpg.Connection, organisation_id: str, programme: str
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Pairs never to propose again: they ended, or a coordinator rejected the proposal."""
    rows = await conn.fetch(
        """
        SELECT newcomer_id, established_id FROM pairs
        WHERE organisation_id = $1 AND programme = $2 AND """
        + PAST_PAIR,
        organisation_id,
        programme,
        NOT_A_PAST_PAIR,
    )
    return {(r["newcomer_id"], r["established_id"]) for r in rows}


async def was_paired_before(
    conn: asyncpg.Connection, organisation_id: str, newcomer_id: uuid.UUID, established_id: uuid.UUID
) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pairs WHERE organisation_id = $1 AND newcomer_id = $4 "
            "AND established_id = $2 AND " + PAST_PAIR + ")",
            organisation_id,
            established_id,
            NOT_A_PAST_PAIR,
            newcomer_id,
        )
    )


async def forget_notes_of(conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID) -> None:
    """An erasure: the coordinator's notes about the person's pairs go; ids and dates stay for the statistics."""
    await conn.execute(
        """
        UPDATE pairs SET notes = '', follow_ups = (
            SELECT coalesce(jsonb_agg(f - 'notes'), '[]'::jsonb) FROM jsonb_array_elements(follow_ups) f)
        WHERE organisation_id = $1 AND (newcomer_id = $2 OR established_id = $2)
        """,
        organisation_id,
        participant_id,
    )
