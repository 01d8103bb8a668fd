"""The command route end to end: the docs' own script and study (docs/your-script.md), through `powertrain run`, `ls`,
`report` and `measure --target`, as a user runs them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import powertrain as powertrain_package
from tests.cli_helpers import last_json, powertrain
from tests.docs_pages import block_starting


def user_folder(tmp_path: Path) -> dict:
    """train.py and study.yaml from the docs, and `python` on PATH meaning this interpreter."""
    (tmp_path / "train.py").write_text(block_starting("python", "# train.py"))
    (tmp_path / "study.yaml").write_text(block_starting("yaml", "# study.yaml"))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    src = str(Path(powertrain_package.__file__).parents[1])  # this checkout's, from another folder
    return {"cwd": tmp_path, "env": {**os.environ, "PATH": path, "PYTHONPATH": src}}


def test_the_docs_command_study_reaches_the_target_and_is_listed_and_reported(tmp_path):
    where = user_folder(tmp_path)
    db = str(tmp_path / "runs.db")
    ran = powertrain("run", "study.yaml", "--db", db, timeout=600, **where)
    assert ran.returncode == 0, ran.stderr[-3000:]
    listed = powertrain("ls", "--db", db, "--json", **where)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert len(runs) == 2
    for run in runs:
        assert run["status"] == "reached", run
        outcome = run["outcome"]
        assert 0 < outcome["energy_to_target_j"] <= outcome["total_energy_j"]
        assert outcome["final_val_accuracy"] >= 0.9
    assert {r["setup"]["learning_rate"] for r in runs} == {0.01, 0.1}
    again = powertrain("run", "study.yaml", "--db", db, **where)
    assert (
        again.returncode == 0 and "0 runs done, 2 already finished" in again.stdout + again.stderr
    )
    report = powertrain("report", "--db", db, "--out", str(tmp_path / "report"), **where)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "report.html").is_file()


def test_measure_to_a_target_prints_the_energy_to_it_and_exits_with_the_command_s_code(tmp_path):
    where = user_folder(tmp_path)
    run = powertrain(
        "measure", "--target", "val_acc>=0.9", "--json", "--", "python", "train.py", **where
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = last_json(run.stdout)
    assert result["status"] == "reached" and result["exit_code"] == 0
    assert result["energy_to_target_j"] == result["points"][-1]["total_energy_j"]
    assert result["points"][-1]["val_accuracy"] >= 0.9 and result["estimated"] is True
    text = powertrain("measure", "--target", "val_acc>=0.9", "--", "python", "train.py", **where)
    assert text.returncode == 0 and "energy to target:" in text.stderr and "ESTIMATE" in text.stderr

    (tmp_path / "fail.py").write_text(
        "import sys\nprint('POWERTRAIN {\"val_acc\": 0.2}')\nsys.exit(3)\n"
    )
    failed = powertrain("measure", "--target", "val_acc>=0.9", "--", "python", "fail.py", **where)
    assert failed.returncode == 3 and "failed: the command exited with code 3" in failed.stderr
    missing = powertrain("measure", "--target", "val_acc>=0.9", "--", "no-such-program-xyz")
    assert missing.returncode == 127
    assert missing.stderr.strip() == "powertrain: error: command not found: no-such-program-xyz"
