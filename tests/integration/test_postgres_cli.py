"""Many processes, one PostgreSQL study, for real (the session's server): three `powertrain run` on
one study, a process SIGKILLed on one "node" whose run another takes over after the lease, and the
commands that read a study (import, ls, report, simulate, predict, merge) on a database, with a
password that never shows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from powertrain import open_store, track
from powertrain.records import REACHED
from tests.cli_helpers import last_json, powertrain
from tests.docs_pages import block_starting
from tests.integration.test_parallel_cli import QUICK, SLOW, write
from tests.integration.test_search_cli import good_csv


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "powertrain.cli", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def table(server, url: str, query: str) -> list[tuple]:
    """``query`` with ``runs`` and ``eval_points`` in the URL's schema."""
    schema = url.rsplit("schema=", 1)[1]
    query = query.replace("FROM runs", f"FROM {schema}.runs").replace(
        "FROM eval_points", f"FROM {schema}.eval_points"
    )
    return server.sql(query)


def assert_each_run_once(server, url: str, count: int) -> list[tuple]:
    """One finished record per run key, ``count`` of them, each with one unbroken run of points."""
    keys = table(server, url, "SELECT run_key, COUNT(*) FROM runs GROUP BY run_key")
    assert len(keys) == count and all(n == 1 for _, n in keys), keys
    assert table(server, url, "SELECT COUNT(*) FROM runs WHERE status = 'running'") == [(0,)]
    points = table(
        server, url, "SELECT run_id, array_agg(idx ORDER BY idx) FROM eval_points GROUP BY run_id"
    )
    assert all(list(idx) == list(range(len(idx))) for _, idx in points), points
    return table(server, url, "SELECT run_key, status, owner, hardware FROM runs")


