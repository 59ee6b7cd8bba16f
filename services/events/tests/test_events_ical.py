"""The iCalendar feed, read back by standard parsers (icalendar and recurring-ical-events)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import icalendar
import recurring_ical_events

from sprakvan_events.adapters.ical import FeedEntry, render_feed
from sprakvan_events.domain.model import Occurrence, Venue, occurrence_id
from sprakvan_events.domain.recurrence import LOCAL, Schedule

NOW = datetime(2026, 9, 1, 8, tzinfo=UTC)
SERIES = uuid.UUID("3b0f1d5e-1111-4a43-9d1e-5b8f8a6b1e01")
VENUE = Venue(uuid.uuid4(), "linkoping", "Skäggetorps bibliotek", "skaggetorp", "Skäggetorps centrum 1")


def entries() -> list[FeedEntry]:
    schedule = Schedule(date(2026, 10, 5), time(18), time(20), "FREQ=WEEKLY;BYDAY=MO", until=date(2027, 4, 26))
    occurrences = [
        Occurrence(
            occurrence_id(SERIES, s.original_start),
            "linkoping",
            SERIES,
            s.starts_at,
            s.ends_at,
            VENUE.id,
            VENUE.district,
            15,
            original_start=s.original_start,
            updated_at=NOW,
        )
        for s in schedule.slots_between(NOW, NOW + timedelta(days=365))
    ]
    by_day = {o.starts_at.astimezone(LOCAL).date(): i for i, o in enumerate(occurrences)}
    # Christmas is cancelled; the café of 2 November moves to Tuesday 17:00.
    christmas = by_day[date(2026, 12, 28)]
    occurrences[christmas] = occurrences[christmas].cancel(NOW + timedelta(days=1))
    moved = by_day[date(2026, 11, 2)]
    new_start = datetime(2026, 11, 3, 17, tzinfo=LOCAL)
    occurrences[moved] = occurrences[moved].move(new_start, new_start + timedelta(hours=2), NOW + timedelta(days=2))
    return [FeedEntry(o, "Språkcafé Skäggetorp", "language_cafe", VENUE) for o in occurrences]


def expanded(feed: bytes, start: date, end: date) -> list[icalendar.Event]:
    return recurring_ical_events.of(icalendar.Calendar.from_ical(feed)).between(start, end)


def test_feed_parses_and_shows_the_moved_occurrence_at_its_new_time() -> None:
    feed = render_feed("Språkcafé Skäggetorp", entries())
    november = expanded(feed, date(2026, 11, 1), date(2026, 11, 8))
    assert len(november) == 1
    (moved,) = november
    assert moved.start == datetime(2026, 11, 3, 17, tzinfo=LOCAL)
    assert str(moved["DTSTART"].params["TZID"]) == "Europe/Stockholm"
    assert moved["SEQUENCE"] == 1
    assert moved["LOCATION"] == "Skäggetorps bibliotek, Skäggetorps centrum 1"


def test_feed_marks_the_cancelled_occurrence_cancelled_and_the_others_confirmed() -> None:
    feed = render_feed("Språkcafé Skäggetorp", entries())
    events = expanded(feed, date(2026, 12, 20), date(2027, 1, 10))
    status = {e.start.date(): str(e["STATUS"]) for e in events}
    assert status == {date(2026, 12, 21): "CONFIRMED", date(2026, 12, 28): "CANCELLED", date(2027, 1, 4): "CONFIRMED"}


def test_feed_keeps_local_time_across_dst_and_carries_a_vtimezone() -> None:
    calendar = icalendar.Calendar.from_ical(render_feed("x", entries()))
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Stockholm"]
    starts = [e.start for e in calendar.events if e.start.date() != date(2026, 11, 3)]
    assert {(s.hour, s.minute) for s in starts} == {(18, 0)}
    assert {s.utcoffset() for s in starts} == {timedelta(hours=1), timedelta(hours=2)}


def test_two_renderings_keep_uids_and_bytes() -> None:
    first, second = render_feed("x", entries()), render_feed("x", list(reversed(entries())))
    assert first == second
    uids = [str(e["UID"]) for e in icalendar.Calendar.from_ical(first).events]
    assert len(uids) == len(set(uids)) == 30
    assert all(uid.endswith("@events.sprakvan") for uid in uids)
