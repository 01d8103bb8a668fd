"""How long a search replay takes (``powertrain simulate``, and each strategy ``powertrain report``
replays), this checkout's code beside a baseline's, on one trace of the Zeus NSDI'23 development set
(../shared/data/zeus-nsdi23 beside the checkout, or any folder laid out like it with --data).

The trace is imported as ``powertrain import`` does, once plain and once with ``--cost-axis
power_limit_w`` (each cost-axis value priced, the curve searched once per batch size), unless
``--cost-axis`` picks one. Each tree's code runs in its own process (``PYTHONPATH`` at its ``src``):
it imports the trace with its own importer, loads the curves once, then times ``simulate`` of each
strategy over ``--repeats`` orders; ``--reps`` such processes per tree, the trees taking turns, the
best time kept (each process starts cold, as ``powertrain report`` does: a fit kept from one
replay never times the next). The baseline is the code of a
git revision (``--baseline REV``, written out with ``git archive`` into a temporary folder; by default
the merge-base with main, which a commit on main must name: ``--baseline 7c38dbd`` is main before
replays were made fast) or a source tree (``--against DIR``, a folder holding ``powertrain``).

Per variant and strategy it prints the baseline's seconds, this checkout's, their ratio, and whether
the two replays' results are identical (every order's pick, energy, share and verdict, the summary,
the warnings: the whole ``Simulation.to_dict()`` but which studies the strategy's settings were
chosen on, bookkeeping that a later commit may extend). A difference is printed where it first
shows (an order's pick, a share...) and the script exits 1: a faster replay that changes a result is a bug, not a speed-up.
The load average is printed before and after: the machine's other work slows both trees alike only
when it is steady.

    python benchmarks/simulate_speed.py [--data DIR] [--study cifar100-v100] [--target 0.6]
        [--repeats 50] [--reps 1] [--strategies bound halving auto thompson zeus]
        [--cost-axis both|none|power_limit_w] [--baseline REV | --against DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "zeus-nsdi23"  # the checkout sits beside shared/
STRATEGIES = ["bound", "halving", "auto", "thompson", "zeus"]
COST_AXIS = "power_limit_w"
BEFORE = "7c38dbd"  # main before replays were made fast


#: What a Simulation says of the strategy rather than of the replay: left out of the comparison.
BOOKKEEPING = ("tuned_on", "in_sample")


def worker(args) -> None:
    """In a tree's process: import, load, time each strategy's replay; one JSON line per strategy."""
    import numpy as np

    import powertrain
    from powertrain.search.importer import import_csv
    from powertrain.search.simulate import load_curves, simulate
    from powertrain.store.sqlite import SqliteStore

    np.seterr(all="ignore")
    print(json.dumps({"powertrain": powertrain.__file__}), flush=True)
    axes = [] if args.cost_axis == "none" else [args.cost_axis]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "trace.db"
        import_csv(args.data / f"{args.study}.csv", args.study, args.target, db, axes)
        with SqliteStore(db) as store:
            curves = load_curves(store, args.study)
    for strategy in args.strategies:
        began = time.perf_counter()
        sim = simulate(curves, strategy=strategy, repeats=args.repeats, seed=args.seed)
        seconds = time.perf_counter() - began
        result = {k: v for k, v in sim.to_dict().items() if k not in BOOKKEEPING}
        print(json.dumps({"strategy": strategy, "seconds": seconds, "result": result}))


def replay(src: Path, args, cost_axis: str) -> dict[str, dict]:
    """The worker run on the code under ``src``: {strategy: {"seconds", "result"}}."""
    command = [sys.executable, __file__, "--worker", "--cost-axis", cost_axis]
    command += ["--data", str(args.data), "--study", args.study, "--target", str(args.target)]
    command += ["--repeats", str(args.repeats), "--seed", str(args.seed)]
    command += ["--strategies", *args.strategies]
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the replay on {src} failed:\n{done.stderr.strip()}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    where = Path(lines[0]["powertrain"]).resolve()
    if src.resolve() not in where.parents:  # an installed powertrain would time the wrong code
        sys.exit(f"the replay meant for {src} imported powertrain from {where}")
    return {line["strategy"]: line for line in lines[1:]}


def best_of(runs: list[dict[str, dict]], src: Path) -> dict[str, dict]:
    """Each strategy's best time over ``runs`` (replays of the code under ``src``), and its result,
    which must be the same every time: a replay is deterministic for a seed."""
    for run in runs[1:]:
        for strategy, line in run.items():
            if (diff := first_difference(runs[0][strategy]["result"], line["result"])) is not None:
                sys.exit(f"{strategy} on {src} replayed differently twice, at {diff}")
    return {s: {**runs[0][s], "seconds": min(run[s]["seconds"] for run in runs)} for s in runs[0]}


def first_difference(a, b, path: str = "") -> str | None:
    """Where two results (JSON values) first differ, as ``path: a != b``; None when identical."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'the baseline' if key in a else 'this checkout'}"
            if (found := first_difference(a[key], b[key], f"{path}.{key}")) is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if (found := first_difference(x, y, f"{path}[{i}]")) is not None:
                return found
        return None if len(a) == len(b) else f"{path}: {len(a)} items != {len(b)}"
    same = a == b or (a != a and b != b)  # NaN is the same NaN
    return None if same and type(a) is type(b) else f"{path}: {a!r} (baseline) != {b!r}"


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def default_baseline() -> str:
    """The merge-base with main, where that is not this commit."""
    base = git("merge-base", "HEAD", "main")
    if base == git("rev-parse", "HEAD"):
        sys.exit(
            "this commit is on main: name the baseline with --baseline REV (replays were made fast"
            f" after {BEFORE}; results that main changed since differ from it, as they should)"
        )
    return base


