"""Integration events -> read-model rows. Timestamps become days in the organisation's time zone here,
once, so that every query compares plain dates."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sprakvan_shared.contracts import intake

from ..domain.model import WALK_IN_SLOTS
from ..upstream import events as ev
from ..upstream import matching
from .read_models import AttendanceFacts, OccurrenceFacts, PairFacts, ParticipantFacts, SignupFacts

# Anonymous records have no id of their own; ours are derived from their place in the year's list, so a
# replay makes the same ones.
_ANONYMOUS_IDS = uuid.UUID("6b3f1c1e-5d55-4f0e-9a49-2f0c3f7e2a10")


def local_day(moment: datetime | None, zone: ZoneInfo) -> date | None:
    return None if moment is None else moment.astimezone(zone).date()


def participant_facts(event: intake.ParticipantRegistered, zone: ZoneInfo) -> ParticipantFacts:
    p = event.payload
    return ParticipantFacts(
        organisation_id=event.organisation_id,
        record_id=p.participant_id,
        anonymous=False,
        programme=p.programme,
        role=p.role.value,
        gender=p.gender.value,
        birth_year=p.birth_year,
        district=p.district,
        referral_source=p.referral_source,
        campaign=p.campaign,
        capacity=p.capacity,
        registered_on=local_day(p.registered_at, zone),
        interviewed_on=p.interviewed_on,
        withdrawn_on=local_day(p.withdrawn_at, zone),
        version=event.version,
    )


def anonymous_facts(event: intake.ErasureStatisticsRecorded) -> list[ParticipantFacts]:
    p = event.payload
    return [
        ParticipantFacts(
            organisation_id=event.organisation_id,
            record_id=uuid.uuid5(_ANONYMOUS_IDS, f"{event.organisation_id}/{p.year}/{index}"),
            anonymous=True,
            programme=r.programme,
            role=r.role.value,
            gender=r.gender.value,
            birth_year=r.birth_year,
            district=r.district,
            referral_source=r.referral_source,
            campaign=r.campaign,
            capacity=None,
            registered_on=r.registered_on,
            interviewed_on=r.interviewed_on,
            withdrawn_on=r.withdrawn_on,
            version=event.version,
        )
        for index, r in enumerate(p.records)
    ]


def pair_facts(event: matching.PairFormed, zone: ZoneInfo) -> PairFacts:
    p = event.payload
    return PairFacts(
        organisation_id=event.organisation_id,
        pair_id=p.pair_id,
        programme=p.programme,
        newcomer_id=p.newcomer_id,
        established_id=p.established_id,
        origin=p.origin.value,
        status=p.status.value,
        proposed_on=local_day(p.proposed_at, zone),
        formed_on=local_day(p.formed_at, zone),
        activated_on=p.activated_on or local_day(p.activated_at, zone),
        ended_on=p.ended_on,
        end_reason=p.end_reason.value if p.end_reason else None,
        follow_up_dates=tuple(sorted(f.done_on for f in p.follow_ups if f.done_on is not None)),
        version=event.version,
    )


def occurrence_facts(event: ev.ActivityScheduled, zone: ZoneInfo) -> OccurrenceFacts:
    p = event.payload
    return OccurrenceFacts(
        organisation_id=event.organisation_id,
        occurrence_id=p.occurrence_id,
        activity_id=p.activity_id,
        programmes=tuple(sorted(p.programmes)),
        activity_type=p.type_code,
        district=p.district,
        starts_on=local_day(p.starts_at, zone),
        cancelled=p.status is ev.OccurrenceStatus.CANCELLED,
        version=event.version,
    )


def signup_facts(event: ev.SignupConfirmed) -> SignupFacts:
    p = event.payload
    return SignupFacts(event.organisation_id, p.signup_id, p.occurrence_id, p.status.value, event.version)


def attendance_facts(event: ev.AttendanceRecorded) -> AttendanceFacts:
    p = event.payload
    came: Counter[tuple[str, str]] = Counter()
    no_show = 0
    for check_in in p.check_ins:
        if check_in.outcome is ev.AttendanceOutcome.CAME:
            came[check_in.role.value, check_in.gender.value] += 1
        else:
            no_show += 1
    for erased in p.anonymous:
        if erased.outcome is ev.AttendanceOutcome.CAME:
            came[erased.role.value, erased.gender.value] += erased.count
        else:
            no_show += erased.count
    walk_ins: Counter[tuple[str, str]] = Counter()
    for walk_in in p.walk_ins:
        walk_ins[walk_in.role.value, walk_in.gender.value] += walk_in.count
    campaigns: Counter[str] = Counter()
    for stand in p.campaign_signups:
        campaigns[stand.campaign] += stand.count
    return AttendanceFacts(
        organisation_id=event.organisation_id,
        occurrence_id=p.occurrence_id,
        came=tuple(came[slot] for slot in WALK_IN_SLOTS),
        no_show=no_show,
        walk_ins=tuple(walk_ins[slot] for slot in WALK_IN_SLOTS),
        campaign_signups=dict(campaigns),
        version=event.version,
    )
