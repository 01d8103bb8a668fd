"""Many runs at once, for real: `powertrain run --workers 2` with a worker or the coordinator killed
(SIGKILL) and resumed, two machines' shards merged, and two `powertrain run` processes on one store.
Each ends with every (setup, seed) finished exactly once and no run trained twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

from tests.cli_helpers import last_json, powertrain

#: 2 setups x 2 seeds; the target is out of reach, so each run trains its epochs (a few seconds).
SLOW = {
    "name": "par",
    "task": {
        "dataset": "digits",
        "model": "mlp",
        "model_options": {"hidden": [32]},
        "target_accuracy": 0.999,
        "eval_every_steps": 20,
        "max_epochs": 30,
    },
    "grid": {"learning_rate": [0.01, 0.02]},
    "train": {"batch_size": 16},
    "seeds": [0, 1],
    "threads": 1,
    "meters": {"backends": ["estimate"]},
}
QUICK = {**SLOW, "task": {**SLOW["task"], "target_accuracy": 0.9, "max_epochs": 3}}


def write(tmp_path: Path, study: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def rows(db: Path, query: str):
    with sqlite3.connect(db) as con:
        return con.execute(query).fetchall()


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "powertrain.cli", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def workers_of(pid: int) -> list[psutil.Process]:
    """The coordinator's worker processes (not multiprocessing's resource tracker)."""
    children = psutil.Process(pid).children()
    return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]


def wait_for_two_running_runs(db: Path, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    """Until two runs are being trained at once, each with an evaluation point recorded."""
    query = (
        "SELECT COUNT(DISTINCT r.id) FROM runs r JOIN eval_points e ON e.run_id = r.id"
        " WHERE r.status = 'running'"
    )
    wait_until(db, proc, lambda: rows(db, query)[0][0] >= 2, "two runs never trained at once")


def wait_until(db: Path, proc: subprocess.Popen, ready, never: str, timeout_s: float = 120) -> None:
    """Until ``ready()`` (on the store ``db`` that ``proc`` writes), else fail with ``never``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
        try:
            if ready():
                return
        except sqlite3.OperationalError:  # not created yet
            continue
    raise AssertionError(never)


def assert_each_run_once(db: Path, count: int | None = 4) -> list[tuple]:
    """One finished record per run key (``count`` of them; None: however many), points unbroken."""
    keys = rows(db, "SELECT run_key, COUNT(*) FROM runs GROUP BY run_key")
    assert keys and all(n == 1 for _, n in keys), keys
    assert count is None or len(keys) == count, keys
    assert rows(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'")[0][0] == 0
    for (run_id,) in rows(db, "SELECT id FROM runs"):  # one unbroken sequence of points per run
        indices = [i for (i,) in rows(db, f"SELECT idx FROM eval_points WHERE run_id = {run_id}")]
        assert indices == list(range(len(indices)))
    return rows(db, "SELECT run_key, status, outcome FROM runs")


def test_two_workers_run_a_study_and_a_killed_worker_is_a_failed_run_then_resumed(tmp_path):
    db, path = tmp_path / "r.db", write(tmp_path, SLOW)
    proc = start(str(path), "--db", str(db), "--workers", "2", "--json")
    wait_for_two_running_runs(db, proc)
    victim = workers_of(proc.pid)[0]
    victim.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert last_json(out)["ran"] == 4  # the study went on with a new worker
    failed = [r for r in assert_each_run_once(db) if r[1] == "failed"]
    assert len(failed) == 1
    assert (
        "worker process running it died (killed by signal 9)" in json.loads(failed[0][2])["error"]
    )

    again = powertrain("run", str(path), "--db", str(db), "--workers", "2", "--retry-failed")
    assert again.returncode == 0, again.stderr
    statuses = {status for _, status, _ in assert_each_run_once(db)}
    assert statuses <= {"reached", "censored"}


def kill_the_coordinator_and_run_again(tmp_path, strategy: str | None, wait) -> tuple:
    """Start a study (with a search ``strategy``, or none) on two workers, kill its coordinator once
    ``wait(db, proc)`` returns (its workers must exit with it), then run it again: (store, runs left
    running, the second run)."""
    db, path = tmp_path / "r.db", write(tmp_path, SLOW)
    search = ("--strategy", strategy) if strategy else ()
    args = ("--db", str(db), *search, "--workers", "2")
    proc = start(str(path), *args)
    wait(db, proc)
    workers = workers_of(proc.pid)
    assert len(workers) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    _gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "a worker trained on for a coordinator that is gone"
    running = rows(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'")[0][0]
    return db, running, powertrain("run", str(path), *args, timeout=300)


def test_a_killed_coordinator_takes_its_workers_with_it_and_the_next_run_finishes_the_study(
    tmp_path,
):
    db, running, resumed = kill_the_coordinator_and_run_again(
        tmp_path, None, wait_for_two_running_runs
    )
    assert running >= 2
    assert resumed.returncode == 0, resumed.stderr
    statuses = {status for _, status, _ in assert_each_run_once(db)}
    assert statuses <= {"reached", "censored"}


def test_two_shards_on_two_stores_merge_into_every_run_exactly_once(tmp_path):
    path = write(tmp_path, QUICK)
    parts = [tmp_path / "a.db", tmp_path / "b.db"]
    for i, db in enumerate(parts):
        done = powertrain("run", str(path), "--db", str(db), "--shard", f"{i}/2", "--json")
        assert done.returncode == 0, done.stderr
    counts = [rows(db, "SELECT COUNT(*) FROM runs")[0][0] for db in parts]
    assert sum(counts) == 4
    merged = tmp_path / "all.db"
    result = powertrain("merge", *map(str, parts), "-o", str(merged))
    assert result.returncode == 0, result.stderr
    assert_each_run_once(merged)
    again = powertrain("run", str(path), "--db", str(merged))
    assert "0 runs done, 4 already finished" in again.stderr


def test_two_processes_on_one_store_train_each_run_once_and_neither_fails(tmp_path):
    db, path = (
        tmp_path / "r.db",
        write(tmp_path, {**SLOW, "task": {**SLOW["task"], "max_epochs": 6}}),
    )
    first = start(str(path), "--db", str(db), "--json")
    second = start(str(path), "--db", str(db), "--json")
    results = [p.communicate(timeout=300) for p in (first, second)]
    for proc, (_out, err) in zip((first, second), results, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    ran = [last_json(out)["ran"] for out, _ in results]
    assert sum(ran) == 4, ran  # every run trained by one of them, none by both
    assert_each_run_once(db)
