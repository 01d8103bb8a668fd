"""Starting a measurement: ``detect_meters()`` + a monitor's start, one window, stop and close, in a
fresh process (where the lazy work is paid: entry points, driver probes, the CPU table), beside a plain
run of the same process that does none of it.

Prints, per source tree, the median over ``--reps`` fresh processes of: the start + stop time (target:
under 0.05 s), the plain process's wall time, the measured process's wall time, and their ratio.
``--against /other/checkout/src`` prints a second tree's figures beside this one's (the baseline).

    python benchmarks/meter_startup.py [--reps 15] [--against /work/main/src]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"

PLAIN = "import powertrain.meters.detect, powertrain.monitor"
MEASURED = """
import time
import powertrain.meters.detect, powertrain.monitor
start = time.perf_counter()
detection = powertrain.meters.detect.detect_meters()
monitor = powertrain.monitor.Monitor(detection.meters, sample=True)
with monitor, monitor.window("w"):
    pass
detection.close()
print(time.perf_counter() - start)
"""


#: Byte code is kept (as an installed package has it), in a folder of its own, not beside the sources.
PYCACHE = Path(tempfile.gettempdir()) / "powertrain-bench-pycache"


def fresh(code: str, src: Path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    return time.perf_counter() - start, out


def measure(src: Path, reps: int) -> dict[str, float]:
    plain, measured, start_stop = [], [], []
    fresh(MEASURED, src)  # compiles the byte code once
    for _ in range(reps):  # interleaved, so that drifts in machine load touch both alike
        plain.append(fresh(PLAIN, src)[0])
        wall_s, out = fresh(MEASURED, src)
        measured.append(wall_s)
        start_stop.append(float(out.strip().splitlines()[-1]))
    return {
        "start + stop (s)": statistics.median(start_stop),
        "plain process (s)": statistics.median(plain),
        "measured process (s)": statistics.median(measured),
        "ratio measured / plain": statistics.median(
            m / p for m, p in zip(measured, plain, strict=True)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--against", type=Path, default=None, help="another tree's src folder")
    args = parser.parse_args()
    trees = {"this tree": HERE}
    if args.against is not None:
        trees["baseline"] = args.against.resolve()
    results = {name: measure(src, args.reps) for name, src in trees.items()}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"meter start-up, median of {args.reps} fresh processes; load average {load} on "
        f"{os.cpu_count()} CPU threads"
    )
    print(f"{'':26}" + "".join(f"{name:>14}" for name in results))
    for key in next(iter(results.values())):
        print(f"{key:26}" + "".join(f"{r[key]:>14.4f}" for r in results.values()))
    print("target: start + stop under 0.05 s")


if __name__ == "__main__":
    main()
