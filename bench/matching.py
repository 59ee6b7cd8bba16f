#!/usr/bin/env python
"""Matching benchmark: a proposal round on a synthetic programme at 1k / 10k / 100k per side.

For each size, in a fresh process (so that peak memory is the round's own): candidate generation split
into hard constraints, scoring and top-k, the min-cost-flow solve, end-to-end time, peak resident memory,
and greedy's objective beside ours as a ratio (greedy runs on the same candidate graph after the
measurement). A benchmark, not a test: it reports, it never fails on a number.

    .venv/bin/python bench/matching.py                    # 1k, 10k (best of 3 each), 100k (~1 min)
    .venv/bin/python bench/matching.py --sizes 1000,10000 --k 30
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _whole_round(synthetic, k: int) -> dict[str, object]:  # noqa: ANN001 - a matching_synthetic.Programme
    """The domain's whole round from Candidate objects, as the service runs it: pools built from the
    objects, candidates, solve, and every proposal's breakdown (its explanation's data)."""
    from datetime import date

    from matching_synthetic import as_candidates, forbidden_ids, neighbour_codes

    from sprakvan_matching.domain.rounds import RoundInput, run_round
    from sprakvan_matching.domain.settings import ProgrammeSettings

    today = date(2026, 12, 1)
    newcomers, established = as_candidates(synthetic, today=today)
    settings = ProgrammeSettings(candidates_per_newcomer=k)
    data = RoundInput(
        "sprakvan",
        newcomers,
        established,
        {},
        today,
        settings,
        neighbour_codes(synthetic),
        (),
        forbidden_ids(synthetic),
    )
    clock = time.perf_counter()
    result = run_round(data)
    return {"whole_round_s": round(time.perf_counter() - clock, 3), "whole_round_proposals": len(result.proposals)}


def one_round(per_side: int, k: int, seed: int, whole_round_limit: int) -> dict[str, object]:
    sys.path.insert(0, str(HERE))
    import numpy as np
    from matching_synthetic import YEAR, programme

    from sprakvan_matching.domain import candidates
    from sprakvan_matching.domain.assignment import greedy, solve
    from sprakvan_matching.domain.scoring import ScoreTables
    from sprakvan_matching.domain.settings import ProgrammeSettings

    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    built = time.perf_counter()
    synthetic = programme(per_side, seed)
    built = time.perf_counter() - built
    tables = ScoreTables.from_settings(ProgrammeSettings())

    clock, cpu = time.perf_counter(), time.process_time()
    times = candidates.PhaseTimes()
    graph = candidates.generate(
        synthetic.newcomers,
        synthetic.established,
        tables=tables,
        neighbours=synthetic.neighbours,
        k=k,
        year=YEAR,
        forbidden=synthetic.forbidden,
        times=times,
    )
    generated, generated_cpu = time.perf_counter(), time.process_time()
    bonus = tables.waiting(synthetic.newcomers.waiting_days)
    ours = solve(graph, bonus=bonus, capacity=synthetic.established.capacity)
    solved, solved_cpu = time.perf_counter(), time.process_time()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    baseline = greedy(graph, bonus=bonus, capacity=synthetic.established.capacity)
    m = len(synthetic.established)
    edge_keys = graph.newcomer.astype(np.int64) * m + graph.established
    forbidden_keys = synthetic.forbidden[0] * m + synthetic.forbidden[1]
    whole_round = _whole_round(synthetic, k) if per_side <= whole_round_limit else None
    ours_value, greedy_value = ours.objective(graph, bonus), baseline.objective(graph, bonus)
    return {
        "per_side": per_side,
        "districts": synthetic.districts,
        "k": k,
        "volunteer_places": int(synthetic.established.capacity.sum()),
        "candidate_edges": len(graph),
        "forbidden_pairs": len(synthetic.forbidden[0]),
        "forbidden_in_graph": int(np.isin(edge_keys, forbidden_keys).sum()),  # must be 0
        "synthetic_build_s": round(built, 3),
        "hard_constraints_s": round(times.get("hard_constraints", 0.0), 3),
        "scoring_s": round(times.get("scoring", 0.0), 3),
        "top_k_s": round(times.get("top_k", 0.0), 3),
        "candidates_s": round(generated - clock, 3),
        "solve_s": round(solved - generated, 3),
        "total_s": round(solved - clock, 3),
        # CPU seconds of this process: on a shared machine, wall time also counts others' work.
        "candidates_cpu_s": round(generated_cpu - cpu, 3),
        "solve_cpu_s": round(solved_cpu - generated_cpu, 3),
        "total_cpu_s": round(solved_cpu - cpu, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_rss / 1024, 1),
        "rss_before_round_mb": round(start_rss / 1024, 1),
        "pairs": len(ours.chosen),
        "greedy_pairs": len(baseline.chosen),
        "objective": ours_value,
        "greedy_objective": greedy_value,
        "greedy_over_optimum": round(greedy_value / ours_value, 4) if ours_value else None,
        "mean_pair_score": round(float(np.mean(graph.score[ours.chosen])) / 100, 2) if len(ours.chosen) else None,
        **(whole_round or {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--k", type=int, default=30, help="candidates per newcomer")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--whole-round-up-to", type=int, default=10_000, help="also time the domain's whole round up to this size"
    )
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per size; the fastest is reported")
    parser.add_argument("--repeat-up-to", type=int, default=10_000, help="larger sizes run once")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_round(args.one, args.k, args.seed, args.whole_round_up_to)))
        return

    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        runs = []
        for _ in range(args.repeat if size <= args.repeat_up_to else 1):
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(size), "--k", str(args.k), "--seed", str(args.seed)]
                + ["--whole-round-up-to", str(args.whole_round_up_to)],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        # The fastest of the repeats: on a shared machine the others mostly measure the neighbours.
        best = min(runs, key=lambda run: run["total_s"])
        rows.append({**best, "repeats_total_s": [run["total_s"] for run in runs]})
        _print(rows[-1])
    out = args.output or HERE / "results" / f"matching-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"k": args.k, "seed": args.seed, "runs": rows}, indent=2))
    print(f"written to {out}")


def _print(row: dict[str, object]) -> None:
    print(
        f"{row['per_side']:>7} per side, {row['districts']} districts, {row['candidate_edges']} candidate pairs "
        f"({row['forbidden_pairs']} forbidden, {row['forbidden_in_graph']} of them in the graph): "
        f"hard constraints {row['hard_constraints_s']} s, scoring {row['scoring_s']} s, top-k {row['top_k_s']} s "
        f"(candidates {row['candidates_s']} s), solve {row['solve_s']} s, total {row['total_s']} s "
        f"(CPU {row['total_cpu_s']} s, load {row['load_average_1min']}), "
        f"peak {row['peak_rss_mb']} MB; pairs {row['pairs']} (greedy {row['greedy_pairs']}), "
        f"greedy/optimum {row['greedy_over_optimum']}"
        + (f"; whole domain round {row['whole_round_s']} s" if "whole_round_s" in row else ""),
        flush=True,
    )


if __name__ == "__main__":
    main()
