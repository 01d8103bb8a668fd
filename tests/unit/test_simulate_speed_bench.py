"""benchmarks/simulate_speed.py: it times each strategy's replay on this checkout's code and on a
baseline's, side by side, and fails loudly when the two replays' results differ. (The figures are the
benchmark's to print; these check the behaviour.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "benchmarks" / "simulate_speed.py"


def trace_folder(folder: Path) -> Path:
    """Three batch sizes x two power limits x three seeds; the limit changes only the energy."""
    rows = ["seed,epoch,energy_j,val_accuracy,batch_size,power_limit_w"]
    for batch, epochs in ((64, 8), (128, 5), (256, 6)):
        for limit, joules in ((150, 900), (250, 1000)):
            for seed in (1, 2, 3):
                for epoch in range(1, 13):
                    accuracy = min(0.9, 0.9 * epoch / (epochs + seed % 2))
                    rows.append(f"{seed},{epoch},{epoch * joules},{accuracy:.3f},{batch},{limit}")
    (folder / "made-up.csv").write_text("\n".join(rows) + "\n")
    return folder


def run(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), "--data", str(folder), "--study", "made-up"]
    command += ["--target", "0.85", "--repeats", "3", "--strategies", "bound", "zeus", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_the_same_code_as_baseline_gives_identical_results_side_by_side(tmp_path):
    done = run(trace_folder(tmp_path), "--against", str(ROOT / "src"))
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.endswith("identical")]
    assert [(r[0], r[1]) for r in rows] == [
        (axis, strategy) for axis in ("none", "power_limit_w") for strategy in ("bound", "zeus")
    ]
    assert all(float(r[2]) >= 0 and float(r[3]) >= 0 and r[4].endswith("x") for r in rows)


def test_a_baseline_whose_results_differ_fails_loudly(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(
        ROOT / "src" / "powertrain",
        tree / "powertrain",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    simulate = tree / "powertrain" / "search" / "simulate.py"
    text = simulate.read_text()
    grid = "return sum(c.end_energy_j for c in self.curves.values())"
    assert grid in text
    simulate.write_text(text.replace(grid, f"{grid} + 1.0"))  # every share a little off
    done = run(trace_folder(tmp_path), "--against", str(tree), "--cost-axis", "none")
    assert done.returncode == 1
    assert "DIFFERENT" in done.stdout and "results differ at .grid_energy_j" in done.stdout
    assert "differ from the baseline" in done.stderr
