"""Candidates as columns of numpy arrays, the shape the vectorised candidate generation works on.

Sets become bit masks: weekly slots (21 bits), languages and interests (64 bits each, codes spoken or
liked on both sides only, since the others can never be shared), and the gender wishes of both sides as
16 bits whose AND is non-zero exactly when each side accepts the other (see ``gender_bits``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from .model import GENDERS, SLOT_INDEX, SWEDISH, Candidate

MASK_BITS = 64
GENDER_INDEX = {code: i for i, code in enumerate(GENDERS)}
SLOT_BIT = {slot: 1 << i for slot, i in SLOT_INDEX.items()}
NO_AGE_MIN = 0
NO_AGE_MAX = 1000


def gender_bits(gender: np.ndarray, same_gender: np.ndarray, *, newcomer_side: bool) -> np.ndarray:
    """Bit ``4*g_newcomer + g_established`` of the 16 stands for one pairing of genders.

    A newcomer sets the bits (own gender, each gender they accept), an established resident the bits
    (each gender they accept, own gender): the AND of the two is non-zero iff both accept the other.
    """
    g = gender.astype(np.uint16)
    shift = 4 * g if newcomer_side else g
    step = 1 if newcomer_side else 4
    every = np.zeros_like(g)
    for other in range(len(GENDERS)):
        every |= np.uint16(1) << (shift + np.uint16(step * other))
    only_own = np.uint16(1) << (4 * g + g)
    return np.where(same_gender, only_own, every).astype(np.uint16)


@dataclass(frozen=True)
class Vocabulary:
    districts: tuple[str, ...]
    languages: tuple[str, ...]
    interests: tuple[str, ...]

    @classmethod
    def build(
        cls, newcomers: Sequence[Candidate], established: Sequence[Candidate], districts: Sequence[str] = ()
    ) -> Vocabulary:
        everyone = [*newcomers, *established]
        known = list(dict.fromkeys([*districts, *sorted({c.district for c in everyone})]))
        return cls(
            districts=tuple(known),
            languages=_shared_codes([c.languages - {SWEDISH} for c in newcomers], [c.languages for c in established]),
            interests=_shared_codes([c.interests for c in newcomers], [c.interests for c in established]),
        )


def _shared_codes(left: list[frozenset[str]], right: list[frozenset[str]]) -> tuple[str, ...]:
    """Codes found on both sides, the 64 that could make the most pairs when there are more."""
    a, b = Counter(code for codes in left for code in codes), Counter(code for codes in right for code in codes)
    both = sorted(a.keys() & b.keys(), key=lambda code: (-a[code] * b[code], code))
    return tuple(sorted(both[:MASK_BITS]))


def _mask(codes: frozenset[str], index: dict[str, int]) -> int:
    bits = 0
    for code in codes:
        if code in index:
            bits |= 1 << index[code]
    return bits


@dataclass(frozen=True)
class Pool:
    """One side of a round; row ``i`` is ``ids[i]``. ``capacity`` counts free places."""

    ids: tuple
    gender: np.ndarray  # int8 index into GENDERS
    gender_bits: np.ndarray  # uint16
    birth_year: np.ndarray  # int16
    age_min: np.ndarray  # int16, the wished partner age (NO_AGE_MIN when none)
    age_max: np.ndarray  # int16 (NO_AGE_MAX when none)
    district: np.ndarray  # int32 index into Vocabulary.districts
    languages: np.ndarray  # uint64
    interests: np.ndarray  # uint64
    availability: np.ndarray  # uint32
    capacity: np.ndarray  # int16
    waiting_days: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        candidates: Sequence[Candidate],
        vocabulary: Vocabulary,
        *,
        newcomer_side: bool,
        today: date,
        free_places: dict | None = None,
    ) -> Pool:
        """Rows in the order of ``candidates`` (sort them by id first for deterministic rounds)."""
        districts = {code: i for i, code in enumerate(vocabulary.districts)}
        languages = {code: i for i, code in enumerate(vocabulary.languages)}
        interests = {code: i for i, code in enumerate(vocabulary.interests)}
        gender = np.array([GENDER_INDEX[c.gender] for c in candidates], dtype=np.int8)
        same = np.array([c.wishes.same_gender for c in candidates], dtype=bool)
        places = free_places or {}
        return cls(
            ids=tuple(c.participant_id for c in candidates),
            gender=gender,
            gender_bits=gender_bits(gender, same, newcomer_side=newcomer_side),
            birth_year=np.array([c.birth_year for c in candidates], dtype=np.int16),
            age_min=np.array([_or(c.wishes.age_min, NO_AGE_MIN) for c in candidates], dtype=np.int16),
            age_max=np.array([_or(c.wishes.age_max, NO_AGE_MAX) for c in candidates], dtype=np.int16),
            district=np.array([districts[c.district] for c in candidates], dtype=np.int32),
            languages=np.array([_mask(c.languages, languages) for c in candidates], dtype=np.uint64),
            interests=np.array([_mask(c.interests, interests) for c in candidates], dtype=np.uint64),
            availability=np.array(
                [sum(SLOT_BIT[slot] for slot in c.availability) for c in candidates], dtype=np.uint32
            ),
            capacity=np.array([places.get(c.participant_id, c.capacity) for c in candidates], dtype=np.int16),
            waiting_days=np.array([c.waiting_days(today) for c in candidates], dtype=np.int32),
        )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def neighbour_matrix(vocabulary: Vocabulary, neighbours: dict[str, frozenset[str]]) -> np.ndarray:
    """Symmetric boolean D x D matrix of neighbouring districts (the diagonal is False: same is not neighbour)."""
    index = {code: i for i, code in enumerate(vocabulary.districts)}
    size = len(index)
    matrix = np.zeros((size, size), dtype=bool)
    for district, around in neighbours.items():
        if district not in index:
            continue
        for other in around:
            if other in index and other != district:
                matrix[index[district], index[other]] = matrix[index[other], index[district]] = True
    return matrix