def baseline_tree(rev: str, folder: Path) -> Path:
    """The revision's ``src`` written out under ``folder``; returns it."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def compare(base: dict, mine: dict, args, variant: str) -> bool:
    """Print a row per strategy; True when every result is identical."""
    same = True
    for strategy in args.strategies:
        b, m = base[strategy], mine[strategy]
        diff = first_difference(b["result"], m["result"])
        ratio = b["seconds"] / m["seconds"] if m["seconds"] > 0 else float("inf")
        verdict = "identical" if diff is None else "DIFFERENT"
        print(
            f"  {variant:13s} {strategy:9s} {b['seconds']:9.3f} {m['seconds']:9.3f} "
            f"{ratio:7.1f}x  {verdict}",
            flush=True,
        )
        if diff is not None:
            print(f"    results differ at {diff}")
            same = False
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="a folder of trace CSVs")
    parser.add_argument("--study", default="cifar100-v100", help="which of its files")
    parser.add_argument("--target", type=float, default=None, help="else the README table's")
    parser.add_argument("--repeats", type=int, default=50, help="orders per replay")
    parser.add_argument("--reps", type=int, default=1, help="processes per tree (the best kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    parser.add_argument("--cost-axis", choices=["both", "none", COST_AXIS], default="both")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--baseline", help="a git revision (default: the merge-base with main)")
    which.add_argument("--against", type=Path, help="a source tree (a folder with powertrain)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if not (args.data / f"{args.study}.csv").is_file():
        sys.exit(f"no {args.study}.csv in {args.data} (--data, --study)")
    if args.target is None:
        from search_traces import readme_targets  # beside this script

        args.target = readme_targets(args.data).get(args.study)
        if args.target is None:
            sys.exit(f"no target for {args.study} in {args.data}/README.md: give --target")
    variants = ["none", COST_AXIS] if args.cost_axis == "both" else [args.cost_axis]
    with tempfile.TemporaryDirectory() as tmp:
        if args.against is not None:
            base_src, named = args.against.resolve(), str(args.against)
        else:
            rev = args.baseline or default_baseline()
            base_src, named = (
                baseline_tree(rev, Path(tmp)),
                f"{rev} ({git('rev-parse', '--short', rev)})",
            )
        print(
            f"{args.study}: {args.repeats} orders per replay, seed {args.seed}, best of {args.reps};"
            f" baseline {named}, this checkout {ROOT}; load average {load()}"
        )
        print(f"  {'cost axis':13s} {'strategy':9s} {'baseline':>9s} {'this':>9s} {'ratio':>8s}")
        same = True
        for variant in variants:
            trees = [(base_src, []), (ROOT / "src", [])]  # the same folder, with --against it
            for _ in range(args.reps):  # the trees take turns: a change of load hits both
                for src, runs in trees:
                    runs.append(replay(src, args, variant))
            base, mine = (best_of(runs, src) for src, runs in trees)
            same = compare(base, mine, args, variant) and same
    print(f"seconds per replay of {args.repeats} orders; load average after {load()}")
    if not same:
        sys.exit("the replays' results differ from the baseline's (see above)")


if __name__ == "__main__":
    main()
