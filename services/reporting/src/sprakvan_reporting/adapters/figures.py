"""The review's figures for one scope and period, in a handful of aggregate queries over the read models.

Each query reads only the rows of one organisation (and programme) and sums; nothing is fetched per
person. Results come back as plain, sorted structures so that the same read models always give the
same JSON, byte for byte.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from ..domain.model import GENDERS, ROLES, WALK_IN_SLOTS, Period, is_weekly, ratio


@dataclass(frozen=True)
class Scope:
    organisation_id: str
    programme: str | None  # None: all of the organisation's programmes


_PROGRAMME = "($2::text IS NULL OR {table}.programme = $2)"
_NONE = "-"  # the key for a missing code (no campaign, no district) in tables

# First every code the tables use at once, in one hash over the people (a few thousand groups for
# 100,000 people), then the tables' groupings over those groups: GROUPING SETS straight over the people
# hashed every row once per table.
_REGISTRATIONS = f"""
WITH fine AS (
    SELECT role, gender, district, referral_source, campaign,
           -- the month as a timestamp without time zone: date_trunc on a date would convert it to
           -- timestamptz (time zone arithmetic for every row)
           date_trunc('month', registered_on::timestamp)::date AS month, count(*) AS n
    FROM participants p
    WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND p.registered_on BETWEEN $3 AND $4
    GROUP BY 1, 2, 3, 4, 5, 6
)
SELECT role, gender, district, referral_source, campaign, month,
       GROUPING(gender, district, referral_source, campaign) AS grouping_set, sum(n)::bigint AS n
FROM fine
GROUP BY GROUPING SETS ((role, gender), (role, district), (role, referral_source), (role, campaign),
                        (role, gender, month))
"""

# Pair life, as the matching contract defines it: a pair is active from its matching conversation (or the
# group meetup where it formed itself) until it ends; the day it ends it no longer is. A pair formed but
# not yet introduced is new, not active.
_ACTIVE_FROM = "activated_on"

_PAIRS = f"""
SELECT count(*) FILTER (WHERE formed_on BETWEEN $3 AND $4) AS new_pairs,
       count(*) FILTER (WHERE {_ACTIVE_FROM} <= $4 AND (ended_on IS NULL OR ended_on >= $3)) AS active_in_period,
       count(*) FILTER (WHERE {_ACTIVE_FROM} <= $4 AND (ended_on IS NULL OR ended_on > $4)) AS active_at_end,
       count(*) FILTER (WHERE ended_on BETWEEN $3 AND $4) AS ended
FROM pairs p
WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND p.formed_on IS NOT NULL
"""

_PAIR_GROUPS = f"""
SELECT 'ended' AS grouping, coalesce(end_reason, '{_NONE}') AS code, count(*) AS n
FROM pairs p WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND ended_on BETWEEN $3 AND $4
  AND formed_on IS NOT NULL GROUP BY 2
UNION ALL
SELECT 'origin', coalesce(origin, '{_NONE}'), count(*)
FROM pairs p WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND formed_on BETWEEN $3 AND $4
GROUP BY 2
UNION ALL
SELECT 'follow_ups', '', count(*)
FROM pairs p CROSS JOIN LATERAL unnest(p.follow_up_dates) AS f(day)
WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND f.day BETWEEN $3 AND $4
"""

_PAIR_STARTS_AND_ENDS = f"""
SELECT 'start' AS kind, {_ACTIVE_FROM} AS day, count(*) AS n
FROM pairs p WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND {_ACTIVE_FROM} <= $4
GROUP BY 2
UNION ALL
SELECT 'end', ended_on, count(*)
FROM pairs p WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND {_ACTIVE_FROM} <= $4
  AND ended_on <= $4
GROUP BY 2
UNION ALL
SELECT 'formed', formed_on, count(*)
FROM pairs p WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND formed_on BETWEEN $3 AND $4
GROUP BY 2
"""

_WAITING_TIME = f"""
SELECT count(*) AS measured,
       -- both in one sort
       percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY p.formed_on - n.registered_on) AS percentiles
