"""Domain objects -> integration events (full state, the aggregate's version, its id in the subject)."""

from __future__ import annotations

from datetime import datetime

from sprakvan_shared.contracts import events as contracts

from ..domain.attendance import AttendanceSheet
from ..domain.model import Activity, Occurrence
from ..domain.signups import Signup

ActivityEventType = (
    type[contracts.ActivityScheduled] | type[contracts.ActivityChanged] | type[contracts.ActivityCancelled]
)
SignupEventType = (
    type[contracts.SignupConfirmed]
    | type[contracts.SignupWaitlisted]
    | type[contracts.SignupPromoted]
    | type[contracts.SignupCancelled]
)


def occurrence_state(occurrence: Occurrence, activity: Activity) -> contracts.OccurrenceState:
    details = activity.details
    return contracts.OccurrenceState(
        occurrence_id=occurrence.id,
        activity_id=activity.id,
        kind=activity.kind,
        continues=activity.continues,
        programmes=details.programmes,
        type_code=details.type_code,
        district=occurrence.district,
        venue_id=occurrence.venue_id,
        partner_ids=details.partner_ids,
        campaign=details.campaign,
        starts_at=occurrence.starts_at,
        ends_at=occurrence.ends_at,
        original_start=occurrence.original_start,
        capacity=occurrence.capacity,
        status=occurrence.status,
        cancel_reason=occurrence.cancel_reason,
        scheduled_at=occurrence.created_at or occurrence.updated_at,
        changed_at=occurrence.updated_at,
        cancelled_at=occurrence.cancelled_at,
    )


def activity_event(
    event_type: ActivityEventType, occurrence: Occurrence, activity: Activity, correlation_id: str | None
) -> contracts.IntegrationEvent:
    return event_type(
        organisation_id=occurrence.organisation_id,
        correlation_id=correlation_id,
        aggregate_id=str(occurrence.id),
        version=occurrence.version,
        payload=occurrence_state(occurrence, activity),
    )


def signup_event(
    event_type: SignupEventType, signup: Signup, occurrence: Occurrence, correlation_id: str | None
) -> contracts.IntegrationEvent:
    return event_type(
        organisation_id=signup.organisation_id,
        correlation_id=correlation_id,
        aggregate_id=str(signup.id),
        version=signup.version,
        payload=contracts.SignupState(
            signup_id=signup.id,
            occurrence_id=signup.occurrence_id,
            activity_id=occurrence.activity_id,
            participant_id=signup.participant_id,
            status=signup.status,
            arrival=signup.arrival,
            signed_up_at=signup.signed_up_at,
            confirmed_at=signup.confirmed_at,
            promoted_at=signup.promoted_at,
            cancelled_at=signup.cancelled_at,
            cancel_reason=signup.cancel_reason,
            cancelled_late=signup.cancelled_late,
            over_capacity=signup.over_capacity,
            occurrence_starts_at=occurrence.starts_at,
        ),
    )


def signup_erased(signup: Signup, now: datetime, correlation_id: str | None) -> contracts.SignupErased:
    return contracts.SignupErased(
        organisation_id=signup.organisation_id,
        correlation_id=correlation_id,
        aggregate_id=str(signup.id),
        version=signup.version + 1,
        payload=contracts.SignupErasedPayload(signup_id=signup.id, occurrence_id=signup.occurrence_id, erased_at=now),
    )


def attendance_event(
    sheet: AttendanceSheet, occurrence: Occurrence, activity: Activity, correlation_id: str | None
) -> contracts.AttendanceRecorded:
    details = activity.details
    return contracts.AttendanceRecorded(
        organisation_id=occurrence.organisation_id,
        correlation_id=correlation_id,
        aggregate_id=str(occurrence.id),
        version=occurrence.version,
        payload=contracts.AttendanceState(
            occurrence_id=occurrence.id,
            activity_id=activity.id,
            programmes=details.programmes,
            type_code=details.type_code,
            district=occurrence.district,
            venue_id=occurrence.venue_id,
            starts_at=occurrence.starts_at,
            status=occurrence.status,
            check_ins=tuple(
                contracts.CheckInState(
                    participant_id=c.participant_id,
                    outcome=c.outcome,
                    role=c.role,
                    gender=c.gender,
                    recorded_at=c.recorded_at,
                )
                for c in sheet.check_ins
            ),
            anonymous=tuple(
                contracts.AnonymousAttendance(outcome=a.outcome, role=a.role, gender=a.gender, count=a.count)
                for a in sheet.anonymous
            ),
            walk_ins=tuple(contracts.WalkInCount(role=w.role, gender=w.gender, count=w.count) for w in sheet.walk_ins),
            campaign_signups=tuple(
                contracts.CampaignSignupCount(campaign=c.campaign, count=c.count) for c in sheet.campaign_signups
            ),
            recorded_at=occurrence.updated_at,
        ),
    )
