"""track() in a torchrun job (gloo on CPU): one run per (setup, seed), written by rank 0, the same stop
decision on every rank, every device counted once, misuse and a killed rank ending the run clearly.

Each test launches one small job (~20 s on 2 cores: starting torch in every rank dominates)."""

from __future__ import annotations

import subprocess

import pytest

from powertrain import build_report
from powertrain.records import FAILED, REACHED
from powertrain.store import open_store
from tests.distributed_helpers import (
    JOB_TIMEOUT_S,
    SCRIPT,
    free_port,
    job_env,
    ranks_seen,
    run_job,
    torchrun_command,
)
from tests.docs_pages import block_starting

pytestmark = [pytest.mark.slow, pytest.mark.distributed]


def only_run(db):
    with open_store(db) as store:
        [record] = store.runs()
        return record, store.eval_points(record.id)


def test_the_docs_script_on_two_ranks_counts_each_gpu_once(tmp_path):
    """docs/distributed.md's torchrun script as written, on a fake node of two GPUs (300 W + 100 W)
    both ranks see: the run draws ~400 W, not 800 W (each rank counting the node) nor 300 W."""
    script = tmp_path / "train_ddp.py"
    script.write_text(block_starting("py", "# train_ddp.py"))
    done = subprocess.run(
        torchrun_command(2, str(script)),
        env=job_env("GPU-a:300,GPU-b:100"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reached" in done.stdout and "over 1 node(s)" in done.stdout
    db = tmp_path / "runs" / "powertrain.db"
    record, points = only_run(db)
    assert record.status == REACHED and points
    o = record.outcome
    assert o.energy_j["gpu"] / o.duration_s == pytest.approx(400, rel=0.05)
    [node] = o.nodes
    assert node["ranks"] == [0, 1] and node["gpus"] == ["GPU-a", "GPU-b"]
    assert "summed over ranks [0, 1]" in node["read_by"]["cpu"]  # each rank's own processes
    assert "read once per node" in record.provenance["gpu"]["details"]["distributed"]
    assert o.energy_to_target_j == pytest.approx(points[-1].total_energy_j)
    with open_store(db) as store:  # the report shows who read what, per node
        build_report(store, tmp_path / "report")
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Distributed runs, per node" in page and "GPU-a, GPU-b" in page


def test_two_nodes_of_two_ranks_add_every_gpu_once(tmp_path):
    """Two torchrun "nodes" on a localhost rendezvous, 4 ranks, each node with its own fake GPUs."""
    db, out, port = tmp_path / "s.db", tmp_path / "out", free_port()
    out.mkdir()
    gpus = ["GPU-a:300,GPU-b:100", "GPU-c:200,GPU-d:50"]
    jobs = [
        subprocess.Popen(
            torchrun_command(
                2, str(SCRIPT), "--db", str(db), "--out", str(out),
                nnodes=2, node_rank=i, port=port,
            ),
            env=job_env(gpus[i]),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in (0, 1)
    ]  # fmt: skip
    outputs = [job.communicate(timeout=JOB_TIMEOUT_S)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], outputs
    seen = ranks_seen(out)
    assert sorted(seen) == [0, 1, 2, 3]
    assert {tuple(s["decisions"]) for s in seen.values()} == {(False, False, False, True)}
    record, _ = only_run(db)
    o = record.outcome
    assert [n["ranks"] for n in o.nodes] == [[0, 1], [2, 3]]
    assert [n["gpus"] for n in o.nodes] == [["GPU-a", "GPU-b"], ["GPU-c", "GPU-d"]]
    for node, watts in zip(o.nodes, (400, 250), strict=True):
        assert node["energy_j"]["gpu"] / o.duration_s == pytest.approx(watts, rel=0.1)
    assert o.energy_j["gpu"] == pytest.approx(sum(n["energy_j"]["gpu"] for n in o.nodes))


def test_ranks_passing_different_seeds_get_one_clear_error_not_a_hang(tmp_path):
    code, output, seen = run_job(tmp_path / "out", tmp_path / "s.db", "--seed-per-rank")
    assert code != 0
    assert "rank 1 tracks another run than rank 0" in seen[0]["error"]
    assert "rank 1 tracks another run" in output  # rank 0's one line, as the user sees it
    record, _ = only_run(tmp_path / "s.db")
    assert record.status == FAILED and "same setup, seed and target" in record.outcome.error


def test_a_killed_rank_fails_the_run_keeping_its_points_and_a_rerun_records_it_once(tmp_path):
    db = tmp_path / "s.db"
    code, output, seen = run_job(tmp_path / "a", db, "--die-at", "3", "--timeout", "30")
    assert code != 0
    record, points = only_run(db)
    assert record.status == FAILED
    assert "did not answer" in record.outcome.error or "SIGTERM" in record.outcome.error
    assert len(points) == 2  # the points every rank answered are kept
    assert any("the last every rank answered" in f for f in record.outcome.faults)

    code, output, seen = run_job(tmp_path / "b", db, "--retry-failed")
    assert code == 0, output
    record, points = only_run(db)  # one run, not two
    assert record.status == REACHED and len(points) == 4

    code, output, seen = run_job(tmp_path / "c", db, "--if-finished", "skip")
    assert code == 0, output  # rank 0 skips the finished run, and rank 1 stops with it
    assert seen[1]["decisions"] == [True] and seen[1]["skipped"] and seen[1]["outcome"] == "reached"
    assert only_run(db)[0].id == record.id


def test_a_torchrun_command_stopped_at_the_target_ends_the_launcher_and_every_rank(tmp_path):
    import io

    import psutil

    from powertrain.command import run_command
    from powertrain.meters.detect import detect_meters
    from powertrain.monitor import Monitor
    from powertrain.study.command_task import CommandTarget

    script = SCRIPT.parent / "torchrun_report.py"
    monitor = Monitor(detect_meters(["estimate"]).meters)
    out, err = io.StringIO(), io.StringIO()
    with monitor:
        result = run_command(
            torchrun_command(2, str(script), str(tmp_path)),
            CommandTarget("val_acc", at_least=0.75),
            monitor,
            env=job_env(),
            stdout=out,
            stderr=err,
        )
    assert result.outcome.status == REACHED and result.stopped_by_powertrain
    assert result.outcome.steps_to_target == 15
    pids = [int(p.read_text()) for p in sorted(tmp_path.glob("pid-*"))]
    assert len(pids) == 2
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert alive == []  # every rank ended with the launcher
    assert "Traceback" not in err.getvalue() and "SignalException" not in err.getvalue()
