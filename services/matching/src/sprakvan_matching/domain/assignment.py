"""The assignment: a maximum-weight matching with volunteer capacities, as a min-cost flow.

Every newcomer sends one unit of flow to the sink, either through a volunteer (cost: minus the pair's
score, capacity 1 per pair, the volunteer's free places on its arc to the sink) or straight along its
bypass arc, whose cost is the newcomer's waiting bonus: leaving someone who waited long unmatched costs
more, so when volunteers are scarce the optimum favours those who waited. The greedy baseline is here too,
for the benchmark and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from .candidates import CandidateGraph


class SolverFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Assignment:
    """``chosen`` indexes the candidate graph's edges that form pairs."""

    chosen: np.ndarray

    def objective(self, graph: CandidateGraph, bonus: np.ndarray) -> int:
        """Sum over the pairs of score plus the newcomer's waiting bonus: what both solvers maximise."""
        return int(graph.score[self.chosen].sum(dtype=np.int64) + bonus[graph.newcomer[self.chosen]].sum())


def solve(graph: CandidateGraph, *, bonus: np.ndarray, capacity: np.ndarray) -> Assignment:
    """The optimum over the candidate graph. ``bonus`` per newcomer, ``capacity`` per volunteer (free places).

    Deterministic: the same graph in the same order gives the same pairs (the solver breaks ties by arc
    order, and the candidate graph comes in a canonical order).
    """
    n, m = len(bonus), len(capacity)
    edges = len(graph)
    if edges == 0:
        return Assignment(np.empty(0, np.int64))
    sink = n + m
    new_node, est_node = _node_numbers(graph.newcomer_order, n), _node_numbers(graph.established_order, m)
    tails = np.concatenate([new_node[graph.newcomer], new_node, n + est_node]).astype(np.int32)
    heads = np.concatenate([n + est_node[graph.established], np.full(n + m, sink, np.int32)]).astype(np.int32)
    capacities = np.concatenate([np.ones(edges + n, np.int64), capacity.astype(np.int64)])
    # Every newcomer sends its one unit along exactly one of its arcs (a pair or its bypass), so the same
    # constant added to all of them adds the same to every solution's cost: the optimum stays. Shifted by
    # the largest score plus the largest bonus, no arc costs less than zero, and the cost-scaling solver
    # needed about a tenth less CPU time at 100k per side with each newcomer's arcs best first (the
    # same objective; see the README's benchmark).
    shift = int(graph.score.max()) + int(bonus.max(initial=0))
    # int64 on purpose: the vectorised call silently truncates floats.
    costs = np.concatenate(
        [shift - graph.score.astype(np.int64), shift + bonus.astype(np.int64), np.zeros(m, np.int64)]
    )
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, capacities, costs)
    supplies = np.zeros(n + m + 1, np.int64)
    supplies[:n] = 1
    supplies[sink] = -n
    flow.set_nodes_supplies(np.arange(n + m + 1, dtype=np.int32), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise SolverFailed(f"min-cost flow ended with status {status}")
    pair_flows = flow.flows(arcs[:edges])
    return Assignment(np.flatnonzero(pair_flows > 0))


def _node_numbers(order: np.ndarray | None, size: int) -> np.ndarray:
    """Node number of each row: its position in ``order`` (identity without one)."""
    if order is None:
        return np.arange(size, dtype=np.int32)
    numbers = np.empty(size, dtype=np.int32)
    numbers[order] = np.arange(size, dtype=np.int32)
    return numbers


def greedy(graph: CandidateGraph, *, bonus: np.ndarray, capacity: np.ndarray) -> Assignment:
    """What mentoring platforms do: take the best remaining pair while both sides are free."""
    gain = graph.score.astype(np.int64) + bonus[graph.newcomer]
    order = np.argsort(-gain, kind="stable")
    places = capacity.astype(np.int64).copy()
    matched = np.zeros(len(bonus), dtype=bool)
    chosen = []
    newcomer, established = graph.newcomer.tolist(), graph.established.tolist()
    for edge in order.tolist():
        i, j = newcomer[edge], established[edge]
        if not matched[i] and places[j] > 0:
            matched[i] = True
            places[j] -= 1
            chosen.append(edge)
    return Assignment(np.array(sorted(chosen), dtype=np.int64))