FROM pairs p JOIN participants n ON n.organisation_id = p.organisation_id AND n.record_id = p.newcomer_id
WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND p.formed_on BETWEEN $3 AND $4
"""

# At the end of the period: who is waiting, and how many more places volunteers offer, per district. One
# pass over the people and one over the pairs (a pair counts once for each of its two people).
_WAITING_LIST = f"""
WITH open_pairs AS (
    SELECT person, count(*) AS n
    FROM pairs p CROSS JOIN LATERAL (VALUES (p.newcomer_id), (p.established_id)) AS side(person)
    WHERE p.organisation_id = $1 AND p.formed_on <= $3 AND (p.ended_on IS NULL OR p.ended_on > $3)
      AND person IS NOT NULL
    GROUP BY person
)
SELECT coalesce(p.district, '{_NONE}') AS district,
       count(*) FILTER (WHERE p.role = 'newcomer' AND o.n IS NULL) AS waiting,
       coalesce(sum(greatest(coalesce(p.capacity, 1) - coalesce(o.n, 0), 0)) FILTER (WHERE p.role = 'established'), 0)
           AS free_places
FROM participants p LEFT JOIN open_pairs o ON o.person = p.record_id
WHERE p.organisation_id = $1 AND {_PROGRAMME.format(table="p")} AND NOT p.anonymous
  AND p.registered_on <= $3 AND (p.withdrawn_on IS NULL OR p.withdrawn_on > $3)
GROUP BY 1
"""

# A meeting open to every programme (no programmes named) counts in each programme's report.
_SESSION_SCOPE = """o.organisation_id = $1 AND ($2::text IS NULL OR o.programmes = '{}' OR $2 = ANY(o.programmes))
    AND NOT o.cancelled AND o.starts_on BETWEEN $3 AND $4"""

# Two passes over the period's meetings: by type, district and week (weeks as whole numbers since a
# Monday: date_trunc would convert every date to a timestamp with time zone), and by type, district and
# series with the counts by role and gender. Totals, districts and the distinct weeks and series are
# added up from these groups in Python (count(DISTINCT) in grouping sets sorted the period three times).
_MONDAY = "date '2000-01-03'"
_SESSION_WEEKS = f"""
SELECT o.activity_type, coalesce(o.district, '{_NONE}') AS district, (o.starts_on - {_MONDAY}) / 7 AS week,
       count(*) AS sessions, sum(o.signups_confirmed) AS signups, sum(o.came_total) AS attended,
       sum(o.walk_ins_total) AS walk_ins
FROM sessions o WHERE {_SESSION_SCOPE}
GROUP BY 1, 2, 3
"""

_SESSION_SERIES = f"""
SELECT o.activity_type, coalesce(o.district, '{_NONE}') AS district, o.activity_id,
       {", ".join(f"sum(o.came[{i + 1}]) AS c{i}" for i in range(len(WALK_IN_SLOTS)))},
       {", ".join(f"sum(o.walk_ins[{i + 1}]) AS w{i}" for i in range(len(WALK_IN_SLOTS)))},
       -- sign-ups taken at a stand, per campaign: rare, so the sheets that have any come back whole
       jsonb_agg(o.campaign_signups) FILTER (WHERE o.campaign_signups <> '{{}}'::jsonb) AS campaign_signups
