"""A proposal round for one programme: pool -> candidates -> optimum -> proposals with their reasons."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from . import assignment, candidates
from .constraints import Broken, PairContext, check_pair
from .model import Candidate, Role
from .pool import Pool, Vocabulary, neighbour_matrix
from .scoring import Breakdown, ScoreTables, breakdown
from .settings import Eligibility, ProgrammeSettings

PairKey = tuple[uuid.UUID, uuid.UUID]  # (newcomer, established)


class InvalidLock(Exception):
    def __init__(self, pair: PairKey, broken: list[Broken]) -> None:
        super().__init__(f"locked pair {pair[0]} / {pair[1]} breaks {', '.join(b.value for b in broken)}")
        self.pair = pair
        self.broken = broken


@dataclass(frozen=True)
class RoundInput:
    programme: str
    newcomers: Sequence[Candidate]  # those waiting: no open pair
    established: Sequence[Candidate]
    free_places: Mapping[uuid.UUID, int]  # capacity minus open pairs, by volunteer
    today: date
    settings: ProgrammeSettings = ProgrammeSettings()
    neighbours: Mapping[str, frozenset[str]] = field(default_factory=dict)
    districts: Sequence[str] = ()
    forbidden: Collection[PairKey] = ()  # forbidden by a coordinator, or ended before
    locks: Sequence[PairKey] = ()


@dataclass(frozen=True)
class Proposal:
    newcomer_id: uuid.UUID
    established_id: uuid.UUID
    breakdown: Breakdown
    locked: bool = False


@dataclass(frozen=True)
class RoundResult:
    proposals: tuple[Proposal, ...]
    waiting: int  # newcomers in the round
    candidates: int  # edges in the candidate graph
    objective: int  # centipoints, locks excluded


def eligible(candidate: Candidate, programme: str, settings: ProgrammeSettings) -> bool:
    interviewed = settings.eligibility is Eligibility.ALL or candidate.interviewed_on is not None
    return candidate.programme == programme and candidate.available and interviewed


def run_round(data: RoundInput) -> RoundResult:
    settings = data.settings
    newcomers = sorted(
        (c for c in data.newcomers if c.role is Role.NEWCOMER and eligible(c, data.programme, settings)),
        key=_by_id,
    )
    established = sorted(
        (c for c in data.established if c.role is Role.ESTABLISHED and eligible(c, data.programme, settings)),
        key=_by_id,
    )
    places = {c.participant_id: data.free_places.get(c.participant_id, c.capacity) for c in established}
    tables = ScoreTables.from_settings(settings)
    neighbours = dict(data.neighbours)
    locked = _apply_locks(data, newcomers, established, places, tables, neighbours)
    locked_newcomers = {p.newcomer_id for p in locked}
    newcomers = [c for c in newcomers if c.participant_id not in locked_newcomers]
    established = [c for c in established if places[c.participant_id] > 0]

    vocabulary = Vocabulary.build(newcomers, established, data.districts)
    new_pool = Pool.build(newcomers, vocabulary, newcomer_side=True, today=data.today)
    est_pool = Pool.build(established, vocabulary, newcomer_side=False, today=data.today, free_places=places)
    graph = candidates.generate(
        new_pool,
        est_pool,
        tables=tables,
        neighbours=neighbour_matrix(vocabulary, neighbours),
        k=settings.candidates_per_newcomer,
        year=data.today.year,
        forbidden=_forbidden_rows(data.forbidden, new_pool, est_pool),
    )
    bonus = tables.waiting(new_pool.waiting_days)
    result = assignment.solve(graph, bonus=bonus, capacity=est_pool.capacity)
    proposals = [
        Proposal(
            newcomers[i].participant_id,
            established[j].participant_id,
            breakdown(newcomers[i], established[j], tables=tables, neighbours=neighbours, today=data.today),
        )
        for i, j in zip(graph.newcomer[result.chosen].tolist(), graph.established[result.chosen].tolist(), strict=True)
    ]
    return RoundResult(
        proposals=(*locked, *proposals),
        waiting=len(newcomers) + len(locked),
        candidates=len(graph),
        objective=result.objective(graph, bonus),
    )


def _by_id(candidate: Candidate) -> uuid.UUID:
    return candidate.participant_id


def _apply_locks(
    data: RoundInput,
    newcomers: list[Candidate],
    established: list[Candidate],
    places: dict[uuid.UUID, int],
    tables: ScoreTables,
    neighbours: dict[str, frozenset[str]],
) -> list[Proposal]:
    """Locked pairs go in as they are (after the hard constraints), taking their places first."""
    by_id = {c.participant_id: c for c in (*newcomers, *established)}
    forbidden = set(data.forbidden)
    taken: set[uuid.UUID] = set()
    locked = []
    for pair in data.locks:
        newcomer, volunteer = by_id.get(pair[0]), by_id.get(pair[1])
        if newcomer is None or volunteer is None:
            raise InvalidLock(
                pair, [Broken.NEWCOMER_UNAVAILABLE if newcomer is None else Broken.ESTABLISHED_UNAVAILABLE]
            )
        context = PairContext(
            year=data.today.year,
            established_open_pairs=volunteer.capacity - places[volunteer.participant_id],
            newcomer_paired=newcomer.participant_id in taken,
            forbidden=pair in forbidden,
        )
        broken = check_pair(newcomer, volunteer, context)
        if broken:
            raise InvalidLock(pair, broken)
        taken.add(newcomer.participant_id)
        places[volunteer.participant_id] -= 1
        explained = breakdown(newcomer, volunteer, tables=tables, neighbours=neighbours, today=data.today)
        locked.append(Proposal(pair[0], pair[1], explained, locked=True))
    return locked


def _forbidden_rows(pairs: Collection[PairKey], new_pool: Pool, est_pool: Pool) -> tuple[np.ndarray, np.ndarray]:
    new_row = {pid: i for i, pid in enumerate(new_pool.ids)}
    est_row = {pid: j for j, pid in enumerate(est_pool.ids)}
    rows = [(new_row[a], est_row[b]) for a, b in pairs if a in new_row and b in est_row]
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    array = np.array(rows, dtype=np.int64)
    return array[:, 0], array[:, 1]
