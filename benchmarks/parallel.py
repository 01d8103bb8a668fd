"""Parallel runs: the same small study with 1 and with 2 workers on this machine, side by side.

Prints, as ratios (2 workers / 1 worker): the wall time of the whole study, and each setup's median
energy to target. Then, for the 2-worker sweep, the runs' apportioned package + DRAM energy summed
against the machine's own total over the sweep.

The energy comes from a fake powercap tree at a known power (a thread advances ``energy_uj`` at
PACKAGE_W and DRAM_W; ``POWERTRAIN_POWERCAP_ROOT`` points every process at it), so the check of the
parts against the whole is exact arithmetic on known watts, not a measurement of this machine: with 1
worker each run's counter holds the whole machine's energy while it ran; with 2, each run gets its
CPU-time share of each interval (labelled apportioned, an ESTIMATE).

    python benchmarks/parallel.py [--seeds 2] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

PACKAGE_W, DRAM_W = 30.0, 5.0
TICK_S = 0.02


class FakePackage:
    """A powercap tree with one package and its DRAM zone, their counters advancing at known watts."""

    def __init__(self, root: Path) -> None:
        self.zones = {"intel-rapl:0": ("package-0", PACKAGE_W), "intel-rapl:0:0": ("dram", DRAM_W)}
        for folder, (name, _) in self.zones.items():
            (root / folder).mkdir(parents=True)
            (root / folder / "name").write_text(name + "\n")
            (root / folder / "max_energy_range_uj").write_text("262143328850\n")
            (root / folder / "energy_uj").write_text("0\n")
        self.root = root
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._advance, daemon=True)

    def _advance(self) -> None:
        start = time.monotonic()
        while not self._stop.wait(TICK_S):
            elapsed_s = time.monotonic() - start
            for folder, (_, power_w) in self.zones.items():
                tmp = self.root / folder / "energy_uj.tmp"
                tmp.write_text(f"{round(power_w * elapsed_s * 1e6)}\n")
                tmp.replace(self.root / folder / "energy_uj")  # a reader never sees half a number

    def __enter__(self) -> FakePackage:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def study(seeds: int, epochs: int):
    from powertrain.study.config import parse_study

    return parse_study(
        {
            "name": "parallel-bench",
            "task": {
                "dataset": "digits",
                "model": "mlp",
                "model_options": {"hidden": [64]},
                "target_accuracy": 0.95,
                "eval_every_steps": 10,
                "max_epochs": epochs,
            },
            "grid": {"learning_rate": [0.05, 0.2]},
            "train": {"batch_size": 32},
            "seeds": list(range(seeds)),
            "threads": 1,
            "device": "cpu",
            "meters": {"backends": ["rapl"], "interval_s": 0.05},
        }
    )


def sweep(workers: int, seeds: int, epochs: int, folder: Path):
    """One sweep into a fresh store: (wall time, outcomes by setup, the result)."""
    from powertrain.meters.detect import detect_meters
    from powertrain.store.sqlite import SqliteStore
    from powertrain.study.executors.local import LocalExecutor
    from powertrain.study.executors.workers import WorkersExecutor
    from powertrain.study.runner import run_study

    s = study(seeds, epochs)
    detection = detect_meters(["rapl"]).require()
    executor = (
        WorkersExecutor(workers, cpu_count=os.cpu_count(), machine_meters=detection.meters)
        if workers > 1
        else LocalExecutor(detection=detection)
    )
    with SqliteStore(folder / f"w{workers}.db") as store:
        start = time.perf_counter()
        result = run_study(s, store, detection=detection, executor=executor)
        wall_s = time.perf_counter() - start
        by_setup: dict[str, list[float]] = {}
        for run in store.runs(s.name):
            label = " ".join(f"{k}={v}" for k, v in run.setup.items())
            if run.outcome.energy_to_target_j is not None:
                by_setup.setdefault(label, []).append(run.outcome.energy_to_target_j)
            else:
                by_setup.setdefault(label, [])
        methods = {p["method"] for r in store.runs(s.name) for p in r.provenance.values()}
        busy_s = busy_time_s(  # each run's measured window ends just before its finish is written
            [(r.finished_at - r.outcome.duration_s, r.finished_at) for r in store.runs(s.name)]
        )
    detection.close()
    return wall_s, by_setup, result, methods, busy_s


def busy_time_s(spans: list[tuple[float, float]]) -> float:
    """How long at least one run was being measured: the union of the runs' windows."""
    total_s, end = 0.0, float("-inf")
    for start, finish in sorted(spans):
        if finish > end:
            total_s += finish - max(start, end)
            end = finish
    return total_s


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakePackage(Path(tmp) / "powercap") as package:
        os.environ["POWERTRAIN_POWERCAP_ROOT"] = str(package.root)  # workers inherit it
        one = sweep(1, args.seeds, args.epochs, Path(tmp))
        two = sweep(2, args.seeds, args.epochs, Path(tmp))
    report(one, two, args)


def report(one, two, args) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min) at the end")
    print(
        f"study: digits, mlp, 2 setups x {args.seeds} seeds, {args.epochs} epochs at most, 1 thread a run"
    )
    print(f"energy: a fake RAPL package at {PACKAGE_W:g} W + DRAM at {DRAM_W:g} W (known power)")
    print(f"  1 worker: {sorted(one[3])}; 2 workers: {sorted(two[3])}\n")
    print(f"{'':34} {'1 worker':>10} {'2 workers':>10} {'2w / 1w':>8}")
    print(f"{'wall time of the study (s)':34} {one[0]:10.1f} {two[0]:10.1f} {two[0] / one[0]:8.2f}")
    for label in sorted(one[1]):
        a, b = median(one[1][label]), median(two[1].get(label, []))
        ratio = f"{b / a:8.2f}" if a and b else f"{'-':>8}"
        show = lambda v: f"{v:10.1f}" if v is not None else f"{'not reached':>10}"  # noqa: E731
        print(f"{'energy to target (J), ' + label:34} {show(a)} {show(b)} {ratio}")
    total = two[2].machine_total
    if total is None:
        print("\nno machine total: nothing was shared")
        return
    parts_j = sum(o.energy_j.get(c, 0.0) for o in two[2].outcomes for c in total.energy_j)
    power_w = PACKAGE_W + DRAM_W
    expected_j, busy_j = power_w * total.duration_s, power_w * two[4]
    print(
        f"\n2 workers, energy of the shared package + DRAM:"
        f"\n  machine total over the sweep (coordinator's own counter): {total.total_energy_j:8.1f} J"
        f"  (known: {power_w:g} W x {total.duration_s:.1f} s = {expected_j:.1f} J)"
        f"\n  while at least one run was measured ({two[4]:.1f} s):{'':13}{busy_j:8.1f} J"
        f"\n  the runs' apportioned parts, summed (ESTIMATE):{'':11}{parts_j:8.1f} J"
        f"  = {parts_j / busy_j:.0%} of the energy while runs were measured,"
        f" {parts_j / total.total_energy_j:.0%} of the sweep's"
        "\n  (the rest: worker start-up, setting up and writing each run, the coordinator's own"
        " CPU time while runs ran)"
    )


if __name__ == "__main__":
    main()
