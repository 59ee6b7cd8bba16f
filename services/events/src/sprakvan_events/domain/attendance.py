"""Attendance of one occurrence: check-ins of registered people, walk-in headcounts, campaign sign-ups.

Walk-ins are counted by role and gender only, without names. When a participant is erased, their
check-in becomes a count (outcome, role, gender) so that past attendance figures do not change.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sprakvan_shared.contracts.events import AttendanceOutcome as Outcome

from .model import Conflict, FieldError, InvalidInput, Occurrence

ROLES = ("newcomer", "established")
GENDERS = ("woman", "man", "non_binary", "undisclosed")
MAX_HEADCOUNT = 10_000


@dataclass(frozen=True)
class CheckIn:
    participant_id: uuid.UUID
    outcome: Outcome
    role: str
    gender: str
    recorded_at: datetime


@dataclass(frozen=True)
class Headcount:
    role: str
    gender: str
    count: int


@dataclass(frozen=True)
class AnonymousCount:
    """Check-ins of people since erased."""

    outcome: Outcome
    role: str
    gender: str
    count: int


@dataclass(frozen=True)
class CampaignCount:
    campaign: str
    count: int


@dataclass(frozen=True)
class AttendanceSheet:
    occurrence_id: uuid.UUID
    check_ins: tuple[CheckIn, ...] = ()
    walk_ins: tuple[Headcount, ...] = ()
    campaign_signups: tuple[CampaignCount, ...] = ()
    anonymous: tuple[AnonymousCount, ...] = ()
    # The version of the counts (walk-ins, campaign sign-ups) that a whole-table PUT sends as If-Match.
    # Check-ins and erasures leave it: they never make a volunteer's headcount table stale.
    counts_version: int = 1

    def check_in(self, occurrence: Occurrence, check_in: CheckIn) -> AttendanceSheet:
        """Record (or correct) one registered participant's outcome."""
        _require_held(occurrence)
        others = tuple(c for c in self.check_ins if c.participant_id != check_in.participant_id)
        return replace(self, check_ins=tuple(sorted((*others, check_in), key=lambda c: str(c.participant_id))))

    def with_walk_ins(self, occurrence: Occurrence, counts: Iterable[Headcount]) -> AttendanceSheet:
        """Replace the walk-in headcounts (the whole table: a retry gives the same result)."""
        _require_held(occurrence)
        counts = tuple(counts)
        errors: list[FieldError] = []
        seen: set[tuple[str, str]] = set()
        for index, count in enumerate(counts):
            if count.role not in ROLES:
                errors.append(FieldError(("walk_ins", index, "role"), f"role is one of {', '.join(ROLES)}"))
            if count.gender not in GENDERS:
                errors.append(FieldError(("walk_ins", index, "gender"), f"gender is one of {', '.join(GENDERS)}"))
            if not 0 <= count.count <= MAX_HEADCOUNT:
                errors.append(FieldError(("walk_ins", index, "count"), f"count is 0-{MAX_HEADCOUNT}"))
            if (count.role, count.gender) in seen:
                errors.append(FieldError(("walk_ins", index), "this role and gender are counted twice"))
            seen.add((count.role, count.gender))
        if errors:
            raise InvalidInput(errors)
        kept = tuple(sorted((c for c in counts if c.count), key=lambda c: (c.role, c.gender)))
        return replace(self, walk_ins=kept, counts_version=self.counts_version + 1)

    def with_walk_in_step(self, occurrence: Occurrence, role: str, gender: str, step: int) -> AttendanceSheet:
        """One more (or one fewer, never below zero) walk-in of this role and gender: what a counter's button
        at the door means, decided on the sheet as it is under the lock, so two phones never lose a step."""
        current = {(c.role, c.gender): c.count for c in self.walk_ins}
        current[(role, gender)] = max(0, current.get((role, gender), 0) + step)
        return self.with_walk_ins(occurrence, [Headcount(r, g, n) for (r, g), n in current.items() if n])

    def with_campaign_signups(
        self, occurrence: Occurrence, counts: Iterable[CampaignCount], known_campaigns: frozenset[str] | None
    ) -> AttendanceSheet:
        """Replace how many people signed up at this stand, per campaign code."""
        _require_held(occurrence)
        counts = tuple(counts)
        errors: list[FieldError] = []
        for index, count in enumerate(counts):
            if known_campaigns is not None and count.campaign not in known_campaigns:
                errors.append(FieldError(("campaign_signups", index, "campaign"), "unknown campaign code"))
            if not 0 <= count.count <= MAX_HEADCOUNT:
                errors.append(FieldError(("campaign_signups", index, "count"), f"count is 0-{MAX_HEADCOUNT}"))
        if len({c.campaign for c in counts}) != len(counts):
            errors.append(FieldError(("campaign_signups",), "a campaign is listed twice"))
        if errors:
            raise InvalidInput(errors)
        kept = tuple(sorted((c for c in counts if c.count), key=lambda c: c.campaign))
        return replace(self, campaign_signups=kept, counts_version=self.counts_version + 1)

    def erase(self, participant_id: uuid.UUID) -> AttendanceSheet:
        """Forget who; keep that someone of this role and gender came (or did not)."""
        gone = [c for c in self.check_ins if c.participant_id == participant_id]
        if not gone:
            return self
        totals = Counter({(a.outcome, a.role, a.gender): a.count for a in self.anonymous})
        for check_in in gone:
            totals[(check_in.outcome, check_in.role, check_in.gender)] += 1
        return replace(
            self,
            check_ins=tuple(c for c in self.check_ins if c.participant_id != participant_id),
            anonymous=tuple(AnonymousCount(o, r, g, n) for (o, r, g), n in sorted(totals.items())),
        )

    def totals(self) -> dict[str, int]:
        """Headline figures: registered people by outcome (erased ones included) and walk-ins."""
        result = Counter(c.outcome.value for c in self.check_ins)
        for a in self.anonymous:
            result[a.outcome.value] += a.count
        result["walk_ins"] = sum(c.count for c in self.walk_ins)
        result["campaign_signups"] = sum(c.count for c in self.campaign_signups)
        return {key: result.get(key, 0) for key in (*(o.value for o in Outcome), "walk_ins", "campaign_signups")}


def _require_held(occurrence: Occurrence) -> None:
    if occurrence.cancelled:
        raise Conflict("the occurrence is cancelled: there is no attendance to record")
