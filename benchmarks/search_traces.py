"""Search strategies and prediction on real GPU traces no one on the project made (the Zeus NSDI'23
development set, ../shared/data/zeus-nsdi23 beside the checkout, or any folder laid out like it with
--data) and on the project's own grids (stores holding paper-grid / holdout-grid / holdout-cnn-mnist /
holdout-cnn-digits / holdout-mlp-tabular / holdout-mlp-quantiles / holdout-mlp-spirals /
holdout-cnn-waves / holdout-cnn-shapes / holdout-mlp-hastie / holdout-gpu-shapes /
holdout-mlp-classif / holdout-mlp-blobs / holdout-mlp-rings / holdout-cnn-shapes-adamw /
holdout-gru-sequences / holdout-attention-tokens, --grids-db;
by default the store in benchmarks/data/, whose README says when and how they were measured), all by
replay: nothing trains.

A data folder holds one CSV per study (the columns `powertrain import` reads; the study is named after
the file) and a README.md whose table gives each file's target (a column headed "file" and one headed
"target ..."), as the development set's does; ``--target NAME=VALUE`` sets or overrides one. A file
with no target, or without a ``val_accuracy`` column, is named in one line and skipped.

Per study it prints the full grid's energy, the floor (the best setup's 3 cheapest seeds as a share
of the grid; where it is above a tenth, no strategy that confirms its pick on 3 seeds can meet
the goal) and, per strategy over
``--repeats`` random orders (confirmation on 3 seeds counted): the median and 90th-percentile share
of the grid's energy, the share of orders whose pick is within 10 % of the best setup's
energy-to-target, and of orders that are within 10 % *and* spend at most 10 % of the grid (the goal),
plus how often ``auto`` said its finalists were within noise of each other, how often a strategy
named as its pick a setup more than 10 % above the best without saying so ("worse": the misses that
mislead, as a miss said to be within noise does not), and whether the study is
in-sample for the strategy (one its settings were chosen on). Then the prediction after 1
evaluation and after a quarter of the run: MdAPE of energy-to-target, how often the stated 80 %
interval held the truth, and the share of runs that reached the target which ``predict_stop``'s rule
would have stopped.

The traces are imported as ``powertrain import`` does (with ``--cost-axis power_limit_w`` where a
file has that column, unless ``--no-cost-axes``); replays are arithmetic, the figures are
deterministic for a ``--seed``.

    python benchmarks/search_traces.py [--data DIR] [--target NAME=VALUE ...] [--repeats 200]
        [--strategies auto halving ...] [--grids-db runs/grids.db ...] [--no-cost-axes]
        [--studies cifar100-v100 ...] [--evaluations-every K]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from powertrain.errors import PowertrainError
from powertrain.search.backtest import QUARTER, backtest
from powertrain.search.importer import falls, import_csv
from powertrain.search.simulate import load_curves, simulate
from powertrain.store.sqlite import SqliteStore

# The checkout sits beside shared/ (as on the developers' machines and in CI).
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "zeus-nsdi23"
# The own grids as measured for docs/search.md, committed so that a clean checkout replays them.
# gzip-compressed (a fifth of the size): a store named *.gz is unpacked into a temporary file to read.
GRIDS_DB = Path(__file__).resolve().parent / "data" / "own-grids.db.gz"
GRIDS = (
    "paper-grid",
    "holdout-grid",
    "holdout-cnn-mnist",
    "holdout-cnn-digits",
    "holdout-mlp-tabular",
    "holdout-mlp-quantiles",
    "holdout-mlp-spirals",
    "holdout-cnn-waves",
    "holdout-cnn-shapes",
    "holdout-mlp-hastie",
    "holdout-gpu-shapes",
    "holdout-mlp-classif",
    "holdout-mlp-blobs",
    "holdout-mlp-rings",
    "holdout-cnn-shapes-adamw",
    "holdout-gru-sequences",
    "holdout-attention-tokens",
)
STRATEGIES = ["auto", "halving", "thompson", "zeus", "bound"]
COST_AXIS = "power_limit_w"  # the traces' cost axis, where a file has the column
POINT_COLUMNS = {"epoch", "step", "energy_j", "val_accuracy", "elapsed_s"}  # the rest name a run


def readme_targets(folder: Path) -> dict[str, float]:
    """{study: target} from the folder's README table: the row's "file" cell (``x.csv``, `` `x.csv` ``
    or ``[x.csv](x.csv)``) and its "target ..." cell (``0.6``, ``0.6 (val_accuracy)``, ``≥0.6``,
    ``60 %``); a row whose target is no number is left out, a file given two targets is named."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    try:
        text = readme.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        print(f"README.md: not read ({error}); give targets with --target NAME=VALUE")
        return {}
    found: dict[str, set[float]] = {}
    header = None
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if "|" in line else None
        if not cells or all(re.fullmatch(r":?-+:?", c) for c in cells):
            header = None if cells is None else header
            continue
        low = [c.lower() for c in cells]
        if any(c.startswith("target") for c in low) and "file" in low:
            header = (
                low.index("file"),
                next(i for i, c in enumerate(low) if c.startswith("target")),
            )
        elif header and len(cells) > max(header):
            name = re.sub(r"^\[(.*)\]\(.*\)$", r"\1", cells[header[0]]).strip("`")
            value = _target_cell(cells[header[1]])
            if value is not None:
                found.setdefault(Path(name).stem, set()).add(value)
    for study in sorted(s for s, values in found.items() if len(values) > 1):
        given = ", ".join(f"{v:g}" for v in sorted(found[study]))
        print(f"{study}.csv: the README gives it {given}; none taken (--target {study}=VALUE)")
    return {study: values.pop() for study, values in found.items() if len(values) == 1}


