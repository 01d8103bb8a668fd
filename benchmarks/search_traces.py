"""Search strategies and prediction on real GPU traces no one on the project made (the Zeus NSDI'23
development set, ../shared/data/zeus-nsdi23 beside the checkout, or --data) and on the project's own grids (a store
holding paper-grid / holdout-grid / holdout-cnn-mnist, --grids-db), all by replay: nothing trains.

Per study it prints the full grid's energy, the floor (the best setup's 3 seeds as a share of the grid)
and, per strategy over ``--repeats`` random orders (confirmation on 3 seeds counted): the median and
90th-percentile share of the grid's energy, the share of orders whose pick is within 10 % of the best
setup's energy-to-target, and of orders that are within 10 % *and* spend at most 10 % of the grid (the
goal), plus how often ``auto`` said its finalists were within noise of each other. Then the prediction
after 1 evaluation and after a quarter of the run: MdAPE of energy-to-target, how often the stated
80 % interval held the truth, and the share of runs that reached the target which ``predict_stop``'s
rule would have stopped.

The traces are imported with ``powertrain import`` (``--cost-axis power_limit_w`` unless
``--no-cost-axes``); replays are arithmetic, the figures are deterministic for a ``--seed``.

    python benchmarks/search_traces.py [--repeats 200] [--strategies auto halving ...]
        [--grids-db runs/grids.db] [--no-cost-axes] [--studies cifar100-v100 ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from powertrain.search.backtest import QUARTER, backtest
from powertrain.search.simulate import load_curves, simulate
from powertrain.store.sqlite import SqliteStore

# The checkout sits beside shared/ (as on the developers' machines and in CI).
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "zeus-nsdi23"
#: The development set's files and targets, as its README lists them.
TRACES = {
    "cifar100-v100": 0.60,
    "cifar100-a40": 0.60,
    "imagenet-v100": 0.65,
    "imagenet-a40": 0.65,
}
GRIDS = ("paper-grid", "holdout-grid", "holdout-cnn-mnist")
STRATEGIES = ["auto", "halving", "thompson", "zeus", "bound"]


def import_traces(data: Path, db: Path, studies, cost_axes: bool) -> None:
    for study in studies:
        extra = ["--cost-axis", "power_limit_w"] if cost_axes else []
        command = [sys.executable, "-m", "powertrain", "import", str(data / f"{study}.csv")]
        command += ["--study", study, "--target", str(TRACES[study]), "--db", str(db), *extra]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def floor_share(store, study: str) -> tuple[float, float]:
    """(grid energy, the best setup's 3 seeds as a share of it)."""
    curves = load_curves(store, study)
    means = curves.setup_means_j()
    best = min(means, key=means.get)
    runs = sorted(
        (c for (s, _), c in curves.curves.items() if s == best), key=lambda c: c.end_energy_j
    )
    three_j = sum(c.end_energy_j for c in runs[:3])
    return curves.grid_energy_j, three_j / curves.grid_energy_j


def strategy_row(store, study: str, strategy: str, repeats: int, seed: int) -> str:
    sim = simulate(store, study, strategy, repeats=repeats, seed=seed)
    s = sim.summary()
    noise = f"{s['within_noise']:5.0%}" if "within_noise" in s else "    -"
    axes = ",".join(sim.cost_axes) or "-"
    sample = "in-sample" if sim.in_sample else "out-of-sample"
    return (
        f"  {strategy:9s} {s['share_median']:7.1%} {s['share_p90']:7.1%} "
        f"{s['within_10pct']:7.0%} {s['within_10pct_at_most_tenth']:7.0%} {noise}  {axes:13s} "
        f"{sample}"
    )


def prediction_rows(store, study: str) -> list[str]:
    out = []
    for row in backtest(store, study, [1, QUARTER]).rows:
        k = "1 eval" if row["after_evals"] == 1 else "quarter"
        out.append(
            f"  predict after {k:7s} ({row['runs_predicted']} runs): calibrated MdAPE "
            f"{_pct(row['mdape'])}, interval stated for {_pct(row['interval_stated'])} and its "
            f"80 % held {_pct(row['interval_coverage'])}, predict_stop would stop "
            f"{_pct(row['reached_stopped'])} of runs that reached | fitted curves alone: MdAPE "
            f"{_pct(row['mdape_fit'])}, 80 % held {_pct(row['interval_coverage_fit'])}, would stop "
            f"{_pct(row['reached_stopped_fit'])}"
        )
    return out


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def report(store, study: str, args) -> None:
    grid_j, floor = floor_share(store, study)
    print(f"\n{study}: grid {grid_j:,.0f} J, floor {floor:.1%} (best setup's 3 seeds)")
    print(
        f"  {'strategy':9s} {'median':>7s} {'p90':>7s} {'in10%':>7s} {'both':>7s} noise  cost axes     settings"
    )
    for strategy in args.strategies:
        print(strategy_row(store, study, strategy, args.repeats, args.seed), flush=True)
    if not args.no_predict:
        print("\n".join(prediction_rows(store, study)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--studies", nargs="+", default=list(TRACES))
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grids-db", type=Path, default=None, help="a store with our own grids")
    parser.add_argument("--grids", nargs="+", default=list(GRIDS), help="which of our own grids")
    parser.add_argument("--no-cost-axes", action="store_true", help="import without them")
    parser.add_argument("--no-predict", action="store_true")
    args = parser.parse_args()
    print(f"replays, {args.repeats} orders, seed {args.seed}; confirmation on 3 seeds counted")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "traces.db"
        studies = [s for s in args.studies if s in TRACES]
        import_traces(args.data, db, studies, not args.no_cost_axes)
        with SqliteStore(db) as store:
            for study in studies:
                report(store, study, args)
    if args.grids_db is None or not args.grids_db.is_file():
        print(f"\nown grids: no store given or found ({args.grids_db}); run {', '.join(GRIDS)}")
        return
    with SqliteStore(args.grids_db) as store:
        names = {s["name"] for s in store.studies()}
        for study in [g for g in args.grids if g in names]:
            report(store, study, args)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
