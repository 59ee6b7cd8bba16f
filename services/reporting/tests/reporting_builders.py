"""Read-model rows with sensible defaults, for tests that count by hand."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sprakvan_reporting.adapters import read_models as rm
from sprakvan_reporting.adapters.read_models import (
    AttendanceFacts,
    OccurrenceFacts,
    PairFacts,
    ParticipantFacts,
    SignupFacts,
)
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
        "origin": "proposal",
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


def slots(**counts: int) -> tuple[int, ...]:
    """slots(newcomer_woman=1, established_man=2): counts by role and gender in the stored order."""
    return tuple(counts.get(f"{role}_{gender}", 0) for role, gender in WALK_IN_SLOTS)


def occurrence(
    starts_on: date, activity_type: str = "language_cafe", district: str | None = "skaggetorp", **kw
) -> OccurrenceFacts:
    values = {
        "organisation_id": ORG,
        "occurrence_id": uuid.uuid4(),
        "activity_id": uuid.uuid4(),
        "programmes": (),
        "activity_type": activity_type,
        "district": district,
        "starts_on": starts_on,
        "cancelled": False,
        "version": 1,
    }
    values.update(kw)
    return OccurrenceFacts(**values)


def attendance(
    of: OccurrenceFacts, came: tuple[int, ...], walk_ins: tuple[int, ...] = slots(), **kw
) -> AttendanceFacts:
    values = {
        "organisation_id": ORG,
        "occurrence_id": of.occurrence_id,
        "came": came,
        "no_show": 0,
        "walk_ins": walk_ins,
        "campaign_signups": {},
        "version": 2,
    }
    values.update(kw)
    return AttendanceFacts(**values)


def signups(of: OccurrenceFacts, count: int, status: str = "confirmed") -> list[SignupFacts]:
    return [SignupFacts(ORG, uuid.uuid4(), of.occurrence_id, status, 1) for _ in range(count)]


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
    p2 = pair(
        n2018, e2018, date(2018, 6, 1), activated_on=date(2018, 6, 5), ended_on=date(2019, 3, 1), end_reason="moved"
    )
    p3 = pair(
        None, None, date(2018, 3, 1), activated_on=date(2018, 3, 5), ended_on=date(2018, 12, 31), end_reason="completed"
    )
    p4 = pair(n3, e1, date(2019, 10, 31), origin="group_meetup")  # formed, not yet introduced: new, not active
    await rm.upsert_pairs(conn, [p1, p2, p3, p4])

    cafe, walk = uuid.uuid4(), uuid.uuid4()
    tuesdays = [date(2019, 1, 1) + timedelta(weeks=w) for w in range(44)]  # 1 Jan .. 29 Oct
    cafes = [occurrence(d, activity_id=cafe) for d in tuesdays]
    cancelled = occurrence(date(2019, 3, 7), activity_id=cafe, cancelled=True)
    walks = [occurrence(date(2019, 5, d), "walk_and_talk", "ryd", activity_id=walk) for d in (2, 9, 16)]
    last_year = [occurrence(date(2018, 2, 1) + timedelta(weeks=w), activity_id=cafe) for w in range(10)]
    stand = occurrence(date(2019, 8, 20), "fair_stand", "innerstaden", programmes=("guide",))
    await rm.upsert_occurrences(conn, [*cafes, cancelled, *walks, *last_year, stand])
    sheets = [
        attendance(o, slots(newcomer_woman=6, established_woman=4), slots(newcomer_woman=1, newcomer_man=1))
        for o in cafes
    ]
    sheets.append(attendance(cancelled, slots(newcomer_man=9)))
    sheets += [attendance(o, slots(newcomer_man=3, established_man=2)) for o in walks]
    sheets += [attendance(o, slots(newcomer_woman=8)) for o in last_year]
    sheets.append(attendance(stand, slots(), campaign_signups={"stadsfesten": 4}))
    await rm.upsert_attendance(conn, sheets)
    await rm.upsert_signups(conn, [s for o in cafes for s in signups(o, 12) + signups(o, 1, "waitlisted")])
    await rm.upsert_signups(conn, [s for o in walks for s in signups(o, 5)])
    return {"n1": n1, "n3": n3, "p1": p1, "anon": anon}
