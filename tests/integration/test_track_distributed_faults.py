"""track() in torchrun jobs whose script or launcher does what the docs' script does not: shut
torch.distributed down inside the tracked block, or start the job again after a rank failed
(``--max-restarts``). Each test is one small launch of 2 gloo ranks on this machine's CPUs
(``tests/scripts/ddp_track.py``'s scenarios): powertrain must neither end the job nor record the run
twice."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from powertrain.records import CENSORED, FAILED, REACHED, RUNNING
from powertrain.store import open_store
from tests.distributed_helpers import (
    JOB_TIMEOUT_S,
    SCRIPT,
    finish,
    free_port,
    job_env,
    ranks_seen,
    slurm_env,
    start,
    torchrun_command,
)

pytestmark = [pytest.mark.slow, pytest.mark.distributed]


def launch(tmp_path, scenarios: str, *launcher_options: str, rank_timeout_s: float = 8):
    """One torchrun job of 2 ranks; (its return code, its output, what each rank saw, the runs)."""
    out, db = tmp_path / "out", tmp_path / "runs.db"
    out.mkdir(exist_ok=True)
    args = [str(SCRIPT), "--db", str(db), "--out", str(out), "--timeout", str(rank_timeout_s)]
    args += ["--scenarios", scenarios]
    command = torchrun_command(2, *launcher_options, *args)
    done = subprocess.run(
        command, env=job_env(), capture_output=True, text=True, timeout=JOB_TIMEOUT_S
    )
    with open_store(db) as store:
        runs = [(r, store.eval_points(r.id)) for r in store.runs()]
    return done.returncode, done.stdout + done.stderr, ranks_seen(out, "*-rank-*.json"), runs


def test_torch_distributed_shut_down_inside_the_block_leaves_the_job_and_the_run_whole(tmp_path):
    code, output, seen, runs = launch(tmp_path, "init,destroy")
    assert code == 0, output
    assert all("error" not in s and s["points"] == 2 for s in seen.values()), seen
    assert seen[0]["outcome"] == CENSORED.value  # rank 1 cannot be told it any more
    [(run, points)] = runs
    assert run.status == CENSORED and len(points) == 2
    assert any("destroy_process_group" in fault for fault in run.outcome.faults)
    assert sorted(run.outcome.nodes[0]["ranks"]) == [0, 1]  # as of the last exchange


def test_a_launch_restarted_after_a_rank_failed_replaces_its_failed_attempt_once(tmp_path):
    """Rank 1 raises in the first attempt; torchrun starts both ranks again (a script without
    torch.distributed: gloo's own restart does not reconnect here), whose run replaces the failed one.
    """
    code, output, seen, runs = launch(tmp_path, "once", "--max-restarts=1")
    assert code == 0, output
    assert "fails in the launch's first attempt" in output  # it did fail once
    assert all("error" not in s and s["outcome"] == REACHED.value for s in seen.values()), seen
    [(run, points)] = runs
    assert run.status == REACHED and len(points) == 4
    [note] = [f for f in run.outcome.faults if "earlier attempt" in f]  # its joules still count
    earlier_j = float(note.split("includes ", 1)[1].split(" J", 1)[0])
    own_j = run.outcome.total_energy_j - earlier_j  # the note rounds to 0.1 J
    assert earlier_j > 0 and own_j >= points[-1].total_energy_j - 0.05


def test_a_restart_counts_a_failed_attempt_kept_beside_a_locked_store_once(tmp_path):
    """As above, and another program holds rank 0's store locked through the failed attempt's end,
    which is kept beside the store: the restart counts the joules of that kept end (not only
    those of its one point in the store), and merging the copy back afterwards adds nothing."""
    from powertrain.store.merge import merge_stores

    code, output, seen, runs = launch(tmp_path, "oncelocked", "--max-restarts=1")
    assert code == 0, output
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    with open_store(kept) as side:
        [failed] = side.runs()
    assert failed.status == FAILED
    [(run, points)] = runs
    assert run.status == REACHED and len(points) == 4
    [note] = [f for f in run.outcome.faults if "earlier attempt" in f]
    assert "kept beside the store" in note and "at least" not in note
    earlier_j = float(note.split("includes ", 1)[1].split(" J", 1)[0])
    assert earlier_j == pytest.approx(failed.outcome.total_energy_j, abs=0.05)
    assert merge_stores([kept], tmp_path / "runs.db").runs == 0
    with open_store(tmp_path / "runs.db") as store:
        assert [r.id for r in store.runs()] == [run.id]


def test_every_rank_knows_at_the_start_that_rank_0_skipped_a_finished_run(tmp_path):
    """``if_finished="skip"``, each rank training only when ``run.skipped`` is False: every rank
    skips, through torchrun's store and then over torch.distributed, none waits for rank 0."""
    scenarios = "plain:store,skipcheck:store,init,plain:gloo,skipcheck:gloo"
    code, output, seen, runs = launch(tmp_path, scenarios)
    assert code == 0, output
    for i in (1, 4):
        skipped = ranks_seen(tmp_path / "out", f"{i}-skipcheck-rank-*.json")
        assert [s.get("skipped") for s in skipped.values()] == [True, True], skipped
    assert [r.status for r, _ in runs] == [REACHED, REACHED]  # each once


def test_a_rank_that_raises_is_named_with_its_error_in_the_failed_run(tmp_path):
    """Over torch.distributed no message reaches rank 0 from a rank that leaves on an exception
    (its exit ends the collective); its error is named in the run's record all the same."""
    code, output, _, runs = launch(tmp_path, "init,raise")
    assert code != 0 and "rank 1's own error" in output  # the user's exception, on its rank
    [(run, points)] = runs
    said = [run.outcome.error, *run.outcome.faults]
    assert run.status == FAILED and len(points) == 1
    assert any(
        "rank 1 failed after 1 evaluations: ValueError: rank 1's own error" in s for s in said
    )


def test_a_rank_that_exits_inside_the_block_ends_the_run_at_once_not_at_the_timeout(tmp_path):
    """``sys.exit(0)`` on rank 1 inside the block (no torch.distributed: torchrun's store carries the
    exchange, and no connection closes): rank 0 is told, and fails the run naming it, at once."""
    code, output, seen, runs = launch(tmp_path, "exit", rank_timeout_s=120)
    assert "rank 1 failed after 1 evaluations: SystemExit: 0" in seen[0].get("error", ""), output
    # told, not timed out: far inside the rank timeout (a margin a loaded machine keeps)
    assert seen[0]["seconds"] < 60
    [(run, _)] = runs
    assert run.status == FAILED


STOPPED_RANK_0 = """
import os, signal, sys
import powertrain


def stop():
    os.kill(os.getpid(), signal.SIGTERM)  # the launcher stops the job
    signal.getsignal(signal.SIGTERM)  # a bytecode for the handler to run at


try:
    with powertrain.track("stopped", db=sys.argv[1], device="cpu") as run:
        if sys.argv[2] == "inside":
            try:
                stop()
            except Exception:
                pass  # a loop's catch-all
        else:
            stop()
except Exception:
    pass  # a script's catch-all
print("went on after SIGTERM", flush=True)
"""


@pytest.mark.parametrize("caught", ["inside", "outside"])
def test_rank_0_stopped_by_sigterm_records_the_run_failed_and_ends_by_sigterm(tmp_path, caught):
    """What SIGTERM does to a rank without powertrain (end it, its status the signal's), it does
    with powertrain too, once the run is recorded as failed: a script's ``except Exception``, in the
    block or around it, does not keep it going, nor does powertrain's exception make its status 1."""
    env = {**job_env(), "RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}
    db = tmp_path / "runs.db"
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_RANK_0, str(db), caught],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == -signal.SIGTERM, done.stdout + done.stderr
    assert "went on" not in done.stdout
    with open_store(db) as store:
        [run] = store.runs()
    assert run.status == FAILED and "SIGTERM" in run.outcome.error


def test_the_other_tasks_stop_at_once_when_rank_0_cannot_begin_the_run(tmp_path):
    """Two SLURM tasks exchanging through the store (no torch.distributed, so no connection
    closes): the run finished before, and rank 0 refuses it; rank 1 stops at its first evaluate with
    rank 0's reason, not after the rank timeout."""
    out, db = tmp_path / "out", tmp_path / "runs.db"
    out.mkdir()
    args = [str(SCRIPT), "--db", str(db), "--out", str(out), "--timeout", "8"]
    args += ["--scenarios", "plain:again,plain:again"]
    jobs, job_id = {}, f"refused-{free_port()}"  # srun's job id: one for both tasks
    for rank in (0, 1):
        env = slurm_env(rank, 2, job_id)
        jobs[rank] = start([sys.executable, *args], env, tmp_path / f"task-{rank}.log")
    finish(jobs)
    second = ranks_seen(out, "1-plain-rank-*.json")
    assert "already finished" in second[0]["error"]
    assert "already finished" in second[1].get("error", ""), second
    assert second[1]["seconds"] < 8


def test_a_point_rank_0_cannot_record_ends_no_rank_and_the_run_says_so(tmp_path):
    """Rank 0's store refuses an evaluation's point (a locked database) under torchrun, over gloo:
    every rank trains on to the target, and the run's record says its curve lacks that point."""
    code, output, seen, runs = launch(tmp_path, "init,storefail")
    assert code == 0, output
    assert all(s.get("outcome") == REACHED.value and s["points"] == 4 for s in seen.values()), seen
    assert output.count("could not record evaluation 2") == 1, output
    [(run, points)] = runs
    assert run.status == REACHED and [p.index for p in points] == [0, 2, 3]
    assert any("1 of 4 evaluation points not recorded" in f for f in run.outcome.faults)


def test_the_other_ranks_get_the_outcome_when_rank_0_cannot_record_it(tmp_path):
    """Rank 0's store refuses the outcome (a full disk): the other ranks get the outcome at once,
    rather than wait for it until the rank timeout; rank 0 keeps the run beside the store (as
    after a lock), where it used to raise SQLite's error with the run recorded nowhere."""
    code, output, seen, runs = launch(tmp_path, "init,endfail")
    assert "error" not in seen[0] and "database or disk is full" in output, (seen, output)
    assert seen[1].get("outcome") == REACHED.value and "error" not in seen[1], seen
    assert seen[1]["seconds"] < 8  # the rank timeout
    [(run, _)] = runs
    assert run.status == RUNNING  # unfinished in the store: its kept copy gives way to it
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    assert f"powertrain merge {kept}" in output
    with open_store(kept) as side:
        assert [r.status for r in side.runs()] == [REACHED]


def test_the_other_ranks_stop_at_once_naming_rank_0s_error_when_it_leaves_on_one(tmp_path):
    """Rank 0 raises inside the block, and its script catches it and goes on: the other ranks,
    waiting at an evaluation, stop at once with rank 0's error, through torchrun's store (where no
    connection closes) as over torch.distributed, rather than wait for rank 0 until the timeout."""
    code, output, seen, runs = launch(tmp_path, "r0raise:store,init,r0raise:gloo")
    for i in (0, 2):
        scenario = ranks_seen(tmp_path / "out", f"{i}-r0raise-rank-*.json")
        assert "rank 0's own error" in scenario[0].get("error", ""), output
        said = scenario[1].get("error", "")
        assert "rank 0 failed after 1 evaluations: ValueError: rank 0's own error" in said, said
        assert scenario[1]["seconds"] < 8  # the rank timeout
    assert [r.status for r, _ in runs] == [FAILED, FAILED]


def test_ranks_passing_different_if_finished_are_one_clear_error_not_a_shifted_run(tmp_path):
    """Rank 0 skips finished runs, rank 1 refuses them (through torchrun's store): rank 0's
    exchange at the block's start met rank 1's first evaluation, and every later decision reached
    rank 1 one evaluation late. Now both stop at their first exchange, saying why. (Over
    torch.distributed, rank 0's exchange at the start may meet the script's own first collective,
    DDP's, on rank 1: the two wait for each other until the timeout.)"""
    code, output, seen, runs = launch(tmp_path, "ifdiff")
    for rank in (0, 1):
        assert "if_finished" in seen[rank].get("error", ""), (rank, seen, output)
        assert seen[rank]["seconds"] < 8 and seen[rank]["decisions"] == []
    assert [r.status for r, _ in runs] == [FAILED]


def test_a_handler_that_raises_on_rank_0_is_named_on_every_rank(tmp_path):
    """A stopping handler of the user's raises where rank 0 runs it: rank 0's error goes up as it
    was, and the other ranks are told what it was, not only that rank 0 failed."""
    code, output, seen, runs = launch(tmp_path, "init,handler")
    assert "ZeroDivisionError: the handler's own" in seen[0].get("error", ""), output
    said = seen[1].get("error", "")
    assert "ZeroDivisionError: the handler's own" in said and "evaluation 2" in said, said
    assert seen[1]["seconds"] < 8