FROM sessions o WHERE {_SESSION_SCOPE}
GROUP BY 1, 2, 3
"""


def _by(rows: list[asyncpg.Record], *keys: str) -> dict[str, Any]:
    """Nested, sorted dicts of counts: {role: {code: n}}."""
    nested: dict[str, Any] = {}
    for row in rows:
        node = nested
        for key in keys[:-1]:
            node = node.setdefault(row[key] if row[key] is not None else _NONE, {})
        node[row[keys[-1]] if row[keys[-1]] is not None else _NONE] = row["n"]
    return _sorted(nested)


def _sorted(node: Any) -> Any:
    return {k: _sorted(node[k]) for k in sorted(node)} if isinstance(node, dict) else node


def _role_gender(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    return {role: {gender: counts[role, gender] for gender in GENDERS} for role in ROLES}


async def registrations(conn: asyncpg.Connection, scope: Scope, period: Period) -> dict[str, Any]:
    rows = await conn.fetch(_REGISTRATIONS, scope.organisation_id, scope.programme, period.start, period.end)
    sets: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        if row["month"] is not None:
            sets.setdefault("month", []).append(row)
        else:
            # GROUPING bits (gender, district, referral_source, campaign): the one column grouped is 0.
            name = {0b0111: "gender", 0b1011: "district", 0b1101: "referral_source", 0b1110: "campaign"}
            sets.setdefault(name[row["grouping_set"]], []).append(row)
    by_gender = Counter({(r["role"], r["gender"]): r["n"] for r in sets.get("gender", [])})
    months = {m.strftime("%Y-%m") for m in period.month_ends()}
    by_month: dict[str, Any] = {m: {role: dict.fromkeys(GENDERS, 0) for role in ROLES} for m in sorted(months)}
    for r in sets.get("month", []):
        by_month[r["month"].strftime("%Y-%m")][r["role"]][r["gender"]] = r["n"]
    return {
        "by_role_and_gender": _role_gender(by_gender),
        "total_by_role": {role: sum(by_gender[role, g] for g in GENDERS) for role in ROLES},
        "by_district": _by(sets.get("district", []), "role", "district"),
        "by_referral_source": _by(sets.get("referral_source", []), "role", "referral_source"),
        "by_campaign": _by(sets.get("campaign", []), "role", "campaign"),
        "by_month": by_month,
    }


def active_at(day: date, starts: dict[date, int], ends: dict[date, int]) -> int:
    """Pairs started on or before ``day`` less those ended on or before it."""
    return sum(n for d, n in starts.items() if d <= day) - sum(n for d, n in ends.items() if d <= day)


async def pairs(conn: asyncpg.Connection, scope: Scope, period: Period) -> dict[str, Any]:
    args = (scope.organisation_id, scope.programme, period.start, period.end)
    totals = await conn.fetchrow(_PAIRS, *args)
    groups = await conn.fetch(_PAIR_GROUPS, *args)
    days = await conn.fetch(_PAIR_STARTS_AND_ENDS, *args)
    waiting = await conn.fetchrow(_WAITING_TIME, *args)
    median, p90 = waiting["percentiles"] or (None, None)
    starts = {r["day"]: r["n"] for r in days if r["kind"] == "start"}
    ends = {r["day"]: r["n"] for r in days if r["kind"] == "end"}
    formed = {r["day"]: r["n"] for r in days if r["kind"] == "formed"}
    month_ends = period.month_ends()
    month_starts = [period.start, *(d.fromordinal(d.toordinal() + 1) for d in month_ends[:-1])]
    over_time = {
        end.strftime("%Y-%m"): {
            "active_at_month_end": active_at(end, starts, ends),
            "new": sum(n for d, n in formed.items() if begin <= d <= end),
        }
        for begin, end in zip(month_starts, month_ends, strict=True)
    }
    return {
        "new": totals["new_pairs"],
        "active_in_period": totals["active_in_period"],
        "active_at_end": totals["active_at_end"],
        "ended": totals["ended"],
        "ended_by_reason": {
            r["code"]: r["n"] for r in sorted(groups, key=lambda r: r["code"]) if r["grouping"] == "ended"
        },
        "new_by_origin": {
            r["code"]: r["n"] for r in sorted(groups, key=lambda r: r["code"]) if r["grouping"] == "origin"
        },
        "follow_ups_done": next(r["n"] for r in groups if r["grouping"] == "follow_ups"),
        "waiting_days": {"measured": waiting["measured"], "median": median, "p90": p90},
        "over_time": over_time,
    }


async def waiting_list(conn: asyncpg.Connection, scope: Scope, period: Period) -> dict[str, Any]:
    rows = await conn.fetch(_WAITING_LIST, scope.organisation_id, scope.programme, period.end)
    by_district = {
        r["district"]: {
            "waiting": int(r["waiting"]),
            "free_places": int(r["free_places"]),
            "volunteers_missing": max(int(r["waiting"]) - int(r["free_places"]), 0),
        }
        for r in sorted(rows, key=lambda r: r["district"])
    }
    return {
        "waiting": sum(d["waiting"] for d in by_district.values()),
        "volunteers_missing": sum(d["volunteers_missing"] for d in by_district.values()),
        "by_district": by_district,
    }


@dataclass
class _Tally:
    sessions: int = 0
    signups: int = 0
    attended: int = 0
    walk_ins: int = 0

    def __post_init__(self) -> None:
        self.series: set = set()
        self.weeks: set = set()

    def add_week(self, row: asyncpg.Record) -> None:
        self.sessions += row["sessions"]
        self.signups += row["signups"]
        self.attended += row["attended"]
        self.walk_ins += row["walk_ins"]
        self.weeks.add(row["week"])

    def figures(self) -> dict[str, Any]:
        return {
            "activities": len(self.series),
            "sessions": self.sessions,
            "signups": self.signups,
            "attended_registered": self.attended,
            "attended_walk_in": self.walk_ins,
            "attendance": self.attended + self.walk_ins,
            "mean_attendance_per_session": ratio(self.attended + self.walk_ins, self.sessions),
        }


async def activities(conn: asyncpg.Connection, scope: Scope, period: Period) -> dict[str, Any]:
    args = (scope.organisation_id, scope.programme, period.start, period.end)
    campaign_signups: Counter[str] = Counter()
    total, by_district, by_type_and_district = _Tally(), {}, {}

    def tallies(row: asyncpg.Record) -> tuple[_Tally, ...]:
        key = (row["activity_type"], row["district"])
        return (
            total,
            by_district.setdefault(row["district"], _Tally()),
            by_type_and_district.setdefault(key, _Tally()),
        )

    for row in await conn.fetch(_SESSION_WEEKS, *args):
        for tally in tallies(row):
            tally.add_week(row)
    slots = len(WALK_IN_SLOTS)
    came, walk_ins = [0] * slots, [0] * slots
    for row in await conn.fetch(_SESSION_SERIES, *args):
        for tally in tallies(row):
            tally.series.add(row["activity_id"])
        for i in range(slots):
            came[i] += row[f"c{i}"]
            walk_ins[i] += row[f"w{i}"]
        for sheet in row["campaign_signups"] or ():
            campaign_signups.update(sheet)
    weeks = period.week_count()
    weekly = sorted(d for d, t in by_district.items() if d != _NONE and is_weekly(len(t.weeks), period))
    return {
        **total.figures(),
        "by_type_and_district": [
            {"activity_type": kind, "district": district, **t.figures()}
            for (kind, district), t in sorted(by_type_and_district.items())
        ],
        "by_district": {
            d: {**t.figures(), "weeks_with_sessions": len(t.weeks), "sessions_per_week": ratio(t.sessions, weeks, 1)}
            for d, t in sorted(by_district.items())
        },
        "attended_by_role_and_gender": _slots(came),
        "walk_ins_by_role_and_gender": _slots(walk_ins),
        "stand_signups_by_campaign": dict(sorted(campaign_signups.items())),
        "weekly_districts": weekly,
        "weeks_in_period": weeks,
    }


def _slots(values: list[int]) -> dict[str, dict[str, int]]:
    return {role: {gender: values[i] for i, (r, gender) in enumerate(WALK_IN_SLOTS) if r == role} for role in ROLES}


async def period_figures(
    conn: asyncpg.Connection, scope: Scope, period: Period, *, with_waiting_list: bool = True
) -> dict[str, Any]:
    """The waiting list is a snapshot at the period's end, shown for the period only: the year before
    leaves it out (it costs two joins of everyone with every pair)."""
    figures = {
        "registrations": await registrations(conn, scope, period),
        "pairs": await pairs(conn, scope, period),
        "activities": await activities(conn, scope, period),
    }
    if with_waiting_list:
        figures["waiting_list"] = await waiting_list(conn, scope, period)
    return figures
