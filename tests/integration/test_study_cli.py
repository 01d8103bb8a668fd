from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.cli_helpers import assert_one_clear_error, powertrain

STUDY = {
    "name": "tiny",
    "task": {
        "dataset": "digits",
        "model": "mlp",
        "model_options": {"hidden": [32]},
        "target_accuracy": 0.9,
        "eval_every_steps": 10,
        "max_epochs": 3,
    },
    "grid": {"learning_rate": [0.02, 0.2], "batch_size": [32, 128]},
    "seeds": [0, 1],
    "meters": {"backends": ["estimate"]},
}


def write(tmp_path: Path, study: dict, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(study))
    return path


def rows(db: Path, query: str):
    with sqlite3.connect(db) as con:
        return con.execute(query).fetchall()


def test_run_records_every_run_and_a_second_run_resumes_without_duplicates(tmp_path):
    db = tmp_path / "r.db"
    path = write(tmp_path, STUDY)
    first = powertrain("run", str(path), "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "8 runs done" in first.stderr
    before = rows(db, "SELECT id, run_key, status, outcome FROM runs ORDER BY id")
    assert len(before) == 8 and all(r[2] in ("reached", "censored") for r in before)
    assert rows(db, "SELECT COUNT(*) FROM eval_points")[0][0] > 8
    again = powertrain("run", str(path), "--db", str(db))
    assert "0 runs done, 8 already finished" in again.stderr
    assert rows(db, "SELECT id, run_key, status, outcome FROM runs ORDER BY id") == before

    listing = json.loads(powertrain("ls", "--db", str(db), "--json").stdout)
    assert len(listing) == 8
    assert {r["method"] for r in listing} == {"ESTIMATE (cpu estimate, ram estimate)"}
    assert all(r["hardware"]["torch"] and r["hardware"]["cpu_model"] for r in listing)
    reached = [r for r in listing if r["status"] == "reached"]
    assert reached and all(r["outcome"]["energy_to_target_j"] > 0 for r in reached)
    table = powertrain("ls", "--db", str(db))
    assert "learning_rate" in table.stdout and "ESTIMATE" in table.stdout


def test_a_run_killed_mid_study_resumes_with_every_run_finished_exactly_once(tmp_path):
    db = tmp_path / "r.db"
    study = {**STUDY, "task": {**STUDY["task"], "target_accuracy": 0.99, "max_epochs": 6}}
    path = write(tmp_path, study)
    proc = subprocess.Popen(
        [sys.executable, "-m", "powertrain.cli", "run", str(path), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while (
        time.monotonic() < deadline
    ):  # kill once two runs finished and a third has points recorded
        time.sleep(0.05)
        if not db.exists():
            continue
        try:
            finished = rows(db, "SELECT COUNT(*) FROM runs WHERE status != 'running'")[0][0]
            partial = rows(
                db,
                "SELECT COUNT(*) FROM eval_points e JOIN runs r ON r.id = e.run_id "
                "WHERE r.status = 'running'",
            )[0][0]
        except sqlite3.OperationalError:
            continue
        if finished >= 2 and partial >= 1:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = rows(
        db, "SELECT id, run_key, status, outcome FROM runs WHERE status != 'running'"
    )
    assert len(done_before) >= 2
    assert rows(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'")[0][0] == 1

    resumed = powertrain("run", str(path), "--db", str(db), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    keys = rows(db, "SELECT run_key, COUNT(*) FROM runs GROUP BY run_key")
    assert len(keys) == 8 and all(count == 1 for _, count in keys)
    assert rows(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'")[0][0] == 0
    after = {r[0]: r for r in rows(db, "SELECT id, run_key, status, outcome FROM runs")}
    for row in done_before:
        assert after[row[0]] == row  # earlier finished runs unchanged
    orphans = rows(db, "SELECT COUNT(*) FROM eval_points WHERE run_id NOT IN (SELECT id FROM runs)")
    assert orphans[0][0] == 0


def test_a_failing_run_is_recorded_and_the_study_goes_on(tmp_path):
    db = tmp_path / "r.db"
    study = {
        **STUDY,
        "grid": {"learning_rate": [0.1]},
        "seeds": [0],
        "task": {**STUDY["task"], "model_options": {"hidden": [-1]}},
    }  # torch refuses to build it
    path = write(tmp_path, study)
    run = powertrain("run", str(path), "--db", str(db))
    assert run.returncode == 0, run.stderr
    ((status, outcome),) = rows(db, "SELECT status, outcome FROM runs")
    assert status == "failed" and json.loads(outcome)["error"]


def test_bad_study_files_get_one_clear_line_and_nothing_runs(tmp_path):
    db = tmp_path / "r.db"
    study = {**STUDY, "task": {**STUDY["task"], "target_accuracy": 2}}
    assert_one_clear_error(
        powertrain("run", str(write(tmp_path, study)), "--db", str(db)),
        "task.target_accuracy: must be in (0, 1]",
    )
    assert not db.exists()
    assert_one_clear_error(
        powertrain("run", str(tmp_path / "absent.yaml")), "cannot read study file"
    )
    assert_one_clear_error(powertrain("ls", "--db", str(tmp_path / "none.db")), "no results store")
    gpu_only = {**STUDY, "grid": {"precision": ["fp32", "bf16"]}, "device": "cpu"}
    gpu_file = write(tmp_path, gpu_only, "gpu.yaml")
    assert_one_clear_error(
        powertrain("run", str(gpu_file), "--db", str(db)), "precision bf16 is for GPUs"
    )


def test_quickstart_example_runs_in_a_small_variant(tmp_path):
    quickstart = yaml.safe_load(Path("examples/quickstart.yaml").read_text())
    quickstart["task"]["dataset_options"] = {"train_size": 300, "val_size": 100, "test_size": 100}
    quickstart["task"]["max_epochs"] = 1
    quickstart["task"]["model_options"] = {"channels": 4, "hidden": 16}
    quickstart["seeds"] = [0]
    db = tmp_path / "q.db"
    run = powertrain("run", str(write(tmp_path, quickstart)), "--db", str(db))
    assert run.returncode == 0, run.stderr
    assert rows(db, "SELECT COUNT(*) FROM runs WHERE status IN ('reached', 'censored')")[0][0] == 6
