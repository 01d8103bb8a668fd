"""The framework callbacks in a job of 2 CPU processes (gloo): Lightning's own DDP launcher and the
Hugging Face Trainer under torchrun record one run, written by rank 0, and stop every rank together.
(Keras 3 has no multi-process mode on its torch back-end: ``keras.distribution`` serves JAX only.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from powertrain.records import FAILED, REACHED
from powertrain.store import open_store
from tests.distributed_helpers import JOB_TIMEOUT_S, ROOT, job_env, ranks_seen, torchrun_command

pytestmark = [pytest.mark.slow, pytest.mark.distributed]
SCRIPT = str(ROOT / "tests" / "scripts" / "framework_ddp.py")


def launch(tmp_path, framework: str, strategy: str = "ddp"):
    out, db = tmp_path / "out", tmp_path / "s.db"
    out.mkdir()
    args = [SCRIPT, "--framework", framework, "--strategy", strategy, "--db", str(db)]
    args += ["--out", str(out)]
    command = torchrun_command(2, *args) if framework == "hf" else [sys.executable, *args]
    done = subprocess.run(
        command, env=job_env(), capture_output=True, text=True, timeout=JOB_TIMEOUT_S, cwd=tmp_path
    )
    with open_store(db) as store:
        runs = [(r, store.eval_points(r.id)) for r in store.runs()]
    return done, ranks_seen(out), runs


@pytest.mark.parametrize("framework", ["lightning", "hf"])
def test_a_two_process_fit_is_one_run_stopped_on_every_rank(tmp_path, framework):
    done, seen, runs = launch(tmp_path, framework)
    assert done.returncode == 0, done.stdout + done.stderr
    [(record, points)] = runs
    assert record.status == REACHED and points
    assert [n["ranks"] for n in record.outcome.nodes] == [[0, 1]]
    assert sorted(seen) == [0, 1]
    assert {s["outcome"] for s in seen.values()} == {"reached"}  # every rank got the outcome
    assert {s["points"] for s in seen.values()} == {len(points)}


def test_ddp_spawn_fails_the_run_with_what_to_use_instead(tmp_path):
    done, _, runs = launch(tmp_path, "lightning", strategy="ddp_spawn")
    assert done.returncode != 0
    [(record, _)] = runs
    assert record.status == FAILED and "use strategy='ddp'" in record.outcome.error
