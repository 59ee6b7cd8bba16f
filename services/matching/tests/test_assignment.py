"""Candidate generation and the optimum: against the one-pair rules, an exact reference, and greedy."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest

from services.matching.tests.matching_factories import DISTRICTS, NEIGHBOURS, TODAY, candidate, exact_optimum, people
from sprakvan_matching.domain import candidates as candidate_generation
from sprakvan_matching.domain.assignment import greedy, solve
from sprakvan_matching.domain.candidates import CandidateGraph
from sprakvan_matching.domain.constraints import PairContext, check_pair
from sprakvan_matching.domain.model import Role, Wishes
from sprakvan_matching.domain.pool import Pool, Vocabulary, neighbour_matrix
from sprakvan_matching.domain.rounds import InvalidLock, RoundInput, run_round
from sprakvan_matching.domain.scoring import ScoreTables, breakdown
from sprakvan_matching.domain.settings import Eligibility, ProgrammeSettings, Weights

SETTINGS = ProgrammeSettings(eligibility=Eligibility.ALL)
TABLES = ScoreTables.from_settings(SETTINGS)


def _graph(newcomers, established, *, k=1000, dense_limit=candidate_generation.DENSE_LIMIT, forbidden=None):
    vocabulary = Vocabulary.build(newcomers, established, DISTRICTS)
    new_pool = Pool.build(newcomers, vocabulary, newcomer_side=True, today=TODAY)
    est_pool = Pool.build(established, vocabulary, newcomer_side=False, today=TODAY)
    graph = candidate_generation.generate(
        new_pool,
        est_pool,
        tables=TABLES,
        neighbours=neighbour_matrix(vocabulary, NEIGHBOURS),
        k=k,
        year=TODAY.year,
        forbidden=forbidden or (np.empty(0, np.int64), np.empty(0, np.int64)),
        dense_limit=dense_limit,
    )
    return graph, new_pool, est_pool


def _edges(graph: CandidateGraph) -> dict[tuple[int, int], int]:
    return dict(
        zip(zip(graph.newcomer.tolist(), graph.established.tolist(), strict=True), graph.score.tolist(), strict=True)
    )


@pytest.mark.parametrize("dense_limit", [candidate_generation.DENSE_LIMIT, 0])
def test_candidate_graph_holds_exactly_the_feasible_pairs_with_their_scores(dense_limit):
    for seed in range(20):
        newcomers, established = people(seed, 25, 20)
        graph, _, _ = _graph(newcomers, established, dense_limit=dense_limit)
        expected = {}
        for i, n in enumerate(newcomers):
            for j, e in enumerate(established):
                if not check_pair(n, e, PairContext(year=TODAY.year)):
                    explained = breakdown(n, e, tables=TABLES, neighbours=NEIGHBOURS, today=TODAY)
                    expected[i, j] = explained.total - explained.criteria[-1].points  # waiting is on the bypass
        # With k above the pool size, nearby mode reaches every volunteer too (all are "short" of k nearby).
        assert _edges(graph) == expected, seed


def test_nearby_mode_keeps_the_k_best_of_the_neighbourhood_and_reaches_far_when_short():
    newcomers, established = people(7, 60, 60)
    dense, _, _ = _graph(newcomers, established, k=5)
    nearby, new_pool, est_pool = _graph(newcomers, established, k=5, dense_limit=0)
    assert len(nearby) > 0
    all_feasible = _edges(_graph(newcomers, established)[0])
    for (i, j), score in _edges(nearby).items():
        assert all_feasible[i, j] == score  # only feasible pairs, scored right
    per_newcomer = np.bincount(nearby.newcomer, minlength=len(newcomers))
    feasible_count = np.bincount(np.array([i for i, _ in all_feasible]), minlength=len(newcomers))
    assert np.all(per_newcomer >= np.minimum(5, feasible_count))  # nobody loses candidates to blocking
    assert np.all(np.bincount(dense.newcomer, minlength=len(newcomers)) == np.minimum(5, feasible_count))


@pytest.mark.parametrize("dense_limit", [candidate_generation.DENSE_LIMIT, 0])
def test_forbidden_pairs_never_enter_the_graph(dense_limit):
    newcomers, established = people(3, 30, 20)
    full, _, _ = _graph(newcomers, established, dense_limit=dense_limit)
    take = np.arange(0, len(full), 3)
    forbidden = (full.newcomer[take].astype(np.int64), full.established[take].astype(np.int64))
    graph, _, _ = _graph(newcomers, established, dense_limit=dense_limit, forbidden=forbidden)
    banned = set(zip(*(a.tolist() for a in forbidden), strict=True))
    assert banned and not banned & set(_edges(graph))
    assert set(_edges(graph)) == set(_edges(full)) - banned


def test_min_cost_flow_equals_the_exact_reference_on_many_random_instances():
    rng = random.Random(2026)
    for seed in range(150):
        newcomers, established = people(seed, rng.randint(1, 14), rng.randint(1, 9))
        graph, new_pool, est_pool = _graph(newcomers, established)
        bonus = TABLES.waiting(new_pool.waiting_days)
        ours = solve(graph, bonus=bonus, capacity=est_pool.capacity)
        assert ours.objective(graph, bonus) == exact_optimum(graph, bonus, est_pool.capacity), seed
        chosen_new = graph.newcomer[ours.chosen]
        assert len(set(chosen_new.tolist())) == len(chosen_new)  # a newcomer in one pair at most
        load = np.bincount(graph.established[ours.chosen], minlength=len(established))
        assert np.all(load <= est_pool.capacity)  # never above a volunteer's free places
        assert greedy(graph, bonus=bonus, capacity=est_pool.capacity).objective(graph, bonus) <= ours.objective(
            graph, bonus
        )


@pytest.mark.parametrize("dense_limit", [candidate_generation.DENSE_LIMIT, 0])
def test_blocks_on_threads_give_the_very_same_graph(dense_limit):
    newcomers, established = people(31, 300, 200)
    vocabulary = Vocabulary.build(newcomers, established, DISTRICTS)
    pools = (
        Pool.build(newcomers, vocabulary, newcomer_side=True, today=TODAY),
        Pool.build(established, vocabulary, newcomer_side=False, today=TODAY),
    )
    matrix = neighbour_matrix(vocabulary, NEIGHBOURS)
    graphs = [
        candidate_generation.generate(
            *pools, tables=TABLES, neighbours=matrix, k=8, year=TODAY.year, dense_limit=dense_limit, workers=workers
        )
        for workers in (1, 2, 2)
    ]
    for graph in graphs[1:]:
        for field in ("newcomer", "established", "score"):
            assert np.array_equal(getattr(graph, field), getattr(graphs[0], field))


def test_numbering_nodes_by_district_changes_nothing_but_speed():
    for seed in range(20):
        newcomers, established = people(seed, 40, 25)
        graph, new_pool, est_pool = _graph(newcomers, established, k=6, dense_limit=0)
        assert graph.newcomer_order is not None
        bonus = TABLES.waiting(new_pool.waiting_days)
        plain = replace(graph, newcomer_order=None, established_order=None)
        ours = solve(graph, bonus=bonus, capacity=est_pool.capacity).objective(graph, bonus)
        assert ours == solve(plain, bonus=bonus, capacity=est_pool.capacity).objective(graph, bonus)
        assert ours == exact_optimum(graph, bonus, est_pool.capacity)


def test_the_optimum_beats_greedy_on_a_crafted_round():
    # A's best volunteer is X, but only X suits B: greedy gives X to A and leaves B alone.
    rng = random.Random(1)
    slots = frozenset({("tue", "evening")})
    other = frozenset({("sat", "morning")})
    a = candidate(rng, Role.NEWCOMER, availability=slots | other, languages=frozenset({"ar"}), district="ryd")
    b = candidate(rng, Role.NEWCOMER, availability=slots, languages=frozenset({"fa"}), district="berga")
    x = candidate(
        rng, Role.ESTABLISHED, availability=slots, languages=frozenset({"ar", "sv"}), district="ryd", capacity=1
    )
    y = candidate(rng, Role.ESTABLISHED, availability=other, languages=frozenset({"sv"}), district="berga", capacity=1)
    people_ = [replace(p, wishes=Wishes(), gender="woman", birth_year=1980) for p in (a, b, x, y)]
    newcomers, established = people_[:2], people_[2:]
    graph, new_pool, est_pool = _graph(newcomers, established)
    bonus = TABLES.waiting(new_pool.waiting_days)
    ours = solve(graph, bonus=bonus, capacity=est_pool.capacity)
    baseline = greedy(graph, bonus=bonus, capacity=est_pool.capacity)
    assert len(ours.chosen) == 2 and len(baseline.chosen) == 1
    assert ours.objective(graph, bonus) > baseline.objective(graph, bonus)


def _round(newcomers, established, **changes):
    data = RoundInput("sprakvan", newcomers, established, {}, TODAY, SETTINGS, NEIGHBOURS, DISTRICTS)
    return run_round(replace(data, **changes))


def _pairs(result):
    return [(p.newcomer_id, p.established_id) for p in result.proposals]


def test_the_same_input_gives_the_same_proposals_whatever_its_order():
    newcomers, established = people(11, 80, 40)
    first = _round(newcomers, established)
    shuffled = (
        random.Random(5).sample(newcomers, len(newcomers)),
        random.Random(6).sample(established, len(established)),
    )
    assert _pairs(first) == _pairs(_round(*shuffled)) == _pairs(_round(newcomers, established))
    assert first.proposals


def test_each_proposal_explains_the_score_the_solver_used():
    newcomers, established = people(12, 40, 30)
    result = _round(newcomers, established)
    assert result.objective == sum(p.breakdown.total for p in result.proposals)


def test_locks_go_in_and_forbids_stay_out():
    newcomers, established = people(13, 30, 15)
    first = _round(newcomers, established)
    banned = _pairs(first)[:3]
    again = _round(newcomers, established, forbidden=set(banned))
    assert not set(banned) & set(_pairs(again))
    # Lock a feasible pair the optimum did not choose.
    chosen = set(_pairs(first))
    lock = next(
        (n.participant_id, e.participant_id)
        for n in newcomers
        for e in established
        if (n.participant_id, e.participant_id) not in chosen and not check_pair(n, e, PairContext(year=TODAY.year))
    )
    locked = _round(newcomers, established, locks=[lock])
    assert lock in _pairs(locked) and next(p for p in locked.proposals if p.locked)
    assert sum(1 for p in locked.proposals if p.newcomer_id == lock[0]) == 1


def test_a_lock_that_breaks_a_hard_constraint_is_refused():
    rng = random.Random(3)
    n = candidate(rng, Role.NEWCOMER, availability=frozenset({("mon", "morning")}))
    e = candidate(rng, Role.ESTABLISHED, availability=frozenset({("sun", "evening")}))
    with pytest.raises(InvalidLock) as refused:
        _round([n], [e], locks=[(n.participant_id, e.participant_id)])
    assert "no_shared_availability" in {b.value for b in refused.value.broken}


def _registered(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(12), tzinfo=UTC)


def test_when_volunteers_are_scarce_the_longer_wait_wins():
    rng = random.Random(4)
    alike = dict(
        availability=frozenset({("wed", "evening")}),
        wishes=Wishes(),
        languages=frozenset({"sv"}),
        interests=frozenset(),
        district="ryd",
        gender="man",
        birth_year=1990,
    )
    waited_long = candidate(rng, Role.NEWCOMER, registered_at=_registered(150), **alike)
    just_came = candidate(rng, Role.NEWCOMER, registered_at=_registered(2), **alike)
    volunteer = candidate(rng, Role.ESTABLISHED, capacity=1, **alike)
    for order in ([just_came, waited_long], [waited_long, just_came]):
        assert _pairs(_round(order, [volunteer])) == [(waited_long.participant_id, volunteer.participant_id)]


def test_a_wait_counts_up_to_the_programmes_longest_wait_that_counts():
    tables = ScoreTables.from_settings(ProgrammeSettings(max_wait_days=90, weights=Weights(waiting=30)))
    assert tables.waiting(np.array([-3, 0, 45, 90, 400])).tolist() == [0, 0, 1500, 3000, 3000]
    for odd in (ScoreTables.from_settings(ProgrammeSettings(max_wait_days=d)) for d in (7, 180, 365)):
        days = np.arange(-2, 400)  # the explanation's one-at-a-time bonus is the solver's, rounding included
        assert [odd.waiting_one(int(d)) for d in days] == odd.waiting(days).tolist()
    rng = random.Random(8)
    alike = dict(
        availability=frozenset({("wed", "evening")}),
        wishes=Wishes(),
        interests=frozenset(),
        district="ryd",
        gender="woman",
        birth_year=1990,
    )
    swedish_only = candidate(rng, Role.NEWCOMER, registered_at=_registered(300), languages=frozenset({"sv"}), **alike)
    arabic = candidate(rng, Role.NEWCOMER, registered_at=_registered(100), languages=frozenset({"ar"}), **alike)
    volunteer = candidate(rng, Role.ESTABLISHED, capacity=1, languages=frozenset({"ar", "sv"}), **alike)
    waiting_counts = SETTINGS.model_copy(update={"weights": Weights(waiting=100)})
    # Waiting up to 400 days counts: 200 more days (50 points) outweigh a shared language (20).
    longer = waiting_counts.model_copy(update={"max_wait_days": 400})
    assert _pairs(_round([swedish_only, arabic], [volunteer], settings=longer)) == [
        (swedish_only.participant_id, volunteer.participant_id)
    ]
    # Only 90 days count: both waited longer than that, so the shared language decides.
    capped = waiting_counts.model_copy(update={"max_wait_days": 90})
    assert _pairs(_round([swedish_only, arabic], [volunteer], settings=capped)) == [
        (arabic.participant_id, volunteer.participant_id)
    ]


def test_the_interviewed_only_setting_leaves_others_waiting():
    newcomers, established = people(14, 20, 10)
    newcomers = [replace(n, interviewed_on=None) if i % 2 else n for i, n in enumerate(newcomers)]
    result = _round(newcomers, established, settings=ProgrammeSettings())
    interviewed = {n.participant_id for n in newcomers if n.interviewed_on}
    assert result.proposals and {p.newcomer_id for p in result.proposals} <= interviewed


def test_a_rounds_reply_tells_each_proposal_as_its_stored_data_does():
    """The round's reply is built from the domain's breakdowns and the events' contract breakdowns (each
    made once); a pair read back later is built from the stored data: both must read the same."""
    from sprakvan_matching.domain.model import Pair
    from sprakvan_matching.entrypoints.schemas import PairOut
    from sprakvan_matching.service_layer.events import pair_event

    newcomers, established = people(21, 60, 40)
    result = _round(newcomers, established)
    labels = {"football": {"sv": "Fotboll", "en": "Football"}}
    assert result.proposals
    for proposal in result.proposals:
        pair = Pair.propose(
            organisation_id="org-a",
            programme="sprakvan",
            newcomer_id=proposal.newcomer_id,
            established_id=proposal.established_id,
            score=proposal.breakdown.as_data(),
            round_id=uuid.UUID(int=7),
            now=datetime.combine(TODAY, time(12), UTC),
        )
        event = pair_event(pair, "proposed", correlation_id="c")
        reply = PairOut.of(pair, labels, score=event.payload.score, explained=proposal.breakdown)
        assert reply == PairOut.of(pair, labels)
        assert reply.explanation["en"].endswith(".")
