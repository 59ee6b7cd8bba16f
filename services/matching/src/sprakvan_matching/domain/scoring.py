"""The soft score of a pair, criterion by criterion, in integer centipoints.

Each criterion earns a share of its weight through a small lookup table indexed by a count (shared
languages, shared interests, shared time slots, years of age apart, district relation). The vectorised
candidate generation indexes the very same tables, so the score a proposal explains is the score the
solver optimised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from functools import cached_property
from typing import NamedTuple

import numpy as np

from .model import SLOT_INDEX, SWEDISH, Candidate
from .settings import LanguagePreference, ProgrammeSettings

SCALE = 100
"""Centipoints: the solver's costs are int64, so shares of a weight are rounded here, once."""

COUNT_CAP = 3
AGE_GAP_CAP = 30
"""Thirty years apart or more earns nothing for closeness in age."""


class DistrictRelation(IntEnum):
    OTHER = 0
    NEIGHBOUR = 1
    SAME = 2


def _points(weight: int, shares: list[float]) -> np.ndarray:
    return np.rint(np.asarray(shares) * weight * SCALE).astype(np.int32)


@dataclass(frozen=True)
class ScoreTables:
    languages: np.ndarray  # by shared languages besides Swedish, capped at COUNT_CAP
    interests: np.ndarray  # by shared interests, capped
    availability: np.ndarray  # by shared weekly slots, capped
    district: np.ndarray  # by DistrictRelation
    age: np.ndarray  # by years apart, capped at AGE_GAP_CAP
    pair: int
    waiting_full: int
    max_wait_days: int

    @classmethod
    def from_settings(cls, settings: ProgrammeSettings) -> ScoreTables:
        w = settings.weights
        if settings.language_preference is LanguagePreference.SHARED_LANGUAGE:
            language_shares = [0.0, 0.8, 1.0, 1.0]
        else:
            language_shares = [1.0, 0.0, 0.0, 0.0]
        thirds = [0.0, 1 / 3, 2 / 3, 1.0]
        return cls(
            languages=_points(w.languages, language_shares),
            interests=_points(w.interests, thirds),
            availability=_points(w.availability, thirds),
            district=_points(w.district, [0.0, 0.5, 1.0]),
            age=_points(w.age, [1 - gap / AGE_GAP_CAP for gap in range(AGE_GAP_CAP + 1)]),
            pair=w.pair * SCALE,
            waiting_full=w.waiting * SCALE,
            max_wait_days=settings.max_wait_days,
        )

    @cached_property
    def combined(self) -> np.ndarray:
        """Pair points plus every count-based criterion, indexed by ``gap << 6 | slots << 4 | languages << 2 |
        interests`` (see ``candidates.scores``); the district is added apart."""
        counts = np.arange(COUNT_CAP + 1)
        table = (
            self.age[:, None, None, None]
            + self.availability[counts][None, :, None, None]
            + self.languages[counts][None, None, :, None]
            + self.interests[counts][None, None, None, :]
            + self.pair
        )
        return table.reshape(-1).astype(np.int32)

    def waiting(self, days: np.ndarray) -> np.ndarray:
        """The bonus for matching a newcomer who has waited ``days``: the cost of leaving them unmatched."""
        share = np.minimum(np.maximum(days, 0), self.max_wait_days) / self.max_wait_days
        return np.rint(share * self.waiting_full).astype(np.int64)

    def waiting_one(self, days: int) -> int:
        """``waiting`` of one newcomer: the same float64 arithmetic and rounding (half to even), without
        numpy's cost per call (a round explains thousands of proposals)."""
        return round(min(max(days, 0), self.max_wait_days) / self.max_wait_days * self.waiting_full)


class Criterion(NamedTuple):
    """A named tuple rather than a frozen dataclass: a round makes seven per proposal, and a frozen
    dataclass took several times as long to build (measured: the breakdowns of a 10k round)."""

    code: str  # languages, interests, district, availability, age, pair, waiting
    points: int  # centipoints
    detail: dict[str, object]  # codes only: shared language and interest codes, slots, relation, years


@dataclass(frozen=True, slots=True)
class Breakdown:
    criteria: tuple[Criterion, ...]

    @property
    def total(self) -> int:
        """Everything the solver maximised for this pair, the newcomer's waiting bonus included."""
        return sum(c.points for c in self.criteria)

    def as_data(self) -> dict[str, object]:
        return {
            "total": self.total / SCALE,
            "criteria": [{"criterion": c.code, "points": c.points / SCALE, **c.detail} for c in self.criteria],
        }


def district_relation(a: str, b: str, neighbours: dict[str, frozenset[str]]) -> DistrictRelation:
    if a == b:
        return DistrictRelation.SAME
    if b in neighbours.get(a, ()) or a in neighbours.get(b, ()):
        return DistrictRelation.NEIGHBOUR
    return DistrictRelation.OTHER


def breakdown(
    newcomer: Candidate,
    established: Candidate,
    *,
    tables: ScoreTables,
    neighbours: dict[str, frozenset[str]],
    today: date,
) -> Breakdown:
    languages = sorted((newcomer.languages & established.languages) - {SWEDISH})
    interests = sorted(newcomer.interests & established.interests)
    slots = sorted(newcomer.availability & established.availability, key=SLOT_INDEX.__getitem__)
    relation = district_relation(newcomer.district, established.district, neighbours)
    gap = abs(newcomer.birth_year - established.birth_year)
    waited = newcomer.waiting_days(today)
    return Breakdown(
        (
            Criterion("languages", int(tables.languages[min(len(languages), COUNT_CAP)]), {"shared": languages}),
            Criterion("interests", int(tables.interests[min(len(interests), COUNT_CAP)]), {"shared": interests}),
            Criterion("district", int(tables.district[relation]), {"relation": relation.name.lower()}),
            Criterion(
                "availability",
                int(tables.availability[min(len(slots), COUNT_CAP)]),
                {"shared": [f"{d}_{p}" for d, p in slots]},
            ),
            Criterion("age", int(tables.age[min(gap, AGE_GAP_CAP)]), {"years_apart": gap}),
            Criterion("pair", tables.pair, {}),
            Criterion("waiting", tables.waiting_one(waited), {"days": waited}),
        )
    )
