"""track() in distributed jobs on this machine's CPUs (gloo): one run per (setup, seed), written by
rank 0, the same stop decision on every rank, every device counted once; misuse, a killed rank and a
hung one ending the run clearly, within the rank timeout; a rerun recording the run once.

Starting torch in every rank costs most of a launch, so the jobs run in two waves of parallel launches
(``jobs``), each running several scenarios in sequence (``tests/scripts/ddp_track.py``), and the
tests read what they left:

1. the docs' torchrun script as two "nodes" of two ranks, each with its own fake GPUs; the Hugging
   Face Trainer under torchrun, then a rank killed with SIGKILL; a rank that hangs; SLURM tasks
   with no torch.distributed (the exchange through the store: SQLite and PostgreSQL); Lightning's
   ``ddp`` and ``ddp_spawn``;
2. once the killed and hung jobs are done, under ``accelerate launch``: a script that never starts
   torch.distributed (torchrun's store carries the exchange), then the Hugging Face Trainer
   (starting the process group), FSDP2, ranks passing different seeds, the killed and the hung
   runs again, a finished run skipped, and a rank that never enters the block.
"""

from __future__ import annotations

import sys

import pytest

from powertrain import build_report
from powertrain.records import FAILED, REACHED
from powertrain.store import open_store
from tests.distributed_helpers import (
    ROOT,
    SCRIPT,
    accelerate_command,
    finish,
    free_port,
    job_env,
    ranks_seen,
    slurm_env,
    start,
    torchrun_command,
)
from tests.docs_pages import block_starting

pytestmark = [pytest.mark.slow, pytest.mark.distributed]
TIMEOUT_S = "8"  # the rank timeout of the jobs that test it (a hang, a rank that never comes)
TWO_GPUS = "GPU-a:300,GPU-b:100"
FRAMEWORK_SCRIPT = str(ROOT / "tests" / "scripts" / "framework_ddp.py")


def runs(db, study=None):
    with open_store(db) as store:
        return [(r, store.eval_points(r.id)) for r in store.runs(study)]


def ddp_job(root, name, scenarios, *, nnodes=1, node_rank=0, port=0, gpus=None, db="faults.db"):
    out = root / name
    out.mkdir(exist_ok=True)
    args = [str(SCRIPT), "--db", str(root / db), "--out", str(out), "--timeout", TIMEOUT_S]
    args += ["--scenarios", scenarios]
    command = torchrun_command(2, *args, nnodes=nnodes, node_rank=node_rank, port=port)
    return start(command, job_env(gpus), root / f"{name}.log")


def first_wave(root, pg_url) -> dict:
    docs = root / "docs"
    docs.mkdir()
    (docs / "train_ddp.py").write_text(block_starting("py", "# train_ddp.py"))
    jobs, port = {}, free_port()
    for i, gpus in enumerate([TWO_GPUS, "GPU-c:200,GPU-d:50"]):  # two "nodes", each its own GPUs
        command = torchrun_command(2, "train_ddp.py", nnodes=2, node_rank=i, port=port)
        jobs[f"node-{i}"] = start(command, job_env(gpus), root / f"node-{i}.log", docs)
    jobs["died"] = ddp_job(root, "died", "hf:hf-torchrun,die:died")  # the Trainer starts the group
    jobs["hung"] = ddp_job(root, "hung", "init,hang:hung")
    for strategy in ("ddp", "ddp_spawn"):  # Lightning starts the processes itself
        out = root / strategy
        out.mkdir()
        args = [FRAMEWORK_SCRIPT, "--strategy", strategy, "--db", str(root / f"{strategy}.db")]
        args += ["--out", str(out)]
        jobs[strategy] = start([sys.executable, *args], job_env(), root / f"{strategy}.log", out)
    (root / "slurm").mkdir()
    args = [str(SCRIPT), "--db", str(root / "slurm.db"), "--pg", pg_url]
    args += ["--out", str(root / "slurm"), "--timeout", TIMEOUT_S]
    args += ["--scenarios", "plain:slurm,plain:slurm-pg:pg,partial:never"]
    slurm_job = f"test-{free_port()}"  # srun's job id: one for both tasks
    for rank in (0, 1):
        env = slurm_env(rank, 2, slurm_job, TWO_GPUS)
        jobs[f"slurm-{rank}"] = start([sys.executable, *args], env, root / f"slurm-{rank}.log")
    return jobs


@pytest.fixture(scope="module")
def jobs(tmp_path_factory, postgres_server):
    """Both waves, run once for the module: {job: return code}, the folder, the PostgreSQL URL, and
    the killed and hung runs as they were before the second wave ran them again. The second wave
    starts once those two jobs are done, beside what remains of the first."""
    root = tmp_path_factory.mktemp("jobs")
    pg_url = postgres_server.url(schema="distributed_jobs")
    first = first_wave(root, pg_url)
    codes = finish({name: first.pop(name) for name in ("died", "hung")})
    failed = {study: runs(root / "faults.db", study) for study in ("died", "hung")}
    (root / "second").mkdir()
    scenarios = "plain:noinit,hf:hf-accelerate,fsdp2,seeds,retry:died,retry:hung,skip:died"
    scenarios += ",partial:never"  # the Trainer starts the process group the later ones use
    args = [str(SCRIPT), "--db", str(root / "faults.db"), "--out", str(root / "second")]
    command = accelerate_command(2, *args, "--timeout", TIMEOUT_S, "--scenarios", scenarios)
    first["second"] = start(command, job_env(), root / "second.log")
    codes.update(finish(first))
    return codes, root, pg_url, failed


