"""Vectorised candidate generation: hard constraints as bit masks, the soft score from lookup tables, top-k.

No Python loop over pairs. Small rounds evaluate every newcomer against every volunteer. Large ones
evaluate each newcomer against every volunteer in its own and neighbouring districts (a district is a
walkable area: a programme grows by covering more districts, so this stays linear in its size), and a
newcomer with fewer than k feasible volunteers nearby is also evaluated against a fixed spread of
volunteers from the whole programme, so that districts short of volunteers can borrow from others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pool import Pool, gender_bits
from .scoring import AGE_GAP_CAP, COUNT_CAP, DistrictRelation, ScoreTables

INFEASIBLE = -1
DENSE_LIMIT = 4_000_000
"""Rounds with at most this many newcomer x volunteer pairs are evaluated in full."""
BLOCK_ELEMENTS = 1 << 21
"""Pairs evaluated at once: ~2M keeps every temporary array in the CPU caches' reach and under 20 MB."""
FAR_SAMPLE = 512


@dataclass(frozen=True)
class CandidateGraph:
    """Feasible pairs: newcomer row, volunteer row and score (centipoints, waiting bonus excluded)."""

    newcomer: np.ndarray  # int32
    established: np.ndarray  # int32
    score: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.score)


@dataclass(frozen=True)
class _Side:
    """One side's columns, gathered for a block of rows or columns."""

    gender_bits: np.ndarray
    birth_year: np.ndarray
    born_from: np.ndarray  # the partner's birth year must lie in [born_from, born_to]
    born_to: np.ndarray
    languages: np.ndarray
    interests: np.ndarray
    availability: np.ndarray
    accepts_all_genders: bool
    accepts_all_ages: bool

    @classmethod
    def of(cls, pool: Pool, rows: np.ndarray, year: int, all_gender_bits: np.ndarray) -> _Side:
        age_min, age_max = pool.age_min[rows].astype(np.int32), pool.age_max[rows].astype(np.int32)
        bits = pool.gender_bits[rows]
        return cls(
            gender_bits=bits,
            birth_year=pool.birth_year[rows],
            born_from=(year - age_max).astype(np.int16),
            born_to=(year - age_min).astype(np.int16),
            languages=pool.languages[rows],
            interests=pool.interests[rows],
            availability=pool.availability[rows],
            accepts_all_genders=bool(np.all(bits == all_gender_bits[rows])),
            accepts_all_ages=bool(np.all((age_min <= 0) & (age_max >= 200))),
        )


def _every_gender_bits(pool: Pool, newcomer_side: bool) -> np.ndarray:
    return gender_bits(pool.gender, np.zeros(len(pool), dtype=bool), newcomer_side=newcomer_side)


def evaluate(n: _Side, e: _Side, district_points: np.ndarray, tables: ScoreTables) -> np.ndarray:
    """Scores of rows x columns, INFEASIBLE where a hard constraint breaks. ``district_points``: (r|1, c)."""
    shared_slots = np.bitwise_count(n.availability[:, None] & e.availability[None, :])
    feasible = shared_slots > 0
    if not (n.accepts_all_genders and e.accepts_all_genders):
        feasible &= (n.gender_bits[:, None] & e.gender_bits[None, :]) != 0
    if not n.accepts_all_ages:
        feasible &= (e.birth_year[None, :] >= n.born_from[:, None]) & (e.birth_year[None, :] <= n.born_to[:, None])
    if not e.accepts_all_ages:
        feasible &= (n.birth_year[:, None] >= e.born_from[None, :]) & (n.birth_year[:, None] <= e.born_to[None, :])
    np.minimum(shared_slots, COUNT_CAP, out=shared_slots)
    score = tables.availability[shared_slots]
    score += district_points
    score += tables.pair
    shared = np.bitwise_count(n.languages[:, None] & e.languages[None, :])
    score += tables.languages[np.minimum(shared, COUNT_CAP, out=shared)]
    shared = np.bitwise_count(n.interests[:, None] & e.interests[None, :])
    score += tables.interests[np.minimum(shared, COUNT_CAP, out=shared)]
    gap = np.abs(n.birth_year[:, None] - e.birth_year[None, :])
    score += tables.age[np.minimum(gap, AGE_GAP_CAP, out=gap)]
    score[~feasible] = INFEASIBLE
    return score


