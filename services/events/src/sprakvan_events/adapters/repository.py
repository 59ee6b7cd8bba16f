"""PostgreSQL storage of activities, occurrences, sign-ups and attendance. Every statement is scoped to an
organisation. Sign-up decisions take the occurrence row lock first (``lock_occurrence``); every change to
an occurrence's sign-ups happens under that lock, so its ``confirmed``/``waitlisted``/``arrivals`` columns
are exact and no count(*) is needed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import asyncpg

from sprakvan_shared import outbox
from sprakvan_shared.contracts.envelope import IntegrationEvent

from ..domain.attendance import AnonymousCount, AttendanceSheet, CampaignCount, CheckIn, Headcount, Outcome
from ..domain.model import (
    Activity,
    ActivityDetails,
    ActivityKind,
    ActivityStatus,
    ActivityType,
    CancelReason,
    Occurrence,
    OccurrenceStatus,
    Partner,
    PartnerKind,
    Venue,
)
from ..domain.recurrence import Schedule
from ..domain.signups import KnownParticipant, ParticipantStanding, Signup, SignupCancelReason, SignupStatus
from .ical import FeedEntry

_OCCURRENCE_COLUMNS = (
    "id, organisation_id, activity_id, original_start, starts_at, ends_at, venue_id, district, capacity, status, "
    "cancel_reason, sequence, version, created_at, updated_at, cancelled_at"
)
_SIGNUP_COLUMNS = (
    "id, organisation_id, occurrence_id, participant_id, status, arrival, signed_up_at, confirmed_at, promoted_at, "
    "cancelled_at, cancel_reason, cancelled_late, over_capacity, version"
)


class NotFound(Exception):
    pass


# -- venues, partners, types ---------------------------------------------------------------------------


async def insert_venue(conn: asyncpg.Connection, venue: Venue) -> None:
    await conn.execute(
        """INSERT INTO venues (id, organisation_id, name, district, address, capacity, accessibility)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        venue.id,
        venue.organisation_id,
        venue.name,
        venue.district,
        venue.address,
        venue.capacity,
        venue.accessibility,
    )


def _venue_from(row: asyncpg.Record) -> Venue:
    return Venue(
        row["id"],
        row["organisation_id"],
        row["name"],
        row["district"],
        row["address"],
        row["capacity"],
        row["accessibility"],
    )


async def load_venue(conn: asyncpg.Connection, organisation_id: str, venue_id: uuid.UUID) -> Venue | None:
    row = await conn.fetchrow("SELECT * FROM venues WHERE id = $1 AND organisation_id = $2", venue_id, organisation_id)
    return _venue_from(row) if row else None


async def list_venues(conn: asyncpg.Connection, organisation_id: str) -> list[Venue]:
    rows = await conn.fetch("SELECT * FROM venues WHERE organisation_id = $1 ORDER BY name, id", organisation_id)
    return [_venue_from(r) for r in rows]


async def insert_partner(conn: asyncpg.Connection, partner: Partner) -> None:
    await conn.execute(
        "INSERT INTO partners (id, organisation_id, name, kind) VALUES ($1, $2, $3, $4)",
        partner.id,
        partner.organisation_id,
        partner.name,
        partner.kind.value,
    )


async def list_partners(conn: asyncpg.Connection, organisation_id: str) -> list[Partner]:
    rows = await conn.fetch("SELECT * FROM partners WHERE organisation_id = $1 ORDER BY name, id", organisation_id)
    return [Partner(r["id"], r["organisation_id"], r["name"], PartnerKind(r["kind"])) for r in rows]


async def known_partners(conn: asyncpg.Connection, organisation_id: str, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT id FROM partners WHERE organisation_id = $1 AND id = ANY($2::uuid[])", organisation_id, list(ids)
    )
    return {r["id"] for r in rows}


