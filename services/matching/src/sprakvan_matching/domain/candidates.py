"""Vectorised candidate generation: hard constraints as bit masks, the soft score from lookup tables, top-k.

No Python loop over pairs. Small rounds evaluate every newcomer against every volunteer. Large ones
evaluate each newcomer against every volunteer in its own and neighbouring districts (a district is a
walkable area: a programme grows by covering more districts, so this stays linear in its size), and a
newcomer with fewer than k feasible volunteers nearby is also evaluated against a fixed spread of
volunteers from the whole programme, so that districts short of volunteers can borrow from others.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace

import numpy as np

from .pool import Pool, gender_bits
from .scoring import AGE_GAP_CAP, COUNT_CAP, DistrictRelation, ScoreTables

INFEASIBLE = -1
KEYED_INFEASIBLE = -(1 << 30)
"""A broken pair's entry in the score table (any negative score is infeasible)."""
DENSE_LIMIT = 4_000_000
"""Rounds with at most this many newcomer x volunteer pairs are evaluated in full."""
BLOCK_ELEMENTS = 1 << 21
"""Pairs evaluated at once: bounds each temporary array to a few MB whatever the round size."""
FAR_SAMPLE = 512
WORKERS = 2
"""Threads evaluating blocks side by side: numpy lets go of the GIL inside each operation on a block."""


@dataclass(frozen=True)
class CandidateGraph:
    """Feasible pairs: newcomer row, volunteer row and score (centipoints, waiting bonus excluded)."""

    newcomer: np.ndarray  # int32
    established: np.ndarray  # int32
    score: np.ndarray  # int32
    # Rows in the order of their districts, when known: numbering the solver's nodes this way keeps
    # neighbours close in memory (measured: a fifth less solver time at 100k per side).
    newcomer_order: np.ndarray | None = None
    established_order: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.score)


@dataclass(frozen=True)
class _Side:
    """One side's columns, for a whole pool or gathered for a block of its rows."""

    gender_bits: np.ndarray
    birth_year: np.ndarray
    born_from: np.ndarray  # the partner's birth year must lie in [born_from, born_to]
    born_to: np.ndarray
    languages: np.ndarray
    interests: np.ndarray
    availability: np.ndarray
    open_to_all: np.ndarray  # no gender wish and no age wish: the masks can be skipped for a block of them

    @classmethod
    def of_pool(cls, pool: Pool, year: int, newcomer_side: bool) -> _Side:
        every = gender_bits(pool.gender, np.zeros(len(pool), dtype=bool), newcomer_side=newcomer_side)
        age_min, age_max = pool.age_min.astype(np.int32), pool.age_max.astype(np.int32)
        return cls(
            gender_bits=pool.gender_bits,
            birth_year=pool.birth_year,
            born_from=np.clip(year - age_max, -32000, 32000).astype(np.int16),
            born_to=np.clip(year - age_min, -32000, 32000).astype(np.int16),
            languages=pool.languages,
            interests=pool.interests,
            availability=pool.availability,
            open_to_all=(pool.gender_bits == every) & (age_min <= 0) & (age_max >= 200),
        )

    def take(self, rows: np.ndarray) -> _Side:
        return _Side(*(getattr(self, f.name)[rows] for f in fields(self)))


def infeasibility(n: _Side, e: _Side) -> tuple[np.ndarray | None, np.ndarray]:
    """Rows x columns: whether the wishes (gender, age) of both allow the pair (None: nobody in the block
    has a wish), and the shared weekly slots (uint8). No shared slot breaks a pair too: ``scores`` tells it
    from the slot count, without a pass of its own."""
    shared_slots = np.bitwise_count(n.availability[:, None] & e.availability[None, :])
    if n.open_to_all.all() and e.open_to_all.all():
        return None, shared_slots
    allowed = (n.gender_bits[:, None] & e.gender_bits[None, :]) != 0
    allowed &= e.birth_year[None, :] >= n.born_from[:, None]
    allowed &= e.birth_year[None, :] <= n.born_to[:, None]
    allowed &= n.birth_year[:, None] >= e.born_from[None, :]
    allowed &= n.birth_year[:, None] <= e.born_to[None, :]
    return allowed, shared_slots


def keyed_table(tables: ScoreTables) -> np.ndarray:
    """``tables.combined`` where every key without a shared slot is infeasible: so far below zero that the
    district's points never lift it to zero."""
    table = tables.combined.reshape(AGE_GAP_CAP + 1, COUNT_CAP + 1, -1).copy()
    table[:, 0, :] = KEYED_INFEASIBLE
    return table.reshape(-1)