def _top_k(score: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column positions of the k best feasible entries of each row (all feasible when fewer)."""
    if score.shape[1] > k:
        cols = np.argpartition(-score, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(score, cols, axis=1)
    else:
        cols = np.broadcast_to(np.arange(score.shape[1]), score.shape)
        best = score
    keep = best >= 0
    rows = np.broadcast_to(np.arange(score.shape[0])[:, None], cols.shape)
    return rows[keep], cols[keep]


class _Forbidden:
    """Pairs never to propose, as sorted keys ``newcomer * m + established``."""

    def __init__(self, newcomer: np.ndarray, established: np.ndarray, m: int) -> None:
        self.keys = np.sort(newcomer.astype(np.int64) * m + established.astype(np.int64))
        self.m = m

    def mask(self, score: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
        """Mark forbidden pairs of a block INFEASIBLE; ``rows`` must be ascending."""
        if not len(self.keys):
            return
        lo, hi = np.searchsorted(self.keys, [int(rows[0]) * self.m, (int(rows[-1]) + 1) * self.m])
        if lo == hi:
            return
        r, c = np.divmod(self.keys[lo:hi], self.m)
        row_at = np.minimum(np.searchsorted(rows, r), len(rows) - 1)
        col_order = np.argsort(cols, kind="stable")
        col_at = np.minimum(np.searchsorted(cols[col_order], c), len(cols) - 1)
        hit = (rows[row_at] == r) & (cols[col_order[col_at]] == c)
        score[row_at[hit], col_order[col_at[hit]]] = INFEASIBLE


def generate(
    newcomers: Pool,
    established: Pool,
    *,
    tables: ScoreTables,
    neighbours: np.ndarray,
    k: int,
    year: int,
    forbidden: tuple[np.ndarray, np.ndarray] = (np.empty(0, np.int64), np.empty(0, np.int64)),
    dense_limit: int = DENSE_LIMIT,
) -> CandidateGraph:
    """The k best feasible volunteers of every newcomer (volunteers without a free place never appear)."""
    n, m = len(newcomers), len(established)
    free = np.flatnonzero(established.capacity > 0).astype(np.int32)
    if n == 0 or len(free) == 0:
        empty = np.empty(0, np.int32)
        return CandidateGraph(empty, empty, empty)
    relation = neighbours.astype(np.int8) * np.int8(DistrictRelation.NEIGHBOUR)
    np.fill_diagonal(relation, DistrictRelation.SAME)
    district_points = tables.district[relation]  # D x D
    generator = _Generator(newcomers, established, tables, k, year, _Forbidden(*forbidden, m), district_points)
    if n * len(free) <= dense_limit:
        generator.add_all(np.arange(n, dtype=np.int32), free)
    else:
        generator.add_nearby(free, relation)
    return generator.graph()


class _Generator:
    def __init__(self, newcomers, established, tables, k, year, forbidden, district_points) -> None:
        self.newcomers, self.established, self.tables, self.k, self.year = newcomers, established, tables, k, year
        self.forbidden, self.district_points = forbidden, district_points
        self.every_n = _every_gender_bits(newcomers, True)
        self.every_e = _every_gender_bits(established, False)
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.overlapping = False  # whether a row was evaluated twice (nearby, then far)

    def _block(self, rows: np.ndarray, cols: np.ndarray, column_points: np.ndarray | None) -> int:
        """Evaluate rows x cols, keep each row's top k; return how many rows found fewer than k."""
        n_side = _Side.of(self.newcomers, rows, self.year, self.every_n)
        e_side = _Side.of(self.established, cols, self.year, self.every_e)
        if column_points is None:
            column_points = self.district_points[
                self.newcomers.district[rows][:, None], self.established.district[cols]
            ]
        score = evaluate(n_side, e_side, column_points, self.tables)
        self.forbidden.mask(score, rows, cols)
        r, c = _top_k(score, self.k)
        self.parts.append((rows[r], cols[c], score[r, c]))
        return np.bincount(r, minlength=len(rows)) < self.k

    def add_all(self, rows: np.ndarray, cols: np.ndarray) -> None:
        step = max(1, BLOCK_ELEMENTS // max(1, len(cols)))
        for start in range(0, len(rows), step):
            self._block(rows[start : start + step], cols, None)

    def add_nearby(self, free: np.ndarray, relation: np.ndarray) -> None:
        new_district = self.newcomers.district
        by_district = np.argsort(new_district, kind="stable").astype(np.int32)
        bounds = np.searchsorted(new_district[by_district], np.arange(relation.shape[0] + 1))
        free_district = self.established.district[free]
        free_by_district = free[np.argsort(free_district, kind="stable")]
        free_bounds = np.searchsorted(np.sort(free_district), np.arange(relation.shape[0] + 1))
        short: list[np.ndarray] = []
        for d in range(relation.shape[0]):
            rows = by_district[bounds[d] : bounds[d + 1]]
            if not len(rows):
                continue
            near = np.flatnonzero(relation[d])
            cols = np.concatenate([free_by_district[free_bounds[x] : free_bounds[x + 1]] for x in near])
            points = self.district_points[d, self.established.district[cols]][None, :]
            step = max(1, BLOCK_ELEMENTS // max(1, len(cols)))
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                if len(cols):
                    few = self._block(chunk, cols, points)
                    short.append(chunk[few])
                else:
                    short.append(chunk)
        self._add_far(np.concatenate(short) if short else np.empty(0, np.int32), free)

    def _add_far(self, rows: np.ndarray, free: np.ndarray) -> None:
        """Newcomers short of volunteers nearby also see an evenly spread sample of the whole programme."""
        if not len(rows):
            return
        sample = free[np.linspace(0, len(free) - 1, min(len(free), FAR_SAMPLE)).astype(np.int64)]
        sample = np.unique(sample)  # a few hundred values: cheap
        self.overlapping = True
        self.add_all(np.sort(rows), sample)

    def graph(self) -> CandidateGraph:
        if not self.parts:
            empty = np.empty(0, np.int32)
            return CandidateGraph(empty, empty, empty)
        newcomer = np.concatenate([p[0] for p in self.parts]).astype(np.int32)
        established = np.concatenate([p[1] for p in self.parts]).astype(np.int32)
        score = np.concatenate([p[2] for p in self.parts]).astype(np.int32)
        if not self.overlapping:
            return CandidateGraph(newcomer, established, score)
        return _deduplicate(newcomer, established, score, len(self.established))


def _deduplicate(newcomer: np.ndarray, established: np.ndarray, score: np.ndarray, m: int) -> CandidateGraph:
    """Sort by (newcomer, volunteer) and drop repeats with an adjacent-difference mask (np.unique is slow)."""
    keys = newcomer.astype(np.int64) * m + established
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    keep = order[first]
    return CandidateGraph(newcomer[keep], established[keep], score[keep])