def _target_cell(cell: str) -> float | None:
    """A README's target: a number, after an optional ``≥``/``>=``, before optional words; ``%``
    makes it a fraction."""
    match = re.fullmatch(r"(?:≥|>=?)?\s*(\d*\.?\d+)\s*(%?)(?:\s*\(.*\))?", cell.strip("`* "))
    if match is None:
        return None
    value = float(match.group(1))
    return value / 100 if match.group(2) else value


def overrides(pairs: list[str], folder: Path | None = None) -> dict[str, float]:
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        name = name.strip().removesuffix(".csv")
        try:
            out[name] = float(value)
        except ValueError:
            name = ""
        if not name:
            sys.exit(f"--target takes NAME=VALUE with a number, got {pair!r}")
        if folder is not None and folder.is_dir() and not (folder / f"{name}.csv").is_file():
            print(f"--target {name}: there is no {name}.csv in {folder}; it sets nothing")
    return out


def thinned(path: Path, every: int, out: Path, target: float | None = None) -> Path:
    """A copy of the trace at ``path`` in ``out`` keeping each run's evaluations at epochs that are
    multiples of ``every``, and its last: as a workload evaluated that seldom would have recorded
    it (the same curves, so what it shows is in-sample wherever the trace is). A run whose trace
    stops where it first reached ``target``, between two such epochs, is evaluated at the next one
    instead, its energy (and steps, time) taken as linear in epochs, as the traces' energies are
    made: evaluated that seldom, it would have trained on to there to find the target (kept where
    it is, its energy-to-target would be exact while other runs' come in steps of ``every``)."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    runs: dict[tuple, list[dict]] = {}
    for row in rows:
        key = tuple((k, v) for k, v in row.items() if k not in POINT_COLUMNS)
        runs.setdefault(key, []).append(row)
    kept = []
    for run in runs.values():
        last = max(run, key=lambda r: float(r["epoch"]))
        reached = [r for r in run if target is not None and float(r["val_accuracy"]) >= target]
        stopped = reached == [last]  # its trace ends where it first reached the target
        kept += [
            _evaluated_at_next(r, every) if r is last and stopped else r
            for r in run
            if float(r["epoch"]) % every == 0 or r is last
        ]
    copy = out / f"{path.stem}-every{every}.csv"
    with copy.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return copy


def _evaluated_at_next(row: dict, every: int) -> dict:
    """``row`` moved on to the next epoch that is a multiple of ``every`` (itself if it is one), its
    energy, steps and time scaled with the epochs."""
    epoch = float(row["epoch"])
    at = math.ceil(epoch / every) * every
    if at == epoch or epoch <= 0:
        return row
    moved = {**row, "epoch": f"{at:g}"}
    for column in ("energy_j", "elapsed_s", "step"):
        if (row.get(column) or "").strip():
            value = float(row[column]) * at / epoch
            moved[column] = str(round(value)) if column == "step" else f"{value:.10g}"
    return moved


def as_accuracy(path: Path, target: float, out: Path) -> tuple[Path, float, list[str]]:
    """The trace at ``path`` with its ``val_accuracy`` read as the import reads it (a share, higher
    is better), and its target alike, with a line for each thing read another way: values up to
    100 are taken for percentages (an F1 of 84.0), and a metric that falls in most runs for one
    where lower is better (a word error rate), read as 1 - value. Unchanged files are not copied."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(f)]
    try:
        values = [float(r["val_accuracy"]) for r in rows]
    except (TypeError, ValueError):
        return path, target, []  # the import names the bad cell
    lines, scale, flip = [], 1.0, False
    if values and 1 < max(values) <= 100:
        scale = 100.0
        lines.append(f"val_accuracy up to {max(values):g}: read as percentages (divided by 100)")
    target = target / scale if target > 1 else target
    runs: dict[tuple, list[float]] = {}
    for row, value in zip(rows, values, strict=True):
        key = tuple((k, v) for k, v in row.items() if k not in POINT_COLUMNS)
        runs.setdefault(key, []).append(value / scale)
    falling = falls(list(runs.values()), target)
    if falling is not None:
        flip = True
        lines.append(
            f"val_accuracy falls in {falling} of {len(runs)} runs and starts above the target "
            "in most: lower is better there (an error rate?); read as 1 - value, the target too"
        )
    if not lines:
        return path, target, []
    for row, value in zip(rows, values, strict=True):
        row["val_accuracy"] = f"{1 - value / scale if flip else value / scale:.6g}"
    copy = out / path.name
    with copy.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return copy, 1 - target if flip else target, lines


