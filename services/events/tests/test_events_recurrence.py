"""Recurrence in Europe/Stockholm: local time kept across DST, skipped times never stored, validation."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest

from sprakvan_events.domain.model import InvalidInput, occurrence_id
from sprakvan_events.domain.recurrence import LOCAL, Schedule, exists_locally, local_instant

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2028, 1, 1, tzinfo=UTC)


def local(slot_time: datetime) -> datetime:
    return slot_time.astimezone(LOCAL)


def test_weekly_series_keeps_its_local_time_across_october_and_march() -> None:
    # Skäggetorp: every Monday and Wednesday 18:00-20:00, from September to June.
    schedule = Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=WEEKLY;BYDAY=MO,WE", until=date(2027, 6, 30))
    slots = schedule.slots_between(YEAR_START, YEAR_END)

    assert {(local(s.starts_at).hour, local(s.starts_at).minute) for s in slots} == {(18, 0)}
    assert {(local(s.ends_at).hour, local(s.ends_at).minute) for s in slots} == {(20, 0)}
    # Both changes are crossed: summer time (+02) before October 25, winter (+01), then summer after March 28.
    offsets = [local(s.starts_at).utcoffset() for s in slots]
    assert offsets[0] == timedelta(hours=2) and timedelta(hours=1) in offsets and offsets[-1] == timedelta(hours=2)
    before, after = (s for s in slots if date(2026, 10, 21) <= local(s.starts_at).date() <= date(2026, 10, 26))
    assert after.starts_at - before.starts_at == timedelta(days=5, hours=1)  # the night was an hour longer
    assert {local(s.starts_at).weekday() for s in slots} == {0, 2}
    assert local(slots[-1].starts_at).date() == date(2027, 6, 30)


def test_a_rule_at_0230_reads_the_spring_forward_night_as_0330_and_never_stores_a_missing_time() -> None:
    schedule = Schedule(date(2027, 3, 7), time(2, 30), time(3, 30), "FREQ=WEEKLY;BYDAY=SU", count=6)
    assert schedule.check() == []
    slots = schedule.slots_between(YEAR_START, YEAR_END)
    starts = {local(s.starts_at).date(): local(s.starts_at).time() for s in slots}

    assert starts[date(2027, 3, 21)] == time(2, 30)
    assert starts[date(2027, 3, 28)] == time(3, 30)  # RFC 5545 3.3.5: the offset before the gap
    assert starts[date(2027, 4, 4)] == time(2, 30)
    for slot in slots:
        wall = local(slot.starts_at).replace(tzinfo=None)
        assert exists_locally(wall)
        assert slot.ends_at > slot.starts_at


def test_a_series_whose_first_occurrence_is_in_the_skipped_hour_is_refused() -> None:
    errors = Schedule(date(2027, 3, 28), time(2, 30), time(4), "FREQ=WEEKLY;BYDAY=SU").check()
    assert [e.field for e in errors] == [("starts",)]
    assert "does not exist" in errors[0].message


def test_a_one_off_at_a_missing_time_is_refused_and_the_october_repeat_is_its_first_instant() -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        local_instant(datetime(2027, 3, 28, 2, 30), "starts_at")
    repeated = local_instant(datetime(2026, 10, 25, 2, 30))
    assert repeated.astimezone(LOCAL).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("schedule", "field", "reason"),
    [
        (Schedule(date(2026, 9, 7), time(20), time(18), "FREQ=WEEKLY;BYDAY=MO"), ("ends",), "ends before"),
        (
            Schedule(date(2026, 9, 8), time(18), time(20), "FREQ=WEEKLY;BYDAY=MO", until=date(2026, 9, 13)),
            ("rule",),
            "no occurrence",
        ),
        (
            Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=WEEKLY", until=date(2026, 9, 1)),
            ("until",),
            "before the first",
        ),
        (Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=MINUTELY"), ("rule",), "FREQ must be"),
        (Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=WEEKLY;BYDAY=XX"), ("rule",), "not an RFC 5545"),
        (Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=WEEKLY;UNTIL=20261231"), ("rule",), "given as until"),
        (Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=DAILY;BYHOUR=9,18"), ("rule",), "time of day"),
        (Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=WEEKLY", count=5000), ("count",), "count is"),
    ],
)
def test_bad_schedules_are_refused_with_the_field_and_reason(schedule: Schedule, field: tuple, reason: str) -> None:
    errors = schedule.check()
    assert any(e.field == field and reason in e.message for e in errors), errors


def test_cut_before_keeps_exactly_the_earlier_occurrences() -> None:
    schedule = Schedule(date(2026, 9, 7), time(18), time(20), "FREQ=WEEKLY;BYDAY=MO", count=10)
    all_slots = schedule.slots_between(YEAR_START, YEAR_END)
    cut = schedule.cut_before(date(2026, 10, 5))
    kept = cut.slots_between(YEAR_START, YEAR_END)
    assert [s.starts_at for s in kept] == [s.starts_at for s in all_slots[:4]]
    assert cut.cut_before(date(2026, 9, 1)).slots_between(YEAR_START, YEAR_END) == []


def test_occurrence_ids_are_stable_and_distinct() -> None:
    series = uuid.uuid4()
    a = datetime(2026, 9, 7, 16, tzinfo=UTC)
    assert occurrence_id(series, a) == occurrence_id(series, a.astimezone(LOCAL))
    assert occurrence_id(series, a) != occurrence_id(series, a + timedelta(days=7))
    assert occurrence_id(series, a) != occurrence_id(uuid.uuid4(), a)
