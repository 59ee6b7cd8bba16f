"""A synthetic language-friend programme, built straight into matching's column pools.

Distributions follow the seeds (Linköping 2019: 199 newcomers of whom 45 % women, 89 volunteers of whom
73 % women) and common sense where they say nothing:
- districts: one per ~120 participants per side, on a grid whose cells neighbour up to 8 others;
  newcomers concentrate in some districts (like Skäggetorp), volunteers in others (log-normal weights);
- languages: newcomers speak one of Arabic, Dari, Tigrinya, Somali, Ukrainian, Persian, Kurdish, ...
  and often English or French; volunteers speak Swedish, mostly English, some a heritage language;
- interests: 24 codes, each person 1-4 by popularity (Zipf);
- availability: 2-6 of the 21 weekly slots; newcomers lean to daytime (SFI hours end at noon),
  volunteers to evenings and weekends;
- wishes: a quarter of newcomers and a tenth of volunteers want a same-gender friend, a fifth an age range;
- capacity: one newcomer for 65 % of volunteers, two for 25 %, three for 10 %;
- waiting: exponential, mean 60 days, registration up to 400 days ago;
- past pairs: 3 % of newcomers have one volunteer of their own district they may never be proposed with
  again (a coordinator forbade it, or they were a pair that ended).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from sprakvan_matching.domain.model import GENDERS, Candidate, ParticipantStatus, Role, Wishes, slot_of
from sprakvan_matching.domain.pool import NO_AGE_MAX, NO_AGE_MIN, Pool, gender_bits

YEAR = 2026
NEWCOMER_LANGUAGES = {
    "ar": 0.30,
    "prs": 0.11,
    "ti": 0.10,
    "so": 0.10,
    "uk": 0.12,
    "fa": 0.08,
    "ku": 0.07,
    "am": 0.03,
    "ps": 0.03,
    "tr": 0.03,
    "ru": 0.03,
}
EXTRA_LANGUAGES = {"en": 0.7, "fr": 0.15, "de": 0.05, "es": 0.05, "it": 0.05}
INTERESTS = 24
PER_DISTRICT = 120
PAST_PAIR_SHARE = 0.03


@dataclass(frozen=True)
class Programme:
    newcomers: Pool
    established: Pool
    neighbours: np.ndarray  # D x D bool
    districts: int
    forbidden: tuple[np.ndarray, np.ndarray]  # (newcomer rows, volunteer rows) never to propose


def _grid_neighbours(districts: int) -> np.ndarray:
    side = int(np.ceil(np.sqrt(districts)))
    cells = np.arange(districts)
    x, y = cells % side, cells // side
    near = (np.abs(x[:, None] - x[None, :]) <= 1) & (np.abs(y[:, None] - y[None, :]) <= 1)
    np.fill_diagonal(near, False)
    return near


def _language_bits(rng, n: int, newcomer: bool, codes: list[str]) -> np.ndarray:
    bit = {code: np.uint64(1) << np.uint64(i) for i, code in enumerate(codes)}
    masks = np.zeros(n, dtype=np.uint64)
    heritage = list(NEWCOMER_LANGUAGES)
    weights = np.array(list(NEWCOMER_LANGUAGES.values()))
    primary = rng.choice(len(heritage), size=n, p=weights / weights.sum())
    has_heritage = np.ones(n, bool) if newcomer else rng.random(n) < 0.15
    for i, code in enumerate(heritage):
        masks[(primary == i) & has_heritage] |= bit[code]
    for code, share in EXTRA_LANGUAGES.items():
        share = share * (0.6 if newcomer else 1.2)
        masks[rng.random(n) < share] |= bit[code]
    return masks


def _interest_bits(rng, n: int) -> np.ndarray:
    popularity = 1 / np.arange(1, INTERESTS + 1)
    popularity /= popularity.sum()
    masks = np.zeros(n, dtype=np.uint64)
    count = rng.integers(1, 5, size=n)
    for round_ in range(4):
        picked = rng.choice(INTERESTS, size=n, p=popularity).astype(np.uint64)
        masks[count > round_] |= np.uint64(1) << picked[count > round_]
    return masks


def _availability_bits(rng, n: int, newcomer: bool) -> np.ndarray:
    weekday = np.arange(21) // 3
    part = np.arange(21) % 3
    if newcomer:
        weight = np.where(part == 1, 3.0, np.where(part == 0, 1.0, 1.5)) * np.where(weekday >= 5, 1.5, 1.0)
    else:
        weight = np.where(part == 2, 4.0, 1.0) * np.where(weekday >= 5, 3.0, 1.0)
    weight /= weight.sum()
    masks = np.zeros(n, dtype=np.uint32)
    count = rng.integers(2, 7, size=n)
    for round_ in range(6):
        picked = rng.choice(21, size=n, p=weight).astype(np.uint32)
        masks[count > round_] |= np.uint32(1) << picked[count > round_]
    return masks


def _side(rng, n: int, districts: int, newcomer: bool) -> Pool:
    if newcomer:
        gender = rng.choice(4, size=n, p=[0.45, 0.53, 0.01, 0.01]).astype(np.int8)
        age = np.clip(rng.normal(33, 10, n), 18, 75).astype(np.int16)
        same = rng.random(n) < np.where(gender == 0, 0.40, 0.12)
        capacity = np.ones(n, np.int16)
    else:
        gender = rng.choice(4, size=n, p=[0.73, 0.25, 0.01, 0.01]).astype(np.int8)
        retired = rng.random(n) < 0.4
        age = np.where(retired, rng.normal(68, 6, n), rng.normal(38, 12, n))
        age = np.clip(age, 19, 88).astype(np.int16)
        same = rng.random(n) < 0.10
        capacity = rng.choice([1, 2, 3], size=n, p=[0.65, 0.25, 0.10]).astype(np.int16)
    wants_range = rng.random(n) < 0.2
    age_min = np.where(wants_range, np.maximum(18, age - rng.integers(8, 20, n)), NO_AGE_MIN).astype(np.int16)
    age_max = np.where(wants_range, age + rng.integers(10, 30, n), NO_AGE_MAX).astype(np.int16)
    weights = rng.lognormal(0, 0.8, districts)
    district = rng.choice(districts, size=n, p=weights / weights.sum()).astype(np.int32)
    codes = sorted({*NEWCOMER_LANGUAGES, *EXTRA_LANGUAGES})
    return Pool(
        ids=tuple(range(n)),
        gender=gender,
        gender_bits=gender_bits(gender, same, newcomer_side=newcomer),
        birth_year=(YEAR - age).astype(np.int16),
        age_min=age_min,
        age_max=age_max,
        district=district,
        languages=_language_bits(rng, n, newcomer, codes),
        interests=_interest_bits(rng, n),
        availability=_availability_bits(rng, n, newcomer),
        capacity=capacity,
        waiting_days=np.minimum(rng.exponential(60, n), 400).astype(np.int32),
    )


def _past_pairs(rng, newcomers: Pool, established: Pool, districts: int) -> tuple[np.ndarray, np.ndarray]:
    """A volunteer of the same district for a share of newcomers (none where the district has none)."""
    rows = np.flatnonzero(rng.random(len(newcomers)) < PAST_PAIR_SHARE)
    by_district = np.argsort(established.district, kind="stable")
    bounds = np.searchsorted(established.district[by_district], np.arange(districts + 1))
    low, high = bounds[newcomers.district[rows]], bounds[newcomers.district[rows] + 1]
    has = high > low
    rows, low, high = rows[has], low[has], high[has]
    cols = by_district[low + (rng.random(len(rows)) * (high - low)).astype(np.int64)]
    return rows.astype(np.int64), cols.astype(np.int64)


def programme(per_side: int, seed: int = 2026) -> Programme:
    rng = np.random.default_rng(seed)
    districts = max(8, per_side // PER_DISTRICT)
    newcomers = _side(rng, per_side, districts, newcomer=True)
    established = _side(rng, per_side, districts, newcomer=False)
    return Programme(
        newcomers=newcomers,
        established=established,
        neighbours=_grid_neighbours(districts),
        districts=districts,
        forbidden=_past_pairs(rng, newcomers, established, districts),
    )


def participant_id(row: int, role: Role) -> uuid.UUID:
    return uuid.UUID(int=(row << 1) | (role is Role.ESTABLISHED))


def forbidden_ids(synthetic: Programme) -> set[tuple[uuid.UUID, uuid.UUID]]:
    rows, cols = synthetic.forbidden
    return {
        (participant_id(i, Role.NEWCOMER), participant_id(j, Role.ESTABLISHED))
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
    }


def as_candidates(synthetic: Programme, *, today: date) -> tuple[list[Candidate], list[Candidate]]:
    """The same programme as matching's Candidate objects, for timing a whole round (pools, explanations)."""
    codes = sorted({*NEWCOMER_LANGUAGES, *EXTRA_LANGUAGES})
    slots = [slot_of(i) for i in range(21)]

    def side(pool: Pool, role: Role) -> list[Candidate]:
        people = []
        for i in range(len(pool)):
            languages, interests, available = int(pool.languages[i]), int(pool.interests[i]), int(pool.availability[i])
            low, high = int(pool.age_min[i]), int(pool.age_max[i])
            people.append(
                Candidate(
                    participant_id=participant_id(i, role),
                    organisation_id="bench",
                    programme="sprakvan",
                    role=role,
                    status=ParticipantStatus.INTERVIEWED,
                    gender=GENDERS[pool.gender[i]],
                    birth_year=int(pool.birth_year[i]),
                    district=f"d{pool.district[i]}",
                    registered_at=datetime.combine(today - timedelta(days=int(pool.waiting_days[i])), time(12), UTC),
                    languages=frozenset(c for b, c in enumerate(codes) if languages >> b & 1),
                    interests=frozenset(f"i{b}" for b in range(INTERESTS) if interests >> b & 1),
                    availability=frozenset(slots[b] for b in range(21) if available >> b & 1),
                    wishes=Wishes(
                        same_gender=bool(pool.gender_bits[i] & (pool.gender_bits[i] - 1) == 0),
                        age_min=None if low == NO_AGE_MIN else low,
                        age_max=None if high == NO_AGE_MAX else high,
                    ),
                    capacity=int(pool.capacity[i]),
                    interviewed_on=today,
                )
            )
        return people

    return side(synthetic.newcomers, Role.NEWCOMER), side(synthetic.established, Role.ESTABLISHED)


def neighbour_codes(synthetic: Programme) -> dict[str, frozenset[str]]:
    return {f"d{d}": frozenset(f"d{x}" for x in np.flatnonzero(row)) for d, row in enumerate(synthetic.neighbours)}
