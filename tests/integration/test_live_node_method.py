"""A distributed run some node of which only estimated a figure rank 0's node measured: the live
series (Prometheus' ``method`` label, the trackers' ``powertrain.measurement`` tag) say estimate from the
evaluation whose combined figures first hold that estimate, not only once the run has ended. Two SLURM
tasks as two "nodes" on this machine, exchanging through the store (no torch.distributed)."""

from __future__ import annotations

import json

import pytest

from powertrain.store import open_store
from tests.distributed_helpers import ROOT, finish, job_env, start

pytestmark = [pytest.mark.slow, pytest.mark.distributed]
SCRIPT = ROOT / "tests" / "scripts" / "mixed_nodes.py"


def test_the_live_series_say_estimate_from_the_first_evaluation_another_node_estimated(tmp_path):
    import sys

    db, out = tmp_path / "runs.db", tmp_path / "out"
    out.mkdir()
    jobs = {}
    for rank in (0, 1):
        env = job_env()
        env.update(SLURM_JOB_ID="77", SLURM_STEP_ID="0", SLURM_PROCID=str(rank))
        env.update(SLURM_NTASKS="2", SLURM_LOCALID="0", SLURM_NODEID=str(rank))
        env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
        command = [sys.executable, str(SCRIPT), "--db", str(db), "--out", str(out)]
        jobs[f"rank-{rank}"] = start(command, env, tmp_path / f"rank-{rank}.log", tmp_path)
    codes = finish(jobs)
    logs = "".join((tmp_path / f"rank-{r}.log").read_text() for r in (0, 1))
    assert codes == {"rank-0": 0, "rank-1": 0}, logs
    seen = json.loads((out / "rank-0.json").read_text())
    with open_store(db) as store:
        [record] = store.runs("mixed")
    assert record.estimated and record.method_label.startswith("ESTIMATE")  # the end knew already
    # while it ran: from the first evaluation (node 1's estimate is in every point's sum)
    assert seen["prometheus"] == [["estimate"]] * 3, seen
    assert all(m and m.startswith("ESTIMATE") for m in seen["mlflow"]), seen
