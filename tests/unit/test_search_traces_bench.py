"""benchmarks/search_traces.py on a folder laid out like the development set: it finds the CSVs, takes
each target from the folder's README table (or --target), and names in one line a file it cannot use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "search_traces.py"
README = """# Made-up traces

| file | workload | target (val_accuracy) |
|---|---|---|
| good.csv | made up | 0.85 |
| nocolumn.csv | made up | 0.85 |
| untargeted.csv | made up | n/a |
"""


def trace(accuracy_column: str = "val_accuracy") -> str:
    """Two batch sizes x two power limits x three seeds; the limit changes only the energy."""
    rows = [f"seed,epoch,energy_j,{accuracy_column},batch_size,power_limit_w"]
    for batch, epochs in ((64, 8), (256, 6)):
        for limit, joules in ((150, 900), (250, 1000)):
            for seed in (1, 2, 3):
                for epoch in range(1, 13):
                    accuracy = min(0.9, 0.9 * epoch / (epochs + seed % 2))
                    rows.append(f"{seed},{epoch},{epoch * joules},{accuracy:.3f},{batch},{limit}")
    return "\n".join(rows) + "\n"


def run(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), "--data", str(folder), "--repeats", "3"]
    command += ["--strategies", "auto", "--no-predict", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_targets_from_the_readme_and_unusable_files_named_in_one_line(tmp_path):
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "good.csv").write_text(trace())
    (tmp_path / "nocolumn.csv").write_text(trace("accuracy"))
    (tmp_path / "untargeted.csv").write_text(trace())
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("good: grid") for line in lines)
    assert any(line.startswith("nocolumn.csv: skipped, no val_accuracy column") for line in lines)
    assert any(line.startswith("untargeted.csv: skipped, no target") for line in lines)
    assert "power_limit_w" in done.stdout  # priced as a cost axis: the file has the column


def test_a_target_given_on_the_command_line_sets_or_overrides_the_readmes(tmp_path):
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "untargeted.csv").write_text(trace())
    done = run(tmp_path, "--target", "untargeted=0.8")
    assert done.returncode == 0, done.stderr
    assert any(line.startswith("untargeted: grid") for line in done.stdout.splitlines())
    bad = run(tmp_path, "--target", "untargeted=high")
    assert bad.returncode != 0 and "--target takes NAME=VALUE" in bad.stderr
    assert "Traceback" not in bad.stderr
