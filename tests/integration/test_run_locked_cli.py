"""``powertrain run`` whose store another process locks while a run trains: the run that trained
is never recorded FAILED. Its end, refused through every try, is kept beside the store with the
command that merges it back; the next run, which cannot be claimed, ends the command with one line
saying the store is locked by another process."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from powertrain import open_store
from powertrain.records import CENSORED, FAILED

STUDY = {
    "name": "locked",
    "task": {
        "dataset": "digits",
        "model": "mlp",
        "model_options": {"hidden": [16]},
        "target_accuracy": 0.999,
        "eval_every_steps": 10,
        "max_epochs": 2,
    },
    "grid": {"learning_rate": [0.05, 0.1]},
    "train": {"batch_size": 32},
    "threads": 1,
    "meters": {"backends": ["estimate"]},
}

#: ``powertrain run`` with the wait for a lock shortened (30 s otherwise, at each of three tries).
QUICK_LOCK = """
import runpy, sys
from powertrain.store import sqlite_open
sqlite_open.BUSY_TIMEOUT_S = 0.3
sys.argv = ["powertrain", *sys.argv[1:]]
runpy.run_module("powertrain.cli", run_name="__main__")
"""


def points_in(db: Path) -> int:
    try:
        with sqlite3.connect(db) as read:
            return read.execute("SELECT COUNT(*) FROM eval_points").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_store_locked_mid_run_keeps_the_run_beside_it_and_ends_in_one_line(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    db = tmp_path / "runs.db"
    process = subprocess.Popen(
        [sys.executable, "-c", QUICK_LOCK, "run", "study.yaml", "--db", "runs.db"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while points_in(db) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # held until the command has ended
    try:
        _, stderr = process.communicate(timeout=300)
    finally:
        other.rollback()
        other.close()
    assert process.returncode == 2 and "Traceback" not in stderr, stderr
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    assert f"powertrain merge {kept} -o runs.db" in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("powertrain: error: the results store") and "locked by another" in last
    with open_store(db) as store:
        assert FAILED not in [r.status for r in store.runs("locked")]
    with open_store(kept) as side:
        [record] = side.runs("locked")
        assert record.status == CENSORED and record.outcome.error is None
