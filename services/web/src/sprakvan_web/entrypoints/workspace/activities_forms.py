"""The activities forms read and checked: a venue, a new series or one-off activity, moving an occurrence.

Each form keeps what was typed (``values``) and its problems by field, in the page's language; what only
the events service can judge (a rule without occurrences, a time that does not exist) comes back as its
422 and is shown beside the field it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import Any

from babel.dates import get_day_names
from starlette.datastructures import FormData

from . import WorkspaceRequest
from .activities_common import field, parse_day, parse_time, uuid_or_none

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _capacity(ws: WorkspaceRequest, text: str, problems: dict[str, str]) -> int | None:
    if not text:
        return None
    if not text.isdigit() or int(text) > 100_000:
        problems["capacity"] = ws.t.text("Enter the number of places as a whole number (0 closes sign-up)")
        return None
    return int(text)


@dataclass
class VenueForm:
    values: dict[str, str]
    problems: dict[str, str] = dc_field(default_factory=dict)

    SERVICE_FIELDS = {f: f for f in ("name", "district", "address", "capacity", "accessibility")}

    @classmethod
    def read(cls, ws: WorkspaceRequest, form: FormData) -> VenueForm:
        values = {
            "name": field(form, "name", 200),
            "district": field(form, "district", 40),
            "address": field(form, "address", 200),
            "capacity": field(form, "capacity", 10),
            "accessibility": field(form, "accessibility", 4000),
        }
        found = cls(values)
        if not values["name"]:
            found.problems["name"] = ws.t.text("Enter the venue's name")
        if not values["district"]:
            found.problems["district"] = ws.t.text("Choose the district")
        _capacity(ws, values["capacity"], found.problems)
        return found

    def body(self) -> dict[str, Any]:
        v = self.values
        capacity = int(v["capacity"]) if v["capacity"] else None
        return {
            "name": v["name"],
            "district": v["district"],
            "address": v["address"],
            "capacity": capacity,
            "accessibility": v["accessibility"],
        }


@dataclass
class ActivityForm:
    values: dict[str, Any]
    series: bool
    problems: dict[str, str] = dc_field(default_factory=dict)

    # The events service's field names (the last part of a 422's loc) -> the form's.
    SERVICE_FIELDS = {
        "title": "title",
        "type_code": "type_code",
        "venue_id": "venue_id",
        "district": "district",
        "capacity": "capacity",
        "programmes": "programmes",
        "campaign": "campaign",
        "first_day": "first_day",
        "until": "until",
        "rule": "weekdays",
        "starts": "starts",
        "ends": "ends",
        "starts_at": "starts",
        "ends_at": "ends",
        "schedule": "first_day",
    }

    @staticmethod
    def weekdays(ws: WorkspaceRequest) -> list[tuple[str, str]]:
        names = get_day_names("wide", locale=ws.t.babel)
        return [(code, names[i]) for i, code in enumerate(WEEKDAYS)]

    @classmethod
    def read(cls, ws: WorkspaceRequest, form: FormData, *, series: bool) -> ActivityForm:
        values: dict[str, Any] = {
            name: field(form, name, 200)
            for name in ("title", "type_code", "venue_id", "district", "capacity", "campaign", "starts", "ends")
        }
        values["description"] = field(form, "description", 4000)
        values["programmes"] = [str(p)[:40] for p in form.getlist("programmes")][:20]
        values["weekdays"] = [str(d) for d in form.getlist("weekdays") if d in WEEKDAYS]
        values["first_day"] = field(form, "first_day", 20)
        values["until"] = field(form, "until", 20)
        found = cls(values, series)
        p = found.problems
        if not values["title"]:
            p["title"] = ws.t.text("Enter a title")
        if not values["type_code"]:
            p["type_code"] = ws.t.text("Choose the type of activity")
        if values["venue_id"] and uuid_or_none(values["venue_id"]) is None:
            p["venue_id"] = ws.t.text("Choose a venue from the list")
        if not values["venue_id"] and not values["district"]:
            p["district"] = ws.t.text("Choose a venue or a district")
        _capacity(ws, values["capacity"], p)
        first, until = parse_day(values["first_day"]), parse_day(values["until"])
        if first is None:
            p["first_day"] = (
                ws.t.text("Enter the first day as a date, like 2027-01-18") if series else ws.t.text("Enter the day")
            )
        if series:
            if not values["weekdays"]:
                p["weekdays"] = ws.t.text("Choose at least one weekday")
            if until is None:
                p["until"] = ws.t.text("Enter the last day as a date, like 2027-06-14")
            elif first is not None and until < first:
                p["until"] = ws.t.text("The last day cannot be before the first day")
        starts, ends = parse_time(values["starts"]), parse_time(values["ends"])
        if starts is None:
            p["starts"] = ws.t.text("Enter the start time, like 18:00")
        if ends is None:
            p["ends"] = ws.t.text("Enter the end time, like 20:00")
        elif starts is not None and ends <= starts:
            p["ends"] = ws.t.text("The end time must be after the start time")
        return found

    def body(self) -> dict[str, Any]:
        v = self.values
        body: dict[str, Any] = {
            "title": v["title"],
            "type_code": v["type_code"],
            "venue_id": v["venue_id"] or None,
            "district": v["district"] or None,
            "capacity": int(v["capacity"]) if v["capacity"] else None,
            "programmes": v["programmes"],
            "description": v["description"],
        }
        if v["campaign"]:
            body["campaign"] = v["campaign"]
        starts, ends = parse_time(v["starts"]), parse_time(v["ends"])
        assert starts is not None and ends is not None
        if self.series:
            rule = "FREQ=WEEKLY;BYDAY=" + ",".join(d for d in WEEKDAYS if d in v["weekdays"])
            body["schedule"] = {
                "first_day": v["first_day"],
                "starts": starts.isoformat("minutes"),
                "ends": ends.isoformat("minutes"),
                "rule": rule,
                "until": v["until"],
            }
        else:
            day = parse_day(v["first_day"])
            assert day is not None
            body["starts_at"] = datetime.combine(day, starts).isoformat()
            body["ends_at"] = datetime.combine(day, ends).isoformat()
        return body


@dataclass
class MoveForm:
    """One occurrence to another day and time (a holiday), as local time."""

    values: dict[str, str]
    problems: dict[str, str] = dc_field(default_factory=dict)

    SERVICE_FIELDS = {"starts_at": "move_day", "ends_at": "move_ends"}

    @classmethod
    def read(cls, ws: WorkspaceRequest, form: FormData) -> MoveForm:
        values = {name: field(form, name, 20) for name in ("move_day", "move_starts", "move_ends")}
        found = cls(values)
        day, starts, ends = (
            parse_day(values["move_day"]),
            parse_time(values["move_starts"]),
            parse_time(values["move_ends"]),
        )
        if day is None:
            found.problems["move_day"] = ws.t.text("Enter the new day as a date, like 2027-01-18")
        if starts is None:
            found.problems["move_starts"] = ws.t.text("Enter the start time, like 18:00")
        if ends is None:
            found.problems["move_ends"] = ws.t.text("Enter the end time, like 20:00")
        elif starts is not None and ends <= starts:
            found.problems["move_ends"] = ws.t.text("The end time must be after the start time")
        return found

    def body(self) -> dict[str, str]:
        v = self.values
        day = parse_day(v["move_day"])
        starts, ends = parse_time(v["move_starts"]), parse_time(v["move_ends"])
        assert day is not None and starts is not None and ends is not None
        return {
            "starts_at": datetime.combine(day, starts).isoformat(),
            "ends_at": datetime.combine(day, ends).isoformat(),
        }