def test_three_processes_on_one_postgres_study_train_each_run_once_and_none_fails(
    tmp_path, pg_url, postgres_server
):
    path = write(tmp_path, QUICK)
    procs = [start(str(path), "--db", pg_url, "--json") for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    ran = [last_json(out)["ran"] for out, _ in results]
    assert sum(ran) == 4, ran  # every run trained by one of them, none twice
    assert_each_run_once(postgres_server, pg_url, 4)


def wait_for(ready, procs, never: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in procs:
            assert proc.poll() is None, proc.communicate()
        if ready():
            return
        time.sleep(0.1)
    raise AssertionError(never)


def test_a_process_killed_on_one_node_loses_its_run_after_the_lease_and_another_records_it_once(
    tmp_path, pg_url, postgres_server
):
    path = write(tmp_path, {**SLOW, "task": {**SLOW["task"], "max_epochs": 6}})
    lease = {"POWERTRAIN_LEASE_S": "3"}  # a short lease, so the test does not wait a minute
    node_a = start(str(path), "--db", pg_url, env={**lease, "SLURMD_NODENAME": "node-a"})
    node_b = start(str(path), "--db", pg_url, "--json", env={**lease, "SLURMD_NODENAME": "node-b"})
    held_by_a = (
        "SELECT r.run_key FROM runs r WHERE r.status = 'running' AND r.owner LIKE 'node-a:%'"
        " AND EXISTS (SELECT 1 FROM eval_points e WHERE e.run_id = r.id)"
    )

    def a_is_mid_run() -> bool:
        try:
            return bool(table(postgres_server, pg_url, held_by_a))
        except psycopg.errors.UndefinedTable:  # not made yet
            return False

    wait_for(a_is_mid_run, [node_a, node_b], "node-a never got half-way through a run")
    ((killed_key,),) = table(postgres_server, pg_url, held_by_a)
    killed_at = time.monotonic()
    node_a.send_signal(signal.SIGKILL)
    node_a.communicate()
    out, err = node_b.communicate(timeout=300)
    assert node_b.returncode == 0, err
    assert "Traceback" not in err
    assert time.monotonic() - killed_at >= 3  # not before the lease ran out
    records = {key: (status, owner) for key, status, owner, _ in assert_each_run_once(
        postgres_server, pg_url, 4)}  # fmt: skip
    status, owner = records[killed_key]
    assert status in ("reached", "censored") and owner.startswith("node-b:")
    finished_by_a = sum(owner.startswith("node-a:") for _, owner in records.values())
    assert last_json(out)["ran"] == 4 - finished_by_a


def test_import_ls_report_simulate_predict_and_merge_on_a_postgres_study_never_show_the_password(
    tmp_path, pg_url, postgres_server
):
    role = postgres_server.add_password_role("pw-XYZZY")
    url = pg_url.replace("powertrain@", f"{role}:pw-XYZZY@")
    steps = [
        ("import", str(good_csv(tmp_path / "a.csv", rows_per_run=8)), "--study", "paper",
         "--target", "0.85", "--db", url),
        ("ls", "--db", url, "--study", "paper", "--json"),
        ("report", "--db", url, "--study", "paper", "--out", str(tmp_path / "report")),
        ("simulate", "--study", "paper", "--strategy", "halving", "--repeats", "3", "--db", url,
         "--json"),
        ("predict", "--study", "paper", "--db", url, "--json"),
        ("headline", "--db", url),
        ("merge", url, "-o", str(tmp_path / "home.db")),
        ("merge", str(tmp_path / "home.db"), "-o", url),
    ]  # fmt: skip
    outputs = {}
    for args in steps:
        done = powertrain(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "pw-XYZZY" not in done.stdout + done.stderr, args
        outputs[args[0]] = done
    assert len(json.loads(outputs["ls"].stdout)) == 9
    assert "9 runs imported" in outputs["import"].stdout
    assert f"{role}:***@" in outputs["import"].stdout
    assert "0 runs and 0 studies added, 9 runs already there" in outputs["merge"].stdout
    for file in (tmp_path / "report").rglob("*"):
        if file.is_file():
            assert b"pw-XYZZY" not in file.read_bytes(), file
    with open_store(tmp_path / "home.db") as home:
        assert len(home.runs("paper")) == 9


def test_a_live_search_runs_on_a_postgres_study_and_keeps_its_cost_there(tmp_path, pg_url):
    done = powertrain("run", str(write(tmp_path, QUICK)), "--db", pg_url, "--strategy", "halving")
    assert done.returncode == 0, done.stderr
    assert "search halving on par" in done.stderr
    with open_store(pg_url) as store:
        assert store.search_costs()["par"]["study"] == "par"
        assert store.runs("par") and all(r.outcome.verdict for r in store.runs("par"))


def test_track_writes_a_users_own_loop_to_postgres(pg_url):
    accuracies = [0.5, 0.8, 0.95]
    with track(study="mine", setup={"learning_rate": 0.1}, target=0.9, db=pg_url) as run:
        for step, acc in enumerate(accuracies, start=1):
            if run.evaluate(val_accuracy=acc, step=step * 10, train_loss=1.0 / step):
                break
    with open_store(pg_url) as store:
        (record,) = store.runs("mine")
        assert record.status == REACHED and len(store.eval_points(record.id)) == 3


def test_the_docs_sbatch_array_on_a_real_slurm_records_every_run_once(
    tmp_path, pg_url, postgres_server, slurm_cluster
):
    """docs/clusters.md's script, submitted as written to the single-node Slurm the test set-up
    started: three array tasks, one PostgreSQL store, no shard."""
    path = write(tmp_path, QUICK)
    script = tmp_path / "sweep.sbatch"
    script.write_text(block_starting("bash", "#!/bin/bash\n#SBATCH --job-name=powertrain-sweep"))
    env = {
        **slurm_cluster.env,
        "POWERTRAIN_DB": pg_url,
        "STUDY": str(path),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["sbatch", "--wait", "--array=0-2", "--cpus-per-task=1", f"--output={tmp_path}/%a.out",
         str(script)],
        env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path,
    )  # fmt: skip
    outputs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("*.out")))
    assert done.returncode == 0, (done.stderr, outputs, slurm_cluster.logs())
    assert "Traceback" not in outputs
    records = assert_each_run_once(postgres_server, pg_url, 4)
    jobs = [json.loads(hardware)["slurm"] for *_, hardware in records]
    assert all(job["node"] == slurm_cluster.host and job["array_job_id"] for job in jobs)
    labels = {json.loads(hardware)["label"] for *_, hardware in records}
    assert len(labels) == 1  # one machine in the report: the partition's chip, not each node


def test_three_array_tasks_with_shard_auto_into_one_store_record_every_run_once(
    tmp_path, pg_url, postgres_server
):
    """SLURM's variables as sbatch sets them for --array=0-2, each task on a node of its own."""
    from powertrain.study.plan import shard_of

    path = write(tmp_path, QUICK)
    array = {"SLURM_JOB_ID": "700", "SLURM_ARRAY_JOB_ID": "700", "SLURM_ARRAY_TASK_COUNT": "3",
             "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "2"}  # fmt: skip
    tasks = [
        start(str(path), "--db", pg_url, "--shard", "auto", "--json",
              env={**array, "SLURM_ARRAY_TASK_ID": str(i), "SLURMD_NODENAME": f"node-{i}"})
        for i in range(3)
    ]  # fmt: skip
    results = [task.communicate(timeout=300) for task in tasks]
    for task, (_out, err) in zip(tasks, results, strict=True):
        assert task.returncode == 0, err
    records = assert_each_run_once(postgres_server, pg_url, 4)
    for key, _status, owner, hardware in records:
        job = json.loads(hardware)["slurm"]
        assert job["array_task_id"] == str(shard_of(key, 3))  # each task ran its own share
        assert owner.startswith(f"node-{job['array_task_id']}:")
    assert sum(last_json(out)["ran"] for out, _ in results) == 4
