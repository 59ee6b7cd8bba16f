"""Random but reproducible candidates for the matching tests."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
from scipy.optimize import linear_sum_assignment

from sprakvan_matching.domain.candidates import CandidateGraph
from sprakvan_matching.domain.model import (
    GENDERS,
    PARTS_OF_DAY,
    WEEKDAYS,
    Candidate,
    ParticipantStatus,
    Role,
    Wishes,
)

TODAY = date(2026, 12, 1)
DISTRICTS = ("skaggetorp", "ryd", "innerstaden", "lambohov", "berga", "ekholmen")
NEIGHBOURS = {
    "skaggetorp": frozenset({"innerstaden"}),
    "ryd": frozenset({"lambohov", "innerstaden"}),
    "berga": frozenset({"ekholmen"}),
}
LANGUAGES = ("ar", "fa", "ti", "so", "uk", "en", "sv")
INTERESTS = ("football", "cooking", "music", "walks", "crafts", "chess")


def candidate(rng: random.Random, role: Role, **overrides: object) -> Candidate:
    fields: dict[str, object] = dict(
        participant_id=uuid.UUID(int=rng.getrandbits(128)),
        organisation_id="linkoping",
        programme="sprakvan",
        role=role,
        status=ParticipantStatus.INTERVIEWED,
        gender=rng.choice(GENDERS),
        birth_year=rng.randint(1950, 2006),
        district=rng.choice(DISTRICTS),
        registered_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 320)),
        languages=frozenset(rng.sample(LANGUAGES, rng.randint(1, 3))),
        interests=frozenset(rng.sample(INTERESTS, rng.randint(0, 3))),
        availability=frozenset((rng.choice(WEEKDAYS), rng.choice(PARTS_OF_DAY)) for _ in range(rng.randint(1, 6))),
        wishes=_wishes(rng),
        capacity=rng.randint(1, 3) if role is Role.ESTABLISHED else 1,
        interviewed_on=TODAY - timedelta(days=3),
    )
    fields.update(overrides)
    return Candidate(**fields)


def _wishes(rng: random.Random) -> Wishes:
    low = rng.choice([None, None, None, 20, 30, 40])
    high = rng.choice([None, None, None, 50, 65])
    return Wishes(same_gender=rng.random() < 0.25, age_min=low, age_max=high)


def people(seed: int, newcomers: int, established: int) -> tuple[list[Candidate], list[Candidate]]:
    rng = random.Random(seed)
    return (
        [candidate(rng, Role.NEWCOMER) for _ in range(newcomers)],
        [candidate(rng, Role.ESTABLISHED) for _ in range(established)],
    )


def exact_optimum(graph: CandidateGraph, bonus: np.ndarray, capacity: np.ndarray) -> int:
    """The reference: scipy's assignment on capacities expanded into slots plus one dummy column per newcomer."""
    n, m = len(bonus), len(capacity)
    slot_owner = np.repeat(np.arange(m), capacity)
    columns = len(slot_owner) + n
    forbidden = 10**12
    cost = np.full((n, columns), forbidden, dtype=np.int64)
    value = np.full((n, m), -1, dtype=np.int64)
    value[graph.newcomer, graph.established] = graph.score.astype(np.int64) + bonus[graph.newcomer]
    feasible = value >= 0
    cost[:, : len(slot_owner)] = np.where(feasible[:, slot_owner], -value[:, slot_owner], forbidden)
    cost[np.arange(n), len(slot_owner) + np.arange(n)] = 0  # staying unmatched gains nothing
    rows, cols = linear_sum_assignment(cost)
    return int(-cost[rows, cols].sum())