async def upsert_type(conn: asyncpg.Connection, organisation_id: str, activity_type: ActivityType) -> None:
    await conn.execute(
        """INSERT INTO activity_types (organisation_id, code, labels, programme) VALUES ($1, $2, $3, $4)
           ON CONFLICT (organisation_id, code)
           DO UPDATE SET labels = EXCLUDED.labels, programme = EXCLUDED.programme""",
        organisation_id,
        activity_type.code,
        activity_type.labels,
        activity_type.programme,
    )


async def custom_types(conn: asyncpg.Connection, organisation_id: str) -> dict[str, ActivityType]:
    rows = await conn.fetch("SELECT * FROM activity_types WHERE organisation_id = $1", organisation_id)
    return {r["code"]: ActivityType(r["code"], _json(r["labels"]), r["programme"]) for r in rows}


# -- activities ----------------------------------------------------------------------------------------


def _schedule_json(schedule: Schedule | None) -> dict[str, Any] | None:
    if schedule is None:
        return None
    return {
        "first_day": schedule.first_day.isoformat(),
        "starts": schedule.starts.isoformat(),
        "ends": schedule.ends.isoformat(),
        "rule": schedule.rule,
        "until": schedule.until.isoformat() if schedule.until else None,
        "count": schedule.count,
    }


def _schedule_from(raw: Any) -> Schedule | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = json.loads(raw)
    return Schedule(
        first_day=date.fromisoformat(raw["first_day"]),
        starts=time.fromisoformat(raw["starts"]),
        ends=time.fromisoformat(raw["ends"]),
        rule=raw["rule"],
        until=date.fromisoformat(raw["until"]) if raw["until"] else None,
        count=raw["count"],
    )


@dataclass(frozen=True)
class StoredActivity:
    activity: Activity
    schedule: Schedule | None
    materialised_to: datetime | None


async def insert_activity(
    conn: asyncpg.Connection, activity: Activity, schedule: Schedule | None, materialised_to: datetime | None
) -> None:
    d = activity.details
    await conn.execute(
        """INSERT INTO activities (id, organisation_id, kind, status, title, type_code, venue_id, district, capacity,
               programmes, partner_ids, description, campaign, schedule, continues, materialised_to, version,
               created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16, $17, $18, $19)""",
        activity.id,
        activity.organisation_id,
        activity.kind.value,
        activity.status.value,
        d.title,
        d.type_code,
        d.venue_id,
        d.district,
        d.capacity,
        list(d.programmes),
        list(d.partner_ids),
        d.description,
        d.campaign,
        _schedule_json(schedule),
        activity.continues,
        materialised_to,
        activity.version,
        activity.created_at,
        activity.updated_at,
    )


async def update_activity(
    conn: asyncpg.Connection, activity: Activity, schedule: Schedule | None, materialised_to: datetime | None
) -> None:
    d = activity.details
    await conn.execute(
        """UPDATE activities SET status = $3, title = $4, type_code = $5, venue_id = $6, district = $7, capacity = $8,
               programmes = $9, partner_ids = $10, description = $11, campaign = $12, schedule = $13::jsonb,
               materialised_to = $14, version = $15, updated_at = $16
           WHERE id = $1 AND organisation_id = $2""",
        activity.id,
        activity.organisation_id,
        activity.status.value,
        d.title,
        d.type_code,
        d.venue_id,
        d.district,
        d.capacity,
        list(d.programmes),
        list(d.partner_ids),
        d.description,
        d.campaign,
        _schedule_json(schedule),
        materialised_to,
        activity.version,
        activity.updated_at,
    )