def log(root, name) -> str:
    return (root / f"{name}.log").read_text()


def seen(root, job, index, kind):
    """What each rank of ``job`` saw in its ``index``-th scenario."""
    return ranks_seen(root / job, f"{index}-{kind}-rank-*.json")


def test_the_docs_script_on_two_nodes_counts_each_gpu_once_per_node(jobs):
    """docs/distributed.md's torchrun script as written, launched as two torchrun "nodes" of two
    ranks on a localhost rendezvous, each node with its own fake GPUs: node 0's two GPUs (300 W +
    100 W, both ranks seeing both) make ~400 W, not 800 W (each rank counting the node) nor 300 W;
    the run's GPU energy is the sum over both nodes, each GPU once."""
    codes, root, _, _ = jobs
    assert [codes["node-0"], codes["node-1"]] == [0, 0], log(root, "node-0") + log(root, "node-1")
    assert "reached" in log(root, "node-0") and "over 2 node(s)" in log(root, "node-0")
    db = root / "docs" / "runs" / "powertrain.db"
    [(record, points)] = runs(db)
    assert record.status == REACHED and points
    o = record.outcome
    assert [n["ranks"] for n in o.nodes] == [[0, 1], [2, 3]]
    assert [n["gpus"] for n in o.nodes] == [["GPU-a", "GPU-b"], ["GPU-c", "GPU-d"]]
    for node, watts in zip(o.nodes, (400, 250), strict=True):  # each over its own window
        assert node["energy_j"]["gpu"] / node["duration_s"] == pytest.approx(watts, rel=0.1)
    assert o.energy_j["gpu"] == pytest.approx(sum(n["energy_j"]["gpu"] for n in o.nodes))
    assert "summed over ranks [0, 1]" in o.nodes[0]["read_by"]["cpu"]  # each rank's processes
    assert "read once per node" in record.provenance["gpu"]["details"]["distributed"]
    assert o.energy_to_target_j == pytest.approx(points[-1].total_energy_j)
    with open_store(db) as store:  # the report shows who read what, per node
        build_report(store, root / "report")
    page = (root / "report" / "report.html").read_text()
    assert "Distributed runs, per node" in page and "GPU-a, GPU-b" in page


def test_a_killed_rank_fails_the_run_keeping_its_points_and_a_rerun_records_it_once(jobs):
    codes, root, _, failed = jobs
    assert codes["died"] != 0
    [(record, points)] = failed["died"]
    assert record.status == FAILED
    assert "did not answer" in record.outcome.error or "SIGTERM" in record.outcome.error
    assert len(points) == 2  # the points every rank answered are kept
    assert any("the last every rank answered" in f for f in record.outcome.faults)
    [(again, points)] = runs(root / "faults.db", "died")  # rerun with retry_failed: once, not twice
    assert again.status == REACHED and len(points) == 4
    assert {s["outcome"] for s in seen(root, "second", 4, "retry").values()} == {"reached"}
    skipped = seen(root, "second", 6, "skip")  # rank 0 skips the finished run, rank 1 stops with it
    assert skipped[1]["decisions"] == [True] and skipped[1]["skipped"]
    assert skipped[1]["outcome"] == "reached"
    assert runs(root / "faults.db", "died")[0][0].id == again.id


def test_a_hung_rank_fails_the_run_within_the_rank_timeout_and_a_rerun_records_it_once(jobs):
    """Rank 1 sleeps for ever before its third evaluation: rank 0 ends the run after the timeout."""
    codes, root, _, failed = jobs
    assert codes["hung"] != 0
    [(record, points)] = failed["hung"]
    assert (
        record.status == FAILED and f"did not answer within {TIMEOUT_S} s" in record.outcome.error
    )
    assert len(points) == 2
    leader = seen(root, "hung", 1, "hang")[0]
    assert float(TIMEOUT_S) <= leader["seconds"] < float(TIMEOUT_S) + 60  # bounded, not for ever
    [(again, points)] = runs(root / "faults.db", "hung")
    assert again.status == REACHED and len(points) == 4


