"""Read-model rows with sensible defaults, for tests that count by hand."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sprakvan_reporting.adapters import read_models as rm
from sprakvan_reporting.adapters.read_models import ActivityFacts, OccurrenceFacts, PairFacts, ParticipantFacts
from sprakvan_reporting.domain.model import WALK_IN_SLOTS

ORG = "linkoping"


def participant(
    registered_on: date, role: str = "newcomer", gender: str = "woman", *, anonymous: bool = False, **kw
) -> ParticipantFacts:
    values = {
        "organisation_id": ORG,
        "record_id": uuid.uuid4(),
        "anonymous": anonymous,
        "programme": "vises",
        "role": role,
        "gender": gender,
        "birth_year": 1990,
        "district": "skaggetorp",
        "referral_source": "self",
        "campaign": None,
        "capacity": 1 if role == "established" else None,
        "registered_on": registered_on,
        "interviewed_on": None,
        "withdrawn_on": None,
        "version": 1,
    }
    values.update(kw)
    return ParticipantFacts(**values)


def pair(newcomer: ParticipantFacts | None, established: ParticipantFacts | None, formed_on: date, **kw) -> PairFacts:
    values = {
        "organisation_id": ORG,
        "pair_id": uuid.uuid4(),
        "programme": "vises",
        "newcomer_id": newcomer.record_id if newcomer else None,
        "established_id": established.record_id if established else None,
        "origin": "coordinator",
        "status": "active",
        "proposed_on": formed_on,
        "formed_on": formed_on,
        "activated_on": None,
        "ended_on": None,
        "end_reason": None,
        "follow_up_dates": (),
        "version": 1,
    }
    values.update(kw)
    if values["ended_on"] is not None:
        values["status"] = "ended"
    return PairFacts(**values)


def activity(activity_type: str = "language_cafe", district: str = "skaggetorp", **kw) -> ActivityFacts:
    values = {
        "organisation_id": ORG,
        "activity_id": uuid.uuid4(),
        "programme": "vises",
        "activity_type": activity_type,
        "district": district,
        "version": 1,
    }
    values.update(kw)
    return ActivityFacts(**values)


def walk_ins(**counts: int) -> tuple[int, ...]:
    """walk_ins(newcomer_woman=1, established_man=2) in the stored slot order."""
    return tuple(counts.get(f"{role}_{gender}", 0) for role, gender in WALK_IN_SLOTS)


def occurrence(
    of: ActivityFacts, starts_on: date, *, attended: int = 0, signups: int | None = None, **kw
) -> OccurrenceFacts:
    values = {
        "organisation_id": ORG,
        "occurrence_id": uuid.uuid4(),
        "activity_id": of.activity_id,
        "district": None,
        "starts_on": starts_on,
        "held": True,
        "signups": attended if signups is None else signups,
        "attended": attended,
        "walk_ins": walk_ins(),
        "version": 1,
    }
    values.update(kw)
    return OccurrenceFacts(**values)


async def load_sample(conn) -> dict:
    """The hand-counted sample of test_reporting_figures (Jan-Oct 2019 against Jan-Oct 2018)."""
    n1 = participant(date(2019, 1, 10), referral_source="self")
    n2 = participant(date(2019, 2, 1), referral_source="campaign", campaign="bussreklam", withdrawn_on=date(2019, 9, 1))
    n3 = participant(date(2019, 4, 1), gender="man", district="ryd", referral_source="red_cross")
    n4 = participant(date(2019, 5, 5), gender="man", district="berga")
    anon = participant(date(2019, 6, 1), anonymous=True)
    late = participant(date(2019, 11, 5))  # after the period
    n2018 = participant(date(2018, 3, 1), gender="man", district="ryd")
    e1 = participant(date(2019, 1, 5), "established", referral_source="friend", capacity=2)
    e2018 = participant(date(2018, 2, 1), "established", "man", district="ryd")
    other_org = participant(date(2019, 3, 3), organisation_id="norrkoping")
    other_programme = participant(date(2019, 3, 3), programme="guide", withdrawn_on=date(2019, 4, 1))
    people = [n1, n2, n3, n4, anon, late, n2018, e1, e2018, other_org, other_programme]
    await rm.upsert_participants(conn, people)

    p1 = pair(
        n1, e1, date(2019, 2, 10), activated_on=date(2019, 2, 15), follow_up_dates=(date(2019, 5, 1), date(2019, 12, 1))
    )
    p2 = pair(n2018, e2018, date(2018, 6, 1), ended_on=date(2019, 3, 1), end_reason="moved")
    p3 = pair(None, None, date(2018, 3, 1), ended_on=date(2018, 12, 31), end_reason="completed")
    p4 = pair(n3, e1, date(2019, 10, 31), origin="group_matching")
    await rm.upsert_pairs(conn, [p1, p2, p3, p4])

    cafe, walk = activity(), activity("walk_and_talk", "ryd")
    await rm.upsert_activities(conn, [cafe, walk])
    tuesdays = [date(2019, 1, 1) + timedelta(weeks=w) for w in range(44)]  # 1 Jan .. 29 Oct
    sessions = [
        occurrence(cafe, d, attended=10, signups=12, walk_ins=walk_ins(newcomer_woman=1, newcomer_man=1))
        for d in tuesdays
    ]
    sessions.append(occurrence(cafe, date(2019, 3, 7), attended=9, held=False))  # cancelled
    sessions += [occurrence(walk, date(2019, 5, d), attended=5) for d in (2, 9, 16)]
    sessions += [occurrence(cafe, date(2018, 2, 1) + timedelta(weeks=w), attended=8) for w in range(10)]
    await rm.upsert_occurrences(conn, sessions)
    return {"n1": n1, "n3": n3, "p1": p1, "anon": anon}
