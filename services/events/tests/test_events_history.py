"""The rules of imported past facts (``domain/history.py``), pure: local times across daylight-saving
changes, dates without a time, and corrections of a meeting."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

from sprakvan_events.domain.history import Meeting, imported_occurrence, local_times, moment, revised_occurrence

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_meetings_keep_their_local_time_across_the_changes_and_refuse_a_time_that_never_was() -> None:
    winter = local_times(date(2024, 3, 4), time(18), time(20))
    summer = local_times(date(2024, 4, 1), time(18), time(20))
    assert [t.hour for t in (*winter, *summer)] == [17, 19, 16, 18]  # UTC: +01:00, then +02:00
    assert local_times(date(2024, 3, 31), time(2, 30), time(4))[0] == "starts"  # the clocks skip 02-03
    assert local_times(date(2024, 3, 31), time(1), time(2, 15))[0] == "ends"
    assert local_times(date(2024, 3, 4), time(20), time(18))[0] == "ends"
    assert local_times(date(2024, 3, 4), time(18), time(18))[0] == "ends"


def test_a_date_alone_is_noon_in_stockholm_and_a_datetime_keeps_its_offset() -> None:
    assert moment(date(2024, 3, 5)) == datetime(2024, 3, 5, 11, tzinfo=UTC)
    assert moment(date(2024, 7, 5)) == datetime(2024, 7, 5, 10, tzinfo=UTC)
    assert moment(datetime.fromisoformat("2024-03-05T09:00:00+01:00")) == datetime(2024, 3, 5, 8, tzinfo=UTC)


def test_an_imported_meeting_was_planned_by_its_start_and_a_correction_is_a_new_version() -> None:
    starts, ends = local_times(date(2024, 3, 4), time(18), time(20))
    told = Meeting(starts, ends, None, "skaggetorp", 12, cancelled=False)  # type: ignore[arg-type]
    held = imported_occurrence("linkoping", uuid.uuid4(), told, NOW)
    assert (held.created_at, held.updated_at, held.status.value, held.version) == (starts, NOW, "scheduled", 1)

    resized = revised_occurrence(held, Meeting(starts, ends, None, "skaggetorp", 15, False), NOW)  # type: ignore[arg-type]
    assert (resized.capacity, resized.version, resized.sequence) == (15, 2, 0)  # no calendar change
    cancelled = revised_occurrence(resized, Meeting(starts, ends, None, "skaggetorp", 15, True), NOW)  # type: ignore[arg-type]
    assert (cancelled.status.value, cancelled.cancelled_at, cancelled.version, cancelled.sequence) == (
        "cancelled", starts, 3, 1,
    )  # fmt: skip
    again = revised_occurrence(cancelled, Meeting(starts, ends, None, "skaggetorp", 15, False), NOW)  # type: ignore[arg-type]
    assert (again.status.value, again.cancelled_at, again.cancel_reason) == ("scheduled", None, None)
