"""Integration events as the other services publish them (intake's and events' real contracts, the
matching stand-in), for tests and the benchmark."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sprakvan_reporting.upstream import events as ev
from sprakvan_reporting.upstream import matching
from sprakvan_shared.contracts import intake

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ORG = "linkoping"


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), STOCKHOLM).astimezone(UTC)


def participant_state(
    registered_on: date, role: str = "newcomer", gender: str = "woman", **kw
) -> intake.ParticipantState:
    values = {
        "participant_id": uuid.uuid4(),
        "programme": "vises",
        "role": role,
        "status": "registered",
        "gender": gender,
        "birth_year": 1990,
        "district": "skaggetorp",
        "capacity": 1 if role == "established" else None,
        "swedish_level": "A1" if role == "newcomer" else None,
        "referral_source": "self",
        "registered_at": at(registered_on),
    }
    values.update(kw)
    return intake.ParticipantState(**values)


def registered(state: intake.ParticipantState, version: int = 1, org: str = ORG) -> intake.ParticipantRegistered:
    return intake.ParticipantRegistered(
        organisation_id=org, aggregate_id=str(state.participant_id), version=version, payload=state
    )


def withdrawn(state: intake.ParticipantState, on: date, version: int = 2) -> intake.ParticipantWithdrawn:
    payload = state.model_copy(update={"status": "withdrawn", "withdrawn_at": at(on), "withdrawal_reason": "moved"})
    return intake.ParticipantWithdrawn(
        organisation_id=ORG, aggregate_id=str(state.participant_id), version=version, payload=payload
    )


def erased(state: intake.ParticipantState, on: date, version: int) -> intake.ParticipantErased:
    return intake.ParticipantErased(
        organisation_id=ORG,
        aggregate_id=str(state.participant_id),
        version=version,
        payload=intake.ParticipantErasedPayload(participant_id=state.participant_id, erased_at=at(on)),
    )


def erasure_statistics(year: int, states: list[intake.ParticipantState], on: date, version: int):
    records = sorted(
        (
            intake.AnonymousParticipantRecord(
                programme=s.programme, role=s.role, gender=s.gender, birth_year=s.birth_year, district=s.district,
                referral_source=s.referral_source, campaign=s.campaign,
                registered_on=s.registered_at.astimezone(STOCKHOLM).date(), erased_on=on,
            )
            for s in states
        ),
        key=lambda r: r.model_dump_json(),
    )  # fmt: skip
    return intake.ErasureStatisticsRecorded(
        organisation_id=ORG,
        aggregate_id=f"{ORG}-{year}",
        version=version,
        payload=intake.ErasureStatisticsPayload(organisation_id=ORG, year=year, records=tuple(records)),
    )


def pair_event(
    kind: type, newcomer: intake.ParticipantState, established: intake.ParticipantState, formed_on: date,
    version: int = 1, **kw,
):  # fmt: skip
    values = {
        "pair_id": uuid.uuid4(),
        "programme": "vises",
        "newcomer_id": newcomer.participant_id,
        "established_id": established.participant_id,
        "origin": "proposal",
        "status": "formed",
        "proposed_at": at(formed_on - timedelta(days=3)),
        "formed_at": at(formed_on),
    }
    values.update(kw)
    state = matching.PairState(**values)
    return kind(organisation_id=ORG, aggregate_id=str(state.pair_id), version=version, payload=state)


def occurrence_event(starts_on: date, type_code: str = "language_cafe", district: str = "skaggetorp", **kw):
    values = {
        "occurrence_id": uuid.uuid4(),
        "activity_id": uuid.uuid4(),
        "kind": "series",
        "type_code": type_code,
        "district": district,
        "starts_at": at(starts_on, 18),
        "ends_at": at(starts_on, 20),
        "status": "scheduled",
        "scheduled_at": at(starts_on - timedelta(days=30)),
        "changed_at": at(starts_on - timedelta(days=30)),
    }
    values.update(kw)
    state = ev.OccurrenceState(**values)
    return ev.ActivityScheduled(organisation_id=ORG, aggregate_id=str(state.occurrence_id), version=1, payload=state)


def attendance_event(occurrence: ev.ActivityScheduled, came: list[tuple[str, str]], walk_ins=(), version: int = 5):
    o = occurrence.payload
    state = ev.AttendanceState(
        occurrence_id=o.occurrence_id, activity_id=o.activity_id, type_code=o.type_code, district=o.district,
        starts_at=o.starts_at, status=o.status,
        check_ins=tuple(
            ev.CheckInState(participant_id=uuid.uuid4(), outcome="came", role=role, gender=gender,
                            recorded_at=o.starts_at)
            for role, gender in came
        ),
        walk_ins=tuple(ev.WalkInCount(role=role, gender=gender, count=n) for role, gender, n in walk_ins),
        recorded_at=o.ends_at,
    )  # fmt: skip
    return ev.AttendanceRecorded(organisation_id=ORG, aggregate_id=str(o.occurrence_id), version=version, payload=state)


def signup_event(occurrence: ev.ActivityScheduled, status: str = "confirmed", version: int = 1, signup_id=None):
    o = occurrence.payload
    state = ev.SignupState(
        signup_id=signup_id or uuid.uuid4(), occurrence_id=o.occurrence_id, activity_id=o.activity_id,
        participant_id=uuid.uuid4(), status=status, arrival=1, signed_up_at=o.scheduled_at,
        occurrence_starts_at=o.starts_at,
    )  # fmt: skip
    kind = {"confirmed": ev.SignupConfirmed, "waitlisted": ev.SignupWaitlisted, "cancelled": ev.SignupCancelled}[status]
    return kind(organisation_id=ORG, aggregate_id=str(state.signup_id), version=version, payload=state)


def configured(version: int = 1) -> intake.OrganisationConfigured:
    return intake.OrganisationConfigured(
        organisation_id=ORG,
        aggregate_id=ORG,
        version=version,
        payload=intake.OrganisationConfiguration(
            organisation_id=ORG,
            programmes=({"code": "vises", "labels": {"sv": "Vi ses! Språkvänner", "en": "Vi ses! Language friends"}},),
            districts=(
                {"code": "skaggetorp", "labels": {"sv": "Skäggetorp", "en": "Skäggetorp"}},
                {"code": "ryd", "labels": {"sv": "Ryd", "en": "Ryd"}},
            ),
        ),
    )