def scores(
    n: _Side,
    e: _Side,
    shared_slots: np.ndarray,
    district_points: np.ndarray,
    table: np.ndarray,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Rows x columns of centipoints, negative where a hard constraint breaks. ``district_points``: (rows or
    1, columns); ``table``: ``keyed_table``; ``allowed``: from ``infeasibility``.

    The counts of shared slots, languages and interests (each capped at 3) and the age gap (capped at 30)
    form one key into the table: one lookup instead of five, on small integer arrays. A pair not allowed
    gets key 0 (no shared slot): infeasible, without a masked pass over the scores.
    """
    key = np.minimum(shared_slots, COUNT_CAP, out=shared_slots)
    key <<= 2
    shared = np.bitwise_count(n.languages[:, None] & e.languages[None, :])
    key |= np.minimum(shared, COUNT_CAP, out=shared)
    key <<= 2
    shared = np.bitwise_count(n.interests[:, None] & e.interests[None, :])
    key |= np.minimum(shared, COUNT_CAP, out=shared)
    gap = np.abs(n.birth_year[:, None] - e.birth_year[None, :])
    np.minimum(gap, AGE_GAP_CAP, out=gap)
    gap <<= 6
    gap |= key
    if allowed is not None:
        gap *= allowed
    score = table[gap]
    score += district_points
    return score


def _narrow(side: _Side, languages: np.dtype, interests: np.dtype) -> _Side:
    return replace(side, languages=side.languages.astype(languages), interests=side.interests.astype(interests))


def _bits_dtype(*masks: np.ndarray) -> np.dtype:
    """The smallest unsigned type that holds every mask: a pair's AND and its bit count then move a half
    or a quarter of the bytes (both sides must have the same type)."""
    top = max((int(m.max()) for m in masks if len(m)), default=0)
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


class PhaseTimes(dict):
    """Seconds spent per phase of candidate generation (for the benchmark), summed over the threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def add(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        with self._lock:
            self[phase] = self.get(phase, 0.0) + now - since
        return now


def _top_k(score: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column positions of the k best feasible entries of each row (all feasible when fewer), each
    row's best first: the solver looks at a newcomer's arcs in this order, and finding the good ones
    first took it about a tenth less time at 100k per side, together with the solver's non-negative costs."""
    if score.shape[1] > k:
        cols = np.argpartition(-score, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(score, cols, axis=1)
    else:
        cols = np.broadcast_to(np.arange(score.shape[1]), score.shape)
        best = score
    order = np.argsort(-best, axis=1, kind="stable")
    cols, best = np.take_along_axis(cols, order, axis=1), np.take_along_axis(best, order, axis=1)
    keep = best >= 0
    rows = np.broadcast_to(np.arange(score.shape[0])[:, None], cols.shape)
    return rows[keep], cols[keep], best[keep]


class _Forbidden:
    """Pairs never to propose, as sorted keys ``newcomer * m + established``."""

    def __init__(self, newcomer: np.ndarray, established: np.ndarray, m: int) -> None:
        self.keys = unique(newcomer.astype(np.int64) * m + established.astype(np.int64))
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
    times: PhaseTimes | None = None,
    workers: int = WORKERS,
) -> CandidateGraph:
    """The k best feasible volunteers of every newcomer (volunteers without a free place never appear)."""
    n, m = len(newcomers), len(established)
    free = np.flatnonzero(established.capacity > 0).astype(np.int32)
    if n == 0 or len(free) == 0:
        empty = np.empty(0, np.int32)
        return CandidateGraph(empty, empty, empty)
    relation = neighbours.astype(np.int8) * np.int8(DistrictRelation.NEIGHBOUR)
    np.fill_diagonal(relation, DistrictRelation.SAME)
    generator = _Generator(newcomers, established, tables, k, year, _Forbidden(*forbidden, m), relation, times)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="candidates") as pool:
        generator.pool = pool
        if n * len(free) <= dense_limit:
            generator.add_all(np.arange(n, dtype=np.int32), free)
        else:
            generator.add_nearby(free)
    return generator.graph()


class _Generator:
    """Collects each block's k best per row; ``relation`` is the D x D DistrictRelation matrix."""

    def __init__(
        self,
        newcomers: Pool,
        established: Pool,
        tables: ScoreTables,
        k: int,
        year: int,
        forbidden: _Forbidden,
        relation: np.ndarray,
        times: PhaseTimes | None,
    ) -> None:
        self.newcomers, self.established, self.tables, self.k = newcomers, established, tables, k
        self.forbidden, self.relation, self.times = forbidden, relation, times
        self.district_points = tables.district[relation]  # D x D
        self.table = keyed_table(tables)
        new_side = _Side.of_pool(newcomers, year, newcomer_side=True)
        est_side = _Side.of_pool(established, year, newcomer_side=False)
        languages = _bits_dtype(new_side.languages, est_side.languages)
        interests = _bits_dtype(new_side.interests, est_side.interests)
        self.new_side = _narrow(new_side, languages, interests)
        self.est_side = _narrow(est_side, languages, interests)
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.orders: tuple[np.ndarray, np.ndarray] | None = None
        self.pool: ThreadPoolExecutor | None = None

    def _tick(self, phase: str, since: float) -> float:
        return self.times.add(phase, since) if self.times is not None else since

    def _blocks(self, tasks: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, bool]]) -> list[np.ndarray]:
        """Evaluate blocks (on the threads), keep their parts in task order; each block's short rows."""
        if self.pool is not None and len(tasks) > 1:
            results = list(self.pool.map(lambda task: self._block(*task), tasks))
        else:
            results = [self._block(*task) for task in tasks]
        self.parts.extend(part for part, _ in results)
        return [few for _, few in results]

    def _block(
        self, rows: np.ndarray, cols: np.ndarray, points: np.ndarray | None, far: bool = False
    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
        """Evaluate rows x cols and keep each row's k best; also say which rows found fewer than k.

        ``points``: the district points of the columns when all rows share a district, else looked up.
        ``far``: leave out the pairs in neighbouring districts (the nearby pass has seen them).
        """
        clock = time.perf_counter()
        n_side, e_side = self.new_side.take(rows), self.est_side.take(cols)
        relation = None
        if points is None:
            relation = self.relation[self.newcomers.district[rows][:, None], self.established.district[cols]]
            points = self.tables.district[relation]
        allowed, shared_slots = infeasibility(n_side, e_side)
        if far and relation is not None:
            elsewhere = relation == DistrictRelation.OTHER
            allowed = elsewhere if allowed is None else np.logical_and(allowed, elsewhere, out=allowed)
        clock = self._tick("hard_constraints", clock)
        score = scores(n_side, e_side, shared_slots, points, self.table, allowed)
        self.forbidden.mask(score, rows, cols)
        clock = self._tick("scoring", clock)
        r, c, best = _top_k(score, self.k)
        self._tick("top_k", clock)
        return (rows[r], cols[c], best), np.bincount(r, minlength=len(rows)) < self.k

    def add_all(self, rows: np.ndarray, cols: np.ndarray, far: bool = False) -> None:
        step = max(1, BLOCK_ELEMENTS // max(1, len(cols)))
        self._blocks([(rows[start : start + step], cols, None, far) for start in range(0, len(rows), step)])

    def add_nearby(self, free: np.ndarray) -> None:
        relation = self.relation
        new_district = self.newcomers.district
        by_district = np.argsort(new_district, kind="stable").astype(np.int32)
        bounds = np.searchsorted(new_district[by_district], np.arange(relation.shape[0] + 1))
        free_district = self.established.district[free]
        free_by_district = free[np.argsort(free_district, kind="stable")]
        self.orders = (by_district, np.argsort(self.established.district, kind="stable"))
        free_bounds = np.searchsorted(np.sort(free_district), np.arange(relation.shape[0] + 1))
        tasks, short = [], []
        for d in range(relation.shape[0]):
            rows = by_district[bounds[d] : bounds[d + 1]]
            if not len(rows):
                continue
            near = np.flatnonzero(relation[d])
            cols = np.concatenate([free_by_district[free_bounds[x] : free_bounds[x + 1]] for x in near])
            if not len(cols):
                short.append(rows)
                continue
            points = self.district_points[d, self.established.district[cols]][None, :]
            step = max(1, BLOCK_ELEMENTS // len(cols))
            tasks += [(rows[start : start + step], cols, points, False) for start in range(0, len(rows), step)]
        for (rows, *_), few in zip(tasks, self._blocks(tasks), strict=True):
            short.append(rows[few])
        self._add_far(np.concatenate(short) if short else np.empty(0, np.int32), free)

    def _add_far(self, rows: np.ndarray, free: np.ndarray) -> None:
        """Newcomers short of volunteers nearby also see an evenly spread sample of the whole programme."""
        if not len(rows):
            return
        sample = unique(free[np.linspace(0, len(free) - 1, min(len(free), FAR_SAMPLE)).astype(np.int64)])
        self.add_all(np.sort(rows), sample, far=True)

    def graph(self) -> CandidateGraph:
        if not self.parts:
            empty = np.empty(0, np.int32)
            return CandidateGraph(empty, empty, empty)
        edges = (np.concatenate([p[i] for p in self.parts]).astype(np.int32) for i in range(3))
        return CandidateGraph(*edges, *(self.orders or (None, None)))


def unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values: a sort and an adjacent-difference mask (np.unique was 100x slower here)."""
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