def import_folder(
    folder: Path, db: Path, targets: dict, wanted, cost_axes: bool, every: int = 1
) -> list[str]:
    """Import every CSV in ``folder`` (or those of ``wanted``) that has a target and a
    ``val_accuracy`` column (with ``every`` > 1, thinned to an evaluation every so many epochs, as
    ``NAME-everyK``); a line for each that is skipped, and why. Returns the studies imported."""
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if folder.is_dir() and not files:
        print(f"no CSV files in {folder}")
    imported = []
    for path in files:
        study = path.stem
        if wanted and study not in wanted:
            continue
        try:  # the header as the import reads it: a byte-order mark and spaces are no part of it
            with path.open(newline="", encoding="utf-8-sig") as f:
                columns = [c.strip() for c in next(csv.reader(f), [])]
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            print(f"{path.name}: skipped, its header is not readable ({error})")
            continue
        if "val_accuracy" not in columns:
            print(f"{path.name}: skipped, no val_accuracy column (it has {', '.join(columns)})")
            continue
        if study not in targets:
            print(f"{path.name}: skipped, no target (README table or --target {study}=VALUE)")
            continue
        path, target, lines = as_accuracy(path, targets[study], db.parent)
        for line in lines:
            print(f"{path.name}: {line}")
        if not 0 < target <= 1:  # the README's or --target's: say which number, and why
            print(f"{path.name}: skipped, target {targets[study]:g} is not an accuracy in (0, 1]")
            continue
        axes = [COST_AXIS] if cost_axes and COST_AXIS in columns else []
        try:
            if every > 1:
                if "epoch" not in columns:
                    print(f"{path.name}: skipped, --evaluations-every needs an epoch column")
                    continue
                path = thinned(path, every, db.parent, target)
                study = path.stem
            import_csv(path, study, target, db, axes)
        except PowertrainError as error:
            print(f"{path.name}: skipped, {error}")
            continue
        imported.append(study)
    for study in sorted(set(wanted or ()) - {p.stem for p in files}):
        print(f"--studies {study}: there is no {study}.csv in {folder}")
    return imported


def floor_share(store, study: str) -> tuple[float, float, int]:
    """(grid energy, the best setup's 3 cheapest seeds (all, where it has fewer) as a share of it,
    how many seeds that is)."""
    curves = load_curves(store, study)
    means = curves.setup_means_j()
    best = min(means, key=means.get)
    runs = sorted(
        (c for (s, _), c in curves.curves.items() if s == best), key=lambda c: c.end_energy_j
    )
    three_j = sum(c.end_energy_j for c in runs[:3])
    return curves.grid_energy_j, three_j / curves.grid_energy_j, len(runs[:3])


def strategy_row(store, study: str, strategy: str, repeats: int, seed: int) -> str:
    sim = simulate(store, study, strategy, repeats=repeats, seed=seed)
    s = sim.summary()
    noise = f"{s['within_noise']:5.0%}" if "within_noise" in s else "    -"
    worse = f"{s['named_worse']:6.0%}"
    axes = ",".join(sim.cost_axes) or "-"
    # a thinned copy (NAME-everyK) has the curves of NAME: in-sample wherever NAME is
    source = re.sub(r"-every\d+$", "", study)
    sample = "in-sample" if sim.in_sample or source in sim.tuned_on else "out-of-sample"
    return (
        f"  {strategy:9s} {s['share_median']:7.1%} {s['share_p90']:7.1%} "
        f"{s['within_10pct']:7.0%} {s['within_10pct_at_most_tenth']:7.0%} {noise} {worse}  {axes:13s} "
        f"{sample}"
    )


