"""Pure sign-up, occurrence and attendance rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sprakvan_events.domain.attendance import AttendanceSheet, CampaignCount, CheckIn, Headcount, Outcome
from sprakvan_events.domain.model import (
    ActivityDetails,
    ActivityType,
    Conflict,
    InvalidInput,
    Occurrence,
    check_details,
)
from sprakvan_events.domain.signups import (
    KnownParticipant,
    ParticipantStanding,
    Signup,
    SignupCancelReason,
    SignupStatus,
    check_may_sign_up,
    place,
    to_promote,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def occurrence(capacity: int | None = 10, starts_in: timedelta = timedelta(days=2)) -> Occurrence:
    starts = NOW + starts_in
    return Occurrence(
        uuid.uuid4(), "linkoping", uuid.uuid4(), starts, starts + timedelta(hours=2), None, "berga", capacity
    )


def signup(arrival: int, status: SignupStatus = SignupStatus.WAITLISTED) -> Signup:
    return Signup(uuid.uuid4(), "linkoping", uuid.uuid4(), uuid.uuid4(), status, arrival, NOW)


def test_capacity_zero_is_closed_even_for_a_coordinator_override() -> None:
    with pytest.raises(Conflict, match="closed"):
        place(occurrence(0), 0, NOW)
    with pytest.raises(Conflict, match="closed"):
        place(occurrence(0), 0, NOW, over_capacity=True)


def test_full_occurrence_waitlists_unless_the_override_is_said() -> None:
    full = occurrence(2)
    assert place(full, 1, NOW) is SignupStatus.CONFIRMED
    assert place(full, 2, NOW) is SignupStatus.WAITLISTED
    assert place(full, 2, NOW, over_capacity=True) is SignupStatus.CONFIRMED
    assert place(occurrence(None), 500, NOW) is SignupStatus.CONFIRMED


def test_cancelled_and_past_occurrences_refuse_sign_up() -> None:
    with pytest.raises(Conflict, match="cancelled"):
        place(occurrence().cancel(NOW), 0, NOW)
    with pytest.raises(Conflict, match="over"):
        place(occurrence(starts_in=-timedelta(hours=3)), 0, NOW)


def test_promotion_takes_the_first_in_line_as_many_as_free_seats() -> None:
    waiting = [signup(3), signup(5), signup(9)]
    assert to_promote(occurrence(10), 9, waiting) == waiting[:1]
    assert to_promote(occurrence(10), 8, waiting) == waiting[:2]
    assert to_promote(occurrence(10), 10, waiting) == []
    assert to_promote(occurrence(10), 12, waiting) == []  # over-capacity confirmations take no seat back
    assert to_promote(occurrence(None), 50, waiting) == waiting
    assert to_promote(occurrence(10).cancel(NOW), 0, waiting) == []


def test_late_cancellation_is_marked_only_for_confirmed_participants_close_to_the_start() -> None:
    soon = NOW + timedelta(hours=5)
    confirmed = signup(1, SignupStatus.CONFIRMED)
    assert confirmed.cancel(NOW, SignupCancelReason.PARTICIPANT, soon).cancelled_late
    assert not confirmed.cancel(NOW, SignupCancelReason.PARTICIPANT, NOW + timedelta(days=3)).cancelled_late
    assert not confirmed.cancel(NOW, SignupCancelReason.OCCURRENCE_CANCELLED, soon).cancelled_late
    assert not signup(2).cancel(NOW, SignupCancelReason.PARTICIPANT, soon).cancelled_late
    with pytest.raises(Conflict):
        confirmed.cancel(NOW, SignupCancelReason.PARTICIPANT, soon).cancel(NOW, SignupCancelReason.PARTICIPANT, soon)


@pytest.mark.parametrize(
    ("participant", "programmes", "reason"),
    [
        (None, (), "unknown"),
        ("erased", (), "unknown"),
        ("withdrawn", (), "withdrawn"),
        ("registered", ("flyktingguide",), "not open"),
    ],
)
def test_who_may_not_sign_up(participant: str | None, programmes: tuple[str, ...], reason: str) -> None:
    known = None
    if participant:
        known = KnownParticipant(
            uuid.uuid4(), "linkoping", "newcomer", "woman", ParticipantStanding(participant), "vises"
        )
    with pytest.raises(Conflict, match=reason):
        check_may_sign_up(known, programmes)


def test_occurrence_changes_count_sequence_for_calendars_and_version_for_events() -> None:
    occ = occurrence()
    moved = occ.move(occ.starts_at + timedelta(days=1), occ.ends_at + timedelta(days=1), NOW)
    assert (moved.sequence, moved.version) == (1, 2)
    resized = moved.resize(20, NOW)
    assert (resized.sequence, resized.version) == (1, 3)
    cancelled = resized.cancel(NOW)
    assert cancelled.cancelled and (cancelled.sequence, cancelled.version) == (2, 4)
    assert cancelled.cancel(NOW) is cancelled
    with pytest.raises(InvalidInput, match="ends before"):
        occ.move(occ.starts_at, occ.starts_at - timedelta(minutes=1), NOW)
    with pytest.raises(InvalidInput, match="below zero"):
        occ.resize(-1, NOW)
    with pytest.raises(Conflict):
        cancelled.move(occ.starts_at, occ.ends_at, NOW)


def test_activity_details_check_type_capacity_and_place() -> None:
    custom = {"choir": ActivityType("choir", {"sv": "Kör"}, programme="vises")}
    base = ActivityDetails("Språkcafé", "language_cafe", None, "skaggetorp", 15)
    assert check_details(base, custom) == []
    bad = ActivityDetails(" ", "juggling", None, None, -1, programmes=("a", "a"))
    assert {e.field for e in check_details(bad, custom)} == {
        ("capacity",),
        ("title",),
        ("type_code",),
        ("programmes",),
        ("district",),
    }
    choir = ActivityDetails("Kör", "choir", None, "berga", 20, programmes=("vises",))
    assert check_details(choir, custom) == []
    open_to_all = ActivityDetails("Kör", "choir", None, "berga", 20)
    assert [e.field for e in check_details(open_to_all, custom)] == [("type_code",)]


def test_attendance_walk_ins_campaigns_and_erasure_keep_the_figures() -> None:
    occ = occurrence()
    someone, other = uuid.uuid4(), uuid.uuid4()
    sheet = AttendanceSheet(occ.id)
    sheet = sheet.check_in(occ, CheckIn(someone, Outcome.NO_SHOW, "newcomer", "woman", NOW))
    sheet = sheet.check_in(occ, CheckIn(someone, Outcome.CAME, "newcomer", "woman", NOW))  # corrected
    sheet = sheet.check_in(occ, CheckIn(other, Outcome.CAME, "established", "man", NOW))
    sheet = sheet.with_walk_ins(occ, [Headcount("newcomer", "woman", 4), Headcount("established", "man", 0)])
    sheet = sheet.with_campaign_signups(occ, [CampaignCount("tartkalas", 12)], frozenset({"tartkalas"}))
    before = sheet.totals()
    assert before == {"came": 2, "no_show": 0, "cancelled_late": 0, "walk_ins": 4, "campaign_signups": 12}

    erased = sheet.erase(someone)
    assert [c.participant_id for c in erased.check_ins] == [other]
    assert erased.totals() == before
    assert erased.erase(someone) == erased


def test_bad_headcounts_and_cancelled_occurrences_are_refused() -> None:
    occ = occurrence()
    with pytest.raises(InvalidInput) as bad:
        AttendanceSheet(occ.id).with_walk_ins(
            occ, [Headcount("alien", "woman", 1), Headcount("newcomer", "x", -2), Headcount("newcomer", "x", 1)]
        )
    assert {e.field for e in bad.value.errors} == {
        ("walk_ins", 0, "role"),
        ("walk_ins", 1, "gender"),
        ("walk_ins", 1, "count"),
        ("walk_ins", 2, "gender"),
        ("walk_ins", 2),
    }
    with pytest.raises(InvalidInput, match="unknown campaign"):
        AttendanceSheet(occ.id).with_campaign_signups(occ, [CampaignCount("nope", 1)], frozenset())
    with pytest.raises(Conflict, match="cancelled"):
        AttendanceSheet(occ.id).check_in(occ.cancel(NOW), CheckIn(uuid.uuid4(), Outcome.CAME, "newcomer", "man", NOW))


def test_every_built_in_type_has_swedish_and_english_labels() -> None:
    from sprakvan_events.domain.model import BUILT_IN_TYPES, BuiltInType

    assert set(BUILT_IN_TYPES) == {t.value for t in BuiltInType}
    assert all(set(t.labels) == {"sv", "en"} and t.programme is None for t in BUILT_IN_TYPES.values())
