"""Live search strategies against the full grid, side by side: each strategy trains
examples/search-digits.yaml (or the study given) into a fresh store of its own, and the grid is run
first and last, so that drift in the machine's load shows beside the figures.

It prints, per strategy: runs started (stopped by the search), energy spent, its share of the mean of
the two grid runs, the pick and whether it was confirmed. Every joule is what the study's meters say
(an estimate from CPU time on a machine without counters: run it on a quiet machine, and compare only
figures from one run of this script).

    python benchmarks/search_live.py [--study examples/search-digits.yaml]
        [--strategies zeus bound halving thompson optuna]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from powertrain import load_study
from powertrain.search.run import search_study
from powertrain.store import open_store

STRATEGIES = ["zeus", "bound", "halving", "thompson", "optuna"]


def run_one(study_path: Path, strategy: str, folder: Path):
    with open_store(folder / f"{strategy}.db") as store:
        return search_study(load_study(study_path), store, strategy=strategy).cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=Path, default=Path("examples/search-digits.yaml"))
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = run_one(args.study, "grid", folder / "grid-first")
        costs = {s: run_one(args.study, s, folder) for s in args.strategies}
        last = run_one(args.study, "grid", folder / "grid-last")
    grid_j = (first.spent_j + last.spent_j) / 2
    print(f"{args.study} [{first.method}]")
    print(
        f"grid: {first.spent_j:.2f} J first, {last.spent_j:.2f} J last ({first.runs_started} runs)"
    )
    print(f"{'strategy':10s} {'runs (stopped)':>15s} {'energy':>9s} {'share':>7s}  pick")
    for name, cost in costs.items():
        runs = f"{cost.runs_started} ({cost.runs_stopped})"
        confirmed = ", confirmed" if cost.confirmed else ", unconfirmed"
        print(
            f"{name:10s} {runs:>15s} {cost.spent_j:7.2f} J {cost.spent_j / grid_j:7.0%}"
            f"  {cost.pick}{confirmed}"
        )


if __name__ == "__main__":
    main()