def prediction_rows(store, study: str) -> list[str]:
    out = []
    for row in backtest(store, study, [1, QUARTER]).rows:
        k = "1 eval" if row["after_evals"] == 1 else "quarter"
        out.append(
            f"  predict after {k:7s} ({row['runs_predicted']} runs, {row['curves_predicted']} "
            f"curves): calibrated MdAPE "
            f"{_pct(row['mdape'])}, interval stated for {_pct(row['interval_stated'])} and its "
            f"80 % held {_pct(row['interval_coverage'])} (median width x{_num(row['interval_width'])}), "
            f"predict_stop would stop "
            f"{_pct(row['reached_stopped'])} of runs that reached and "
            f"{_pct(row['censored_stopped'])} of those that missed | fitted curves alone: MdAPE "
            f"{_pct(row['mdape_fit'])}, 80 % held {_pct(row['interval_coverage_fit'])}, would stop "
            f"{_pct(row['reached_stopped_fit'])}"
        )
    return out


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def report(store, study: str, args) -> None:
    if not load_curves(store, study).setup_means_j():  # no best setup, so no share of it
        print(f"\n{study}: skipped, no setup reached the target with all its seeds")
        return
    grid_j, floor, seeds = floor_share(store, study)
    # zeus (unconfirmed) runs one seed of the best setup: the floor does not bind it
    beyond = "; above a tenth: no confirmed pick can meet the goal here" if floor > 0.1 else ""
    print(
        f"\n{study}: grid {grid_j:,.0f} J, floor {floor:.1%} (best setup's {seeds} seed{'s' if seeds != 1 else ''}{beyond})"
    )
    print(
        f"  {'strategy':9s} {'median':>7s} {'p90':>7s} {'in10%':>7s} {'both':>7s} noise  worse  cost axes     sample"
    )
    for strategy in args.strategies:
        print(strategy_row(store, study, strategy, args.repeats, args.seed), flush=True)
    if not args.no_predict:
        print("\n".join(prediction_rows(store, study)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="a folder of trace CSVs + README")
    parser.add_argument("--target", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--studies", nargs="+", default=None, help="which of the folder's files")
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--grids-db",
        type=Path,
        action="append",
        default=[],
        help=f"own grids' store, repeatable (default: {GRIDS_DB.relative_to(GRIDS_DB.parents[2])})",
    )
    parser.add_argument("--grids", nargs="+", default=list(GRIDS), help="which of our own grids")
    parser.add_argument("--no-cost-axes", action="store_true", help="import without them")
    parser.add_argument("--no-predict", action="store_true")
    parser.add_argument(
        "--evaluations-every",
        type=int,
        default=1,
        metavar="K",
        help="replay the traces with an evaluation every K epochs only (and each run's last)",
    )
    args = parser.parse_args()
    if args.evaluations_every < 1:
        parser.error(
            f"--evaluations-every takes a whole number of epochs >= 1, got {args.evaluations_every}"
        )
    began = time.perf_counter()
    print(f"replays, {args.repeats} orders, seed {args.seed}; confirmation on 3 seeds counted")
    targets = {**readme_targets(args.data), **overrides(args.target, args.data)}
    if not args.data.is_dir():
        print(f"traces: no folder {args.data} (--data)")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "traces.db"
        studies = import_folder(
            args.data, db, targets, args.studies, not args.no_cost_axes, args.evaluations_every
        )
        if studies:
            with SqliteStore(db) as store:
                for study in studies:
                    report(store, study, args)
    for grids_db in args.grids_db or [GRIDS_DB]:
        own_grids(grids_db, args)
    print(f"\nfinished in {time.perf_counter() - began:.0f} s")


def own_grids(grids_db: Path, args) -> None:
    if not grids_db.is_file():
        examples = ", ".join(f"examples/{g}.yaml" for g in GRIDS)
        print(
            f"\nown grids: {grids_db} is not a file; run {examples} into one store and pass it as "
            "--grids-db"
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        if grids_db.suffix == ".gz":
            unpacked = Path(tmp) / grids_db.stem
            with gzip.open(grids_db, "rb") as packed, open(unpacked, "wb") as out:
                shutil.copyfileobj(packed, out)
            grids_db = unpacked
        with SqliteStore(grids_db) as store:
            names = {s["name"] for s in store.studies()}
            for study in [g for g in args.grids if g in names]:
                report(store, study, args)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