def test_slurm_tasks_without_torch_distributed_exchange_through_the_store(jobs):
    """``srun -n 2 python train.py``: SLURM's variables only; the store (SQLite, then PostgreSQL)
    carries each point's figures and the decision; a task that never comes fails the run."""
    codes, root, pg_url, _ = jobs
    assert [codes["slurm-0"], codes["slurm-1"]] == [0, 0], log(root, "slurm-0") + log(
        root, "slurm-1"
    )
    for index, db in ((0, root / "slurm.db"), (1, pg_url)):
        ranks = seen(root, "slurm", index, "plain")
        assert {tuple(s["decisions"]) for s in ranks.values()} == {(False, False, False, True)}
        [(record, points)] = runs(db, "slurm" if index == 0 else "slurm-pg")
        assert record.status == REACHED and len(points) == 4
        o = record.outcome
        assert o.energy_j["gpu"] / o.duration_s == pytest.approx(400, rel=0.1)  # each GPU once
        assert [n["ranks"] for n in o.nodes] == [[0, 1]]
    [(record, _)] = runs(root / "slurm.db", "never")
    assert record.status == FAILED
    assert (
        f"rank 1 did not post its figures for exchange 1 within {TIMEOUT_S} s"
        in record.outcome.error
    )
    assert "rank 1 did not post" in log(root, "slurm-0")  # rank 0's one line


def test_a_script_without_torch_distributed_under_accelerate_exchanges_through_torchrun_store(jobs):
    codes, root, _, _ = jobs
    assert codes["second"] == 0, log(root, "second")
    ranks = seen(root, "second", 0, "plain")
    assert {tuple(s["decisions"]) for s in ranks.values()} == {(False, False, False, True)}
    [(record, points)] = runs(root / "faults.db", "noinit")
    assert record.status == REACHED and len(points) == 4
    assert [n["ranks"] for n in record.outcome.nodes] == [[0, 1]]


@pytest.mark.parametrize("study, job, index", [("fsdp2", "second", 2), ("hf-accelerate", "second", 1), ("hf-torchrun", "died", 0)])  # fmt: skip
def test_fsdp2_and_the_hf_trainer_under_torchrun_and_accelerate_are_one_run(
    jobs, study, job, index
):
    codes, root, _, _ = jobs
    kind = "fsdp2" if study == "fsdp2" else "hf"
    ranks = seen(root, job, index, kind)
    [(record, points)] = runs(root / "faults.db", study)
    assert record.status == REACHED and points
    assert {s["outcome"] for s in ranks.values()} == {"reached"}  # every rank got the outcome
    assert {s["points"] for s in ranks.values()} == {len(points)}
    assert [n["ranks"] for n in record.outcome.nodes] == [[0, 1]]


def test_misuse_is_one_clear_error_on_rank_0_not_a_hang(jobs):
    """Ranks passing different seeds; a rank that never enters the tracked block."""
    codes, root, _, _ = jobs
    seeds = seen(root, "second", 3, "seeds")
    assert "rank 1 tracks another run than rank 0" in seeds[0]["error"]
    assert "rank 1 tracks another run" in log(
        root, "second"
    )  # rank 0's one line, as the user sees it
    [(record, _)] = runs(root / "faults.db", "seeds")
    assert record.status == FAILED and "same setup, seed and target" in record.outcome.error
    never = seen(root, "second", 7, "partial")[0]
    assert "Every rank must enter the tracked block" in never["error"]
    assert never["seconds"] < float(TIMEOUT_S) + 60
    [(record, _)] = runs(root / "faults.db", "never")
    assert (
        record.status == FAILED and f"did not answer within {TIMEOUT_S} s" in record.outcome.error
    )


@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn"])
def test_a_lightning_fit_on_two_processes_is_one_run_stopped_on_every_rank(jobs, strategy):
    """Lightning's own launchers: ``ddp`` runs the script again per rank, ``ddp_spawn`` pickles the
    callback into spawned ranks; the process that called ``fit`` writes the outcome then."""
    codes, root, _, _ = jobs
    assert codes[strategy] == 0, log(root, strategy)
    [(record, points)] = runs(root / f"{strategy}.db")
    assert record.status == REACHED and points
    assert record.outcome.energy_to_target_j == pytest.approx(points[-1].total_energy_j)
    [node] = record.outcome.nodes
    assert node["ranks"] == [0, 1]
    seen_by = ranks_seen(root / strategy)
    assert {s["outcome"] for s in seen_by.values()} == {"reached"}  # every rank got the outcome
    assert {s["points"] for s in seen_by.values()} == {len(points)}
    if strategy == "ddp_spawn":  # the parent counted its spawned ranks' processes with its own
        assert sorted(seen_by) == [0] and "spawned ranks' processes" in node["read_by"]["cpu"]
        assert record.outcome.total_energy_j > points[-1].total_energy_j
    else:
        assert sorted(seen_by) == [0, 1]


def test_a_torchrun_command_stopped_at_the_target_ends_the_launcher_and_every_rank(tmp_path):
    import io

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
    assert alive_after(pids, 15) == []  # every rank ended with the launcher (signalled: dying)
    assert "Traceback" not in err.getvalue() and "SignalException" not in err.getvalue()


def alive_after(pids: list[int], seconds: float) -> list[int]:
    """The processes of ``pids`` still running (not zombies) once ``seconds`` have passed, or as
    soon as none is: a signalled rank takes a moment to end on a loaded machine."""
    import time

    import psutil

    def running(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + seconds
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if running(p)]