def _activity_from(row: asyncpg.Record) -> StoredActivity:
    details = ActivityDetails(
        title=row["title"],
        type_code=row["type_code"],
        venue_id=row["venue_id"],
        district=row["district"],
        capacity=row["capacity"],
        programmes=tuple(row["programmes"]),
        partner_ids=tuple(row["partner_ids"]),
        description=row["description"],
        campaign=row["campaign"],
    )
    activity = Activity(
        id=row["id"],
        organisation_id=row["organisation_id"],
        kind=ActivityKind(row["kind"]),
        details=details,
        status=ActivityStatus(row["status"]),
        continues=row["continues"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    return StoredActivity(activity, _schedule_from(row["schedule"]), row["materialised_to"])


async def load_activity(
    conn: asyncpg.Connection, organisation_id: str, activity_id: uuid.UUID, *, lock: bool = False
) -> StoredActivity:
    row = await conn.fetchrow(
        "SELECT * FROM activities WHERE id = $1 AND organisation_id = $2" + (" FOR UPDATE" if lock else ""),
        activity_id,
        organisation_id,
    )
    if row is None:
        raise NotFound("activity")
    return _activity_from(row)


async def set_materialised_to(conn: asyncpg.Connection, activity_id: uuid.UUID, until: datetime) -> None:
    await conn.execute(
        "UPDATE activities SET materialised_to = GREATEST(materialised_to, $2) WHERE id = $1", activity_id, until
    )


async def series_to_materialise(conn: asyncpg.Connection, horizon: datetime) -> list[StoredActivity]:
    """Active series (of every organisation) whose occurrences do not reach ``horizon`` yet."""
    rows = await conn.fetch(
        """SELECT * FROM activities WHERE kind = 'series' AND status = 'active'
           AND (materialised_to IS NULL OR materialised_to < $1) ORDER BY id""",
        horizon,
    )
    return [_activity_from(r) for r in rows]


# -- occurrences ---------------------------------------------------------------------------------------


def _occurrence_from(row: asyncpg.Record) -> Occurrence:
    return Occurrence(
        id=row["id"],
        organisation_id=row["organisation_id"],
        activity_id=row["activity_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        venue_id=row["venue_id"],
        district=row["district"],
        capacity=row["capacity"],
        original_start=row["original_start"],
        status=OccurrenceStatus(row["status"]),
        cancel_reason=CancelReason(row["cancel_reason"]) if row["cancel_reason"] else None,
        sequence=row["sequence"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cancelled_at=row["cancelled_at"],
    )


def _occurrence_row(o: Occurrence) -> tuple[Any, ...]:
    return (
        o.id,
        o.organisation_id,
        o.activity_id,
        o.original_start,
        o.starts_at,
        o.ends_at,
        o.venue_id,
        o.district,
        o.capacity,
        o.status.value,
        o.cancel_reason.value if o.cancel_reason else None,
        o.sequence,
        o.version,
        o.created_at,
        o.updated_at,
        o.cancelled_at,
    )


async def insert_occurrences(conn: asyncpg.Connection, occurrences: Sequence[Occurrence]) -> list[uuid.UUID]:
    """Insert the ones not there yet (materialising twice, or on two replicas, is harmless): their ids."""
    if not occurrences:
        return []
    rows = [_occurrence_row(o) for o in occurrences]
    columns = list(zip(*rows, strict=True))
    inserted = await conn.fetch(
        f"""INSERT INTO occurrences ({_OCCURRENCE_COLUMNS})
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[], $5::timestamptz[],
                                 $6::timestamptz[], $7::uuid[], $8::text[], $9::int[], $10::text[], $11::text[],
                                 $12::int[], $13::int[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[])
            ON CONFLICT DO NOTHING RETURNING id""",
        *columns,
    )
    return [r["id"] for r in inserted]


async def save_occurrence(conn: asyncpg.Connection, o: Occurrence) -> None:
    await conn.execute(
        """UPDATE occurrences SET starts_at = $3, ends_at = $4, venue_id = $5, district = $6, capacity = $7,
               status = $8, cancel_reason = $9, sequence = $10, version = $11, updated_at = $12, cancelled_at = $13
           WHERE id = $1 AND organisation_id = $2""",
        o.id,
        o.organisation_id,
        o.starts_at,
        o.ends_at,
        o.venue_id,
        o.district,
        o.capacity,
        o.status.value,
        o.cancel_reason.value if o.cancel_reason else None,
        o.sequence,
        o.version,
        o.updated_at,
        o.cancelled_at,
    )


@dataclass(frozen=True)
class LockedOccurrence:
    """An occurrence under its row lock, with its seat counters and the activity's programmes."""

    occurrence: Occurrence
    confirmed: int
    waitlisted: int
    arrivals: int
    programmes: tuple[str, ...]


async def lock_occurrence(conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID) -> LockedOccurrence:
    row = await conn.fetchrow(
        f"""SELECT {", ".join("o." + c.strip() for c in _OCCURRENCE_COLUMNS.split(","))},
                   o.confirmed, o.waitlisted, o.arrivals, a.programmes
            FROM occurrences o JOIN activities a ON a.id = o.activity_id
            WHERE o.id = $1 AND o.organisation_id = $2 FOR UPDATE OF o""",
        occurrence_id,
        organisation_id,
    )
    if row is None:
        raise NotFound("occurrence")
    return LockedOccurrence(
        _occurrence_from(row), row["confirmed"], row["waitlisted"], row["arrivals"], tuple(row["programmes"])
    )


async def lock_for_signup(
    conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID, participant_id: uuid.UUID
) -> tuple[LockedOccurrence, bool]:
    """``lock_occurrence`` that also tells whether the participant holds an active sign-up (one round trip)."""
    row = await conn.fetchrow(
        f"""SELECT {", ".join("o." + c.strip() for c in _OCCURRENCE_COLUMNS.split(","))},
                   o.confirmed, o.waitlisted, o.arrivals, a.programmes,
                   EXISTS (SELECT 1 FROM signups s WHERE s.occurrence_id = o.id AND s.participant_id = $3
                           AND s.status <> 'cancelled') AS already
            FROM occurrences o JOIN activities a ON a.id = o.activity_id
            WHERE o.id = $1 AND o.organisation_id = $2 FOR UPDATE OF o""",
        occurrence_id,
        organisation_id,
        participant_id,
    )
    if row is None:
        raise NotFound("occurrence")
    locked = LockedOccurrence(
        _occurrence_from(row), row["confirmed"], row["waitlisted"], row["arrivals"], tuple(row["programmes"])
    )
    return locked, row["already"]


_ADD_SIGNUP_ANNOUNCED = f"""
    WITH added AS (INSERT INTO signups ({_SIGNUP_COLUMNS}) VALUES ({", ".join(f"${i}" for i in range(1, 15))})),
         counted AS (UPDATE occurrences SET confirmed = $15, waitlisted = $16, arrivals = $17 WHERE id = $3)
    INSERT INTO outbox ({outbox.OUTBOX_COLUMNS})
    VALUES ({", ".join(f"${i}" for i in range(18, 18 + len(outbox.OUTBOX_COLUMNS.split(","))))})"""


async def add_signup_announced(
    conn: asyncpg.Connection, signup: Signup, confirmed: int, waitlisted: int, event: IntegrationEvent
) -> None:
    """The sign-up row, the occurrence's counters and the outbox row in one statement: the occurrence lock is
    held for one round trip less per statement saved, and that lock is what limits sign-ups per second."""
    await conn.execute(
        _ADD_SIGNUP_ANNOUNCED, *_signup_row(signup), confirmed, waitlisted, signup.arrival, *outbox.outbox_row(event)
    )


async def set_seat_counters(
    conn: asyncpg.Connection, occurrence_id: uuid.UUID, confirmed: int, waitlisted: int, arrivals: int
) -> None:
    await conn.execute(
        "UPDATE occurrences SET confirmed = $2, waitlisted = $3, arrivals = $4 WHERE id = $1",
        occurrence_id,
        confirmed,
        waitlisted,
        arrivals,
    )


async def load_occurrence(conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID) -> Occurrence:
    row = await conn.fetchrow(
        f"SELECT {_OCCURRENCE_COLUMNS} FROM occurrences WHERE id = $1 AND organisation_id = $2",
        occurrence_id,
        organisation_id,
    )
    if row is None:
        raise NotFound("occurrence")
    return _occurrence_from(row)


async def occurrences_of(
    conn: asyncpg.Connection, organisation_id: str, activity_id: uuid.UUID, *, starting_from: datetime | None = None
) -> list[Occurrence]:
    rows = await conn.fetch(
        f"""SELECT {_OCCURRENCE_COLUMNS} FROM occurrences
            WHERE organisation_id = $1 AND activity_id = $2 AND ($3::timestamptz IS NULL OR original_start >= $3
                  OR (original_start IS NULL AND starts_at >= $3))
            ORDER BY starts_at, id""",
        organisation_id,
        activity_id,
        starting_from,
    )
    return [_occurrence_from(r) for r in rows]


# -- sign-ups ------------------------------------------------------------------------------------------


def _signup_from(row: asyncpg.Record) -> Signup:
    fields = {k: row[k] for k in _SIGNUP_COLUMNS.replace(" ", "").split(",")}
    fields["status"] = SignupStatus(fields["status"])
    fields["cancel_reason"] = SignupCancelReason(fields["cancel_reason"]) if fields["cancel_reason"] else None
    return Signup(**fields)


def _signup_row(s: Signup) -> tuple[Any, ...]:
    return (
        s.id,
        s.organisation_id,
        s.occurrence_id,
        s.participant_id,
        s.status.value,
        s.arrival,
        s.signed_up_at,
        s.confirmed_at,
        s.promoted_at,
        s.cancelled_at,
        s.cancel_reason.value if s.cancel_reason else None,
        s.cancelled_late,
        s.over_capacity,
        s.version,
    )


async def save_signups(conn: asyncpg.Connection, signups: Iterable[Signup]) -> None:
    rows = [_signup_row(s) for s in signups]
    if not rows:
        return
    await conn.executemany(
        """UPDATE signups SET status = $5, confirmed_at = $8, promoted_at = $9, cancelled_at = $10,
               cancel_reason = $11, cancelled_late = $12, over_capacity = $13, version = $14
           WHERE id = $1 AND organisation_id = $2 AND occurrence_id = $3 AND participant_id = $4
                 AND arrival = $6 AND signed_up_at = $7""",
        rows,
    )


async def load_signup(conn: asyncpg.Connection, organisation_id: str, signup_id: uuid.UUID) -> Signup:
    row = await conn.fetchrow(
        f"SELECT {_SIGNUP_COLUMNS} FROM signups WHERE id = $1 AND organisation_id = $2", signup_id, organisation_id
    )
    if row is None:
        raise NotFound("signup")
    return _signup_from(row)


async def waiting_in_line(conn: asyncpg.Connection, occurrence_id: uuid.UUID, limit: int | None) -> list[Signup]:
    rows = await conn.fetch(
        f"""SELECT {_SIGNUP_COLUMNS} FROM signups WHERE occurrence_id = $1 AND status = 'waitlisted'
            ORDER BY arrival LIMIT $2""",
        occurrence_id,
        limit,
    )
    return [_signup_from(r) for r in rows]


async def signups_of(conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID) -> list[Signup]:
    rows = await conn.fetch(
        f"SELECT {_SIGNUP_COLUMNS} FROM signups WHERE occurrence_id = $1 AND organisation_id = $2 ORDER BY arrival",
        occurrence_id,
        organisation_id,
    )
    return [_signup_from(r) for r in rows]


async def active_signups_of_participant(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID, *, starting_after: datetime | None
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(occurrence id, sign-up id) of the participant's active sign-ups, in occurrence-id order (the lock order)."""
    rows = await conn.fetch(
        """SELECT s.occurrence_id, s.id FROM signups s JOIN occurrences o ON o.id = s.occurrence_id
           WHERE s.organisation_id = $1 AND s.participant_id = $2 AND s.status <> 'cancelled'
             AND ($3::timestamptz IS NULL OR o.starts_at > $3)
           ORDER BY s.occurrence_id""",
        organisation_id,
        participant_id,
        starting_after,
    )
    return [(r["occurrence_id"], r["id"]) for r in rows]


async def delete_signups_of_participant(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID
) -> list[Signup]:
    rows = await conn.fetch(
        f"DELETE FROM signups WHERE organisation_id = $1 AND participant_id = $2 RETURNING {_SIGNUP_COLUMNS}",
        organisation_id,
        participant_id,
    )
    return [_signup_from(r) for r in rows]


# -- participants (read model of intake's events) --------------------------------------------------------


async def load_participant(
    conn: asyncpg.Connection, organisation_id: str, participant_id: uuid.UUID, *, share_lock: bool = False
) -> KnownParticipant | None:
    """``share_lock``: hold off a concurrent withdrawal or erasure until this transaction ends."""
    row = await conn.fetchrow(
        "SELECT * FROM participants WHERE participant_id = $1 AND organisation_id = $2"
        + (" FOR SHARE" if share_lock else ""),
        participant_id,
        organisation_id,
    )
    if row is None:
        return None
    return KnownParticipant(
        row["participant_id"],
        row["organisation_id"],
        row["role"],
        row["gender"],
        ParticipantStanding(row["status"]),
        row["programme"],
    )


async def upsert_participant(conn: asyncpg.Connection, p: KnownParticipant, version: int) -> None:
    await conn.execute(
        """INSERT INTO participants (participant_id, organisation_id, role, gender, status, programme, version)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (participant_id) DO UPDATE SET role = EXCLUDED.role, gender = EXCLUDED.gender,
               status = EXCLUDED.status, programme = EXCLUDED.programme, version = EXCLUDED.version
           WHERE participants.organisation_id = EXCLUDED.organisation_id AND participants.version < EXCLUDED.version""",
        p.participant_id,
        p.organisation_id,
        p.role,
        p.gender,
        p.status.value,
        p.programme,
        version,
    )


# -- attendance ----------------------------------------------------------------------------------------


async def load_attendance(conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID) -> AttendanceSheet:
    counts = await conn.fetchrow(
        "SELECT walk_ins, campaign_signups, anonymous FROM occurrences WHERE id = $1 AND organisation_id = $2",
        occurrence_id,
        organisation_id,
    )
    if counts is None:
        raise NotFound("occurrence")
    rows = await conn.fetch(
        """SELECT participant_id, outcome, role, gender, recorded_at FROM check_ins
           WHERE occurrence_id = $1 AND organisation_id = $2 ORDER BY participant_id""",
        occurrence_id,
        organisation_id,
    )
    walk_ins, campaigns, anonymous = (_json(counts[k]) for k in ("walk_ins", "campaign_signups", "anonymous"))
    return AttendanceSheet(
        occurrence_id,
        check_ins=tuple(
            CheckIn(r["participant_id"], Outcome(r["outcome"]), r["role"], r["gender"], r["recorded_at"]) for r in rows
        ),
        walk_ins=tuple(Headcount(**c) for c in walk_ins),
        campaign_signups=tuple(CampaignCount(**c) for c in campaigns),
        anonymous=tuple(AnonymousCount(Outcome(c["outcome"]), c["role"], c["gender"], c["count"]) for c in anonymous),
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def save_attendance(conn: asyncpg.Connection, organisation_id: str, sheet: AttendanceSheet) -> None:
    """Store the whole sheet (check-ins replaced, counts rewritten): idempotent by state."""
    await conn.execute(
        """UPDATE occurrences SET walk_ins = $3::jsonb, campaign_signups = $4::jsonb, anonymous = $5::jsonb
           WHERE id = $1 AND organisation_id = $2""",
        sheet.occurrence_id,
        organisation_id,
        # The pool's jsonb codec encodes these (sprakvan_shared.db).
        [{"role": c.role, "gender": c.gender, "count": c.count} for c in sheet.walk_ins],
        [{"campaign": c.campaign, "count": c.count} for c in sheet.campaign_signups],
        [{"outcome": a.outcome.value, "role": a.role, "gender": a.gender, "count": a.count} for a in sheet.anonymous],
    )
    await conn.execute(
        "DELETE FROM check_ins WHERE occurrence_id = $1 AND organisation_id = $2", sheet.occurrence_id, organisation_id
    )
    await conn.executemany(
        """INSERT INTO check_ins (occurrence_id, participant_id, organisation_id, outcome, role, gender, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        [
            (sheet.occurrence_id, c.participant_id, organisation_id, c.outcome.value, c.role, c.gender, c.recorded_at)
            for c in sheet.check_ins
        ],
    )


# -- calendar feeds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    id: uuid.UUID
    organisation_id: str
    scope: str
    scope_value: str | None
    name: str


async def insert_feed(conn: asyncpg.Connection, feed: Feed, token_sha256: bytes, now: datetime) -> None:
    await conn.execute(
        """INSERT INTO feeds (id, organisation_id, token_sha256, scope, scope_value, name, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        feed.id,
        feed.organisation_id,
        token_sha256,
        feed.scope,
        feed.scope_value,
        feed.name,
        now,
    )


async def feed_by_token(conn: asyncpg.Connection, token_sha256: bytes) -> Feed | None:
    row = await conn.fetchrow("SELECT * FROM feeds WHERE token_sha256 = $1 AND revoked_at IS NULL", token_sha256)
    if row is None:
        return None
    return Feed(row["id"], row["organisation_id"], row["scope"], row["scope_value"], row["name"])


async def revoke_feed(conn: asyncpg.Connection, organisation_id: str, feed_id: uuid.UUID, now: datetime) -> bool:
    done = await conn.execute(
        "UPDATE feeds SET revoked_at = $3 WHERE id = $1 AND organisation_id = $2 AND revoked_at IS NULL",
        feed_id,
        organisation_id,
        now,
    )
    return done.endswith(" 1")


async def feed_entries(conn: asyncpg.Connection, feed: Feed, start: datetime, end: datetime) -> list[FeedEntry]:
    """The feed's occurrences starting in [start, end), with what a calendar shows of them."""
    rows = await conn.fetch(
        f"""SELECT {", ".join("o." + c.strip() for c in _OCCURRENCE_COLUMNS.split(","))},
                   a.title, a.type_code, a.description,
                   v.id AS v_id, v.name AS v_name, v.district AS v_district, v.address AS v_address
            FROM occurrences o JOIN activities a ON a.id = o.activity_id LEFT JOIN venues v ON v.id = o.venue_id
            WHERE o.organisation_id = $1 AND o.starts_at >= $2 AND o.starts_at < $3
              AND CASE $4::text
                    WHEN 'programme' THEN a.programmes = '{{}}' OR $5 = ANY(a.programmes)
                    WHEN 'district' THEN o.district = $5
                    WHEN 'venue' THEN o.venue_id::text = $5
                    ELSE true END
            ORDER BY o.starts_at, o.id""",
        feed.organisation_id,
        start,
        end,
        feed.scope,
        feed.scope_value,
    )
    return [
        FeedEntry(
            _occurrence_from(r),
            r["title"],
            r["type_code"],
            Venue(r["v_id"], feed.organisation_id, r["v_name"], r["v_district"], r["v_address"]) if r["v_id"] else None,
            r["description"],
        )
        for r in rows
    ]


# -- listings ------------------------------------------------------------------------------------------


async def list_activities(conn: asyncpg.Connection, organisation_id: str, limit: int) -> list[StoredActivity]:
    rows = await conn.fetch(
        "SELECT * FROM activities WHERE organisation_id = $1 ORDER BY created_at DESC, id LIMIT $2",
        organisation_id,
        limit,
    )
    return [_activity_from(r) for r in rows]


async def list_occurrences(
    conn: asyncpg.Connection,
    organisation_id: str,
    start: datetime,
    end: datetime,
    *,
    district: str | None = None,
    venue_id: uuid.UUID | None = None,
    programme: str | None = None,
    limit: int = 500,
) -> list[LockedOccurrence]:
    """Occurrences starting in [start, end) with their seat counters (read without a lock)."""
    rows = await conn.fetch(
        f"""SELECT {", ".join("o." + c.strip() for c in _OCCURRENCE_COLUMNS.split(","))},
                   o.confirmed, o.waitlisted, o.arrivals, a.programmes
            FROM occurrences o JOIN activities a ON a.id = o.activity_id
            WHERE o.organisation_id = $1 AND o.starts_at >= $2 AND o.starts_at < $3
              AND ($4::text IS NULL OR o.district = $4) AND ($5::uuid IS NULL OR o.venue_id = $5)
              AND ($6::text IS NULL OR a.programmes = '{{}}' OR $6 = ANY(a.programmes))
            ORDER BY o.starts_at, o.id LIMIT $7""",
        organisation_id,
        start,
        end,
        district,
        venue_id,
        programme,
        limit,
    )
    return [
        LockedOccurrence(_occurrence_from(r), r["confirmed"], r["waitlisted"], r["arrivals"], tuple(r["programmes"]))
        for r in rows
    ]


async def occurrence_with_seats(
    conn: asyncpg.Connection, organisation_id: str, occurrence_id: uuid.UUID
) -> LockedOccurrence:
    row = await conn.fetchrow(
        f"""SELECT {", ".join("o." + c.strip() for c in _OCCURRENCE_COLUMNS.split(","))},
                   o.confirmed, o.waitlisted, o.arrivals, a.programmes
            FROM occurrences o JOIN activities a ON a.id = o.activity_id
            WHERE o.id = $1 AND o.organisation_id = $2""",
        occurrence_id,
        organisation_id,
    )
    if row is None:
        raise NotFound("occurrence")
    return LockedOccurrence(
        _occurrence_from(row), row["confirmed"], row["waitlisted"], row["arrivals"], tuple(row["programmes"])
    )


# -- organisation vocabularies (read model of intake's organisation.configured) --------------------------


@dataclass(frozen=True)
class Vocabulary:
    programmes: frozenset[str]
    districts: frozenset[str]
    campaigns: frozenset[str]


async def upsert_vocabulary(
    conn: asyncpg.Connection, organisation_id: str, vocabulary: Vocabulary, version: int
) -> None:
    await conn.execute(
        """INSERT INTO organisations (organisation_id, programmes, districts, campaigns, version)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (organisation_id) DO UPDATE SET programmes = EXCLUDED.programmes,
               districts = EXCLUDED.districts, campaigns = EXCLUDED.campaigns, version = EXCLUDED.version
           WHERE organisations.version < EXCLUDED.version""",
        organisation_id,
        sorted(vocabulary.programmes),
        sorted(vocabulary.districts),
        sorted(vocabulary.campaigns),
        version,
    )


async def load_vocabulary(conn: asyncpg.Connection, organisation_id: str) -> Vocabulary | None:
    """None until intake has told us the organisation's configuration."""
    row = await conn.fetchrow("SELECT * FROM organisations WHERE organisation_id = $1", organisation_id)
    if row is None:
        return None
    return Vocabulary(frozenset(row["programmes"]), frozenset(row["districts"]), frozenset(row["campaigns"]))
