"""iCalendar (RFC 5545) feeds a phone calendar can subscribe to.

One VEVENT per materialised occurrence, not an RRULE with overrides: every occurrence is a concrete row
already (moved, cancelled, with its own capacity), so no client has to understand RECURRENCE-ID or
RANGE=THISANDFUTURE, and splitting a series changes nothing a subscriber could misread.

Stable by construction: the UID is the occurrence id (derived from series and original start), SEQUENCE
counts its visible changes, DTSTAMP is its last change (a feed without METHOD uses DTSTAMP as
LAST-MODIFIED), and events are sorted: rendering the same rows twice gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date

import icalendar

from ..domain.model import Occurrence, Venue
from ..domain.recurrence import LOCAL

PRODID = "-//Sprakvan//Events//EN"
UID_DOMAIN = "events.sprakvan"


@dataclass(frozen=True)
class FeedEntry:
    occurrence: Occurrence
    title: str
    type_code: str
    venue: Venue | None = None
    description: str = ""


def occurrence_uid(entry: FeedEntry) -> str:
    return f"{entry.occurrence.id}@{UID_DOMAIN}"


def render_feed(name: str, entries: Iterable[FeedEntry]) -> bytes:
    entries = sorted(entries, key=lambda e: (e.occurrence.starts_at, str(e.occurrence.id)))
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", LOCAL.key)
    for entry in entries:
        calendar.add_component(_vevent(entry))
    if entries:
        first = entries[0].occurrence.starts_at.astimezone(LOCAL).year
        last = entries[-1].occurrence.ends_at.astimezone(LOCAL).year
        # Only the transitions the feed needs (the default writes every year from 1970 to 2038).
        calendar.add_missing_timezones(first_date=date(first - 1, 1, 1), last_date=date(last + 1, 12, 31))
    return calendar.to_ical()


def _vevent(entry: FeedEntry) -> icalendar.Event:
    occurrence = entry.occurrence
    event = icalendar.Event()
    event.add("uid", occurrence_uid(entry))
    stamp = occurrence.updated_at or occurrence.starts_at
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("last-modified", stamp.astimezone(UTC))
    event.add("sequence", occurrence.sequence)
    event.add("dtstart", occurrence.starts_at.astimezone(LOCAL))
    event.add("dtend", occurrence.ends_at.astimezone(LOCAL))
    event.add("summary", entry.title)
    event.add("categories", [entry.type_code])
    event.add("status", "CANCELLED" if occurrence.cancelled else "CONFIRMED")
    if entry.venue is not None:
        event.add("location", ", ".join(part for part in (entry.venue.name, entry.venue.address) if part))
    if entry.description:
        event.add("description", entry.description)
    if occurrence.original_start is not None and occurrence.moved:
        # Informational for people reading the raw feed; clients key on UID + SEQUENCE.
        event.add("x-sprakvan-original-start", occurrence.original_start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"))
    return event
