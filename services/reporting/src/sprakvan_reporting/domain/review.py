"""The partnership review as one plain document: figures for the period and the year before, the tables
every output is drawn from, goals, economy, narrative and definitions. Pure: the same inputs give the
same document, and so the same JSON bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .definitions import DEFINITIONS
from .model import (
    GENDERS,
    ROLES,
    GoalFigures,
    Narrative,
    Partnership,
    Period,
    contribution_for_period,
    evaluate_goal,
    ratio,
)

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Column:
    key: str
    kind: str  # "number", "sek", "month", "text", or a code list: role, gender, district, ...

    def plain(self) -> dict[str, str]:
        return {"key": self.key, "kind": self.kind}


def _table(name: str, columns: list[Column], rows: list[list[Any]]) -> dict[str, Any]:
    return {"name": name, "columns": [c.plain() for c in columns], "rows": rows}


_CURRENT, _PREVIOUS = Column("current", "number"), Column("previous", "number")


def _compare(name: str, code_kind: str, now: dict[str, dict[str, int]], before: dict[str, dict[str, int]]):
    """role x code, with the period and the year before side by side."""
    rows = []
    for role in ROLES:
        codes = sorted(set(now.get(role, {})) | set(before.get(role, {})))
        rows += [[role, code, now.get(role, {}).get(code, 0), before.get(role, {}).get(code, 0)] for code in codes]
    return _table(name, [Column("role", "role"), Column(code_kind, code_kind), _CURRENT, _PREVIOUS], rows)


def _flat_compare(name: str, code_kind: str, now: dict[str, int], before: dict[str, int]):
    codes = sorted(set(now) | set(before))
    return _table(
        name, [Column(code_kind, code_kind), _CURRENT, _PREVIOUS], [[c, now.get(c, 0), before.get(c, 0)] for c in codes]
    )


def registration_tables(now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    gender_rows = [
        [role, gender, now["by_role_and_gender"][role][gender], before["by_role_and_gender"][role][gender]]
        for role in ROLES
        for gender in GENDERS
    ]
    month_rows = [
        [month, *(counts[role][g] for role in ROLES for g in GENDERS)] for month, counts in now["by_month"].items()
    ]
    return [
        _table(
            "registrations_by_gender",
            [Column("role", "role"), Column("gender", "gender"), _CURRENT, _PREVIOUS],
            gender_rows,
        ),
        _compare("registrations_by_district", "district", now["by_district"], before["by_district"]),
        _compare(
            "registrations_by_referral_source",
            "referral_source",
            now["by_referral_source"],
            before["by_referral_source"],
        ),
        _compare("registrations_by_campaign", "campaign", now["by_campaign"], before["by_campaign"]),
        _table(
            "registrations_by_month",
            [Column("month", "month"), *(Column(f"{role}_{g}", "number") for role in ROLES for g in GENDERS)],
            month_rows,
        ),
    ]


_PAIR_FIGURES = ("new", "active_in_period", "active_at_end", "ended", "follow_ups_done")


def pair_tables(now: dict[str, Any], before: dict[str, Any], waiting: dict[str, Any]) -> list[dict[str, Any]]:
    summary = [[key, now[key], before[key]] for key in _PAIR_FIGURES]
    summary += [
        [f"waiting_days_{key}", now["waiting_days"][key], before["waiting_days"][key]]
        for key in ("median", "p90", "measured")
    ]
    return [
        _table("pairs", [Column("figure", "figure"), _CURRENT, _PREVIOUS], summary),
        _flat_compare("pairs_ended_by_reason", "end_reason", now["ended_by_reason"], before["ended_by_reason"]),
        _flat_compare("pairs_new_by_origin", "origin", now["new_by_origin"], before["new_by_origin"]),
        _table(
            "pairs_over_time",
            [Column("month", "month"), Column("active_at_month_end", "number"), Column("new", "number")],
            [[m, v["active_at_month_end"], v["new"]] for m, v in now["over_time"].items()],
        ),
        _table(
            "waiting_list_by_district",
            [Column("district", "district"), Column("waiting", "number"), Column("free_places", "number"),
             Column("volunteers_missing", "number")],
            [[d, v["waiting"], v["free_places"], v["volunteers_missing"]] for d, v in waiting["by_district"].items()],
        ),
    ]  # fmt: skip


_SESSION_COLUMNS = ("activities", "sessions", "signups", "attended_registered", "attended_walk_in", "attendance",
                    "mean_attendance_per_session")  # fmt: skip


def activity_tables(now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    previous_by_district = before["by_district"]
    return [
        _table(
            "activities_by_type_and_district",
            [Column("activity_type", "activity_type"), Column("district", "district"),
             *(Column(c, "number") for c in _SESSION_COLUMNS)],
            [[r["activity_type"], r["district"], *(r[c] for c in _SESSION_COLUMNS)]
             for r in now["by_type_and_district"]],
        ),
        _table(
            "attendance_by_district",
            [Column("district", "district"), Column("sessions", "number"), Column("attendance", "number"),
             Column("mean_attendance_per_session", "number"), Column("sessions_per_week", "number"),
             Column("weekly", "number"), Column("previous_attendance", "number")],
            [[d, v["sessions"], v["attendance"], v["mean_attendance_per_session"], v["sessions_per_week"],
              int(d in now["weekly_districts"]), previous_by_district.get(d, {}).get("attendance", 0)]
             for d, v in now["by_district"].items()],
        ),
        _table(
            "walk_ins_by_role_and_gender",
            [Column("role", "role"), Column("gender", "gender"), _CURRENT, _PREVIOUS],
            [[role, g, now["walk_ins_by_role_and_gender"][role][g], before["walk_ins_by_role_and_gender"][role][g]]
             for role in ROLES for g in GENDERS],
        ),
    ]  # fmt: skip


def goals(partnership: Partnership | None, now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    if partnership is None:
        return []
    figures = GoalFigures(
        new_pairs=now["pairs"]["new"],
        new_pairs_before=before["pairs"]["new"],
        weekly_districts=frozenset(now["activities"]["weekly_districts"]),
        mean_attendance=now["activities"]["mean_attendance_per_session"],
        mean_attendance_before=before["activities"]["mean_attendance_per_session"],
    )
    return [
        {
            "kind": goal.kind.value,
            "text": goal.text,
            "district": goal.district,
            "status": evaluate_goal(goal, figures),
        }
        for goal in partnership.terms.goals
    ]


def economy(partnership: Partnership | None, period: Period, now: dict[str, Any]) -> dict[str, Any] | None:
    if partnership is None:
        return None
    terms = partnership.terms
    partners = [
        {
            "name": p.name,
            "covers": p.covers,
            "yearly_contribution_sek": p.yearly_contribution_sek,
            "contribution_for_period_sek": contribution_for_period(
                p.yearly_contribution_sek, terms.valid_from, terms.valid_to, period
            ),
        }
        for p in terms.partners
    ]
    for_period = sum(p["contribution_for_period_sek"] for p in partners)
    registered = sum(now["registrations"]["total_by_role"].values())
    return {
        "partners": partners,
        "yearly_total_sek": sum(p["yearly_contribution_sek"] for p in partners),
        "period_total_sek": for_period,
        "cost_per_active_pair_sek": ratio(for_period, now["pairs"]["active_in_period"], 0),
        "cost_per_registered_participant_sek": ratio(for_period, registered, 0),
    }


def economy_table(economy_: dict[str, Any] | None) -> list[dict[str, Any]]:
    if economy_ is None:
        return []
    return [
        _table(
            "economy",
            [Column("partner", "text"), Column("covers", "text"), Column("yearly_contribution_sek", "sek"),
             Column("contribution_for_period_sek", "sek")],
            [[p["name"], p["covers"], p["yearly_contribution_sek"], p["contribution_for_period_sek"]]
             for p in economy_["partners"]],
        )
    ]  # fmt: skip


def build_review(
    *,
    organisation_id: str,
    programme: str | None,
    period: Period,
    now: dict[str, Any],
    before: dict[str, Any],
    partnership: Partnership | None,
    narrative: Narrative | None,
    labels: dict[str, Any],
) -> dict[str, Any]:
    previous = period.year_earlier()
    economy_ = economy(partnership, period, now)
    return {
        "report": "partnership_review",
        "schema_version": SCHEMA_VERSION,
        "organisation_id": organisation_id,
        "programme": programme,
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "previous_period": {"start": previous.start.isoformat(), "end": previous.end.isoformat()},
        "partnership": None
        if partnership is None
        else {"id": str(partnership.id), "version": partnership.version, **partnership.terms.model_dump(mode="json")},
        "narrative": None if narrative is None else narrative.model_dump(mode="json"),
        "figures": {"current": now, "previous": before},
        "goals": goals(partnership, now, before),
        "economy": economy_,
        "tables": [
            *registration_tables(now["registrations"], before["registrations"]),
            *pair_tables(now["pairs"], before["pairs"], now["waiting_list"]),
            *activity_tables(now["activities"], before["activities"]),
            *economy_table(economy_),
        ],
        "definitions": DEFINITIONS,
        "labels": labels,
    }


def to_json(review: dict[str, Any]) -> bytes:
    """The canonical bytes: the same review always serialises the same way."""
    return json.dumps(review, ensure_ascii=False, separators=(",", ":"), sort_keys=False).encode()
