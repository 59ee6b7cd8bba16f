"""The waiting list and the balance of newcomers to free volunteer places by district.

The balance tells a coordinator where to recruit: a district with twelve newcomers waiting and two free
places needs volunteers (or neighbours who can take them); one with places and nobody waiting does not.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from .model import Candidate, Role

AGE_BANDS = ((0, 25, "under_25"), (25, 35, "25_34"), (35, 50, "35_49"), (50, 65, "50_64"), (65, 200, "65_plus"))


def age_band(age: int) -> str:
    return next(code for low, high, code in AGE_BANDS if low <= age < high)


@dataclass(frozen=True, slots=True)
class Waiting:
    participant_id: uuid.UUID
    district: str
    gender: str
    age_band: str
    waiting_days: int
    interviewed: bool


@dataclass(frozen=True, slots=True)
class DistrictBalance:
    district: str
    newcomers_waiting: int
    free_places: int

    @property
    def newcomers_per_place(self) -> float | None:
        return round(self.newcomers_waiting / self.free_places, 2) if self.free_places else None

    @property
    def shortfall(self) -> int:
        """Volunteer places missing for everyone waiting here to be matched (0 when enough)."""
        return max(0, self.newcomers_waiting - self.free_places)


@dataclass(frozen=True)
class WaitingList:
    waiting: tuple[Waiting, ...]  # longest wait first
    by_district: Mapping[str, int]
    by_gender: Mapping[str, int]
    by_age_band: Mapping[str, int]
    balance: tuple[DistrictBalance, ...]  # largest shortfall first
    median_waiting_days: int | None


def waiting_list(
    candidates: Iterable[Candidate],
    *,
    paired_newcomers: set[uuid.UUID],
    open_pairs_by_volunteer: Mapping[uuid.UUID, int],
    today: date,
) -> WaitingList:
    """Newcomers still available and without an open pair, and each district's free volunteer places."""
    waiting: list[Waiting] = []
    places: Counter[str] = Counter()
    for c in candidates:
        if not c.available:
            continue
        if c.role is Role.NEWCOMER and c.participant_id not in paired_newcomers:
            waiting.append(
                Waiting(
                    c.participant_id,
                    c.district,
                    c.gender,
                    age_band(c.age_in(today.year)),
                    c.waiting_days(today),
                    c.interviewed_on is not None,
                )
            )
        elif c.role is Role.ESTABLISHED:
            places[c.district] += max(0, c.capacity - open_pairs_by_volunteer.get(c.participant_id, 0))
    waiting.sort(key=lambda w: (-w.waiting_days, str(w.participant_id)))
    by_district = Counter(w.district for w in waiting)
    balance = [DistrictBalance(d, by_district.get(d, 0), places.get(d, 0)) for d in sorted({*by_district, *places})]
    balance.sort(key=lambda b: (-b.shortfall, -b.newcomers_waiting, b.district))
    days = sorted(w.waiting_days for w in waiting)
    return WaitingList(
        waiting=tuple(waiting),
        by_district=dict(sorted(by_district.items())),
        by_gender=dict(sorted(Counter(w.gender for w in waiting).items())),
        by_age_band={code: n for _, _, code in AGE_BANDS if (n := sum(w.age_band == code for w in waiting))},
        balance=tuple(balance),
        median_waiting_days=days[len(days) // 2] if days else None,
    )
