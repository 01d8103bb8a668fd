"""A heterogeneous SLURM job on a real Slurm (two nodes on this machine, tests/slurm_cluster.py): one
``srun --het-group=0,1`` starts both components' tasks, which track one run and exchange through the
store. SLURM numbers the tasks across the components and lists both components' nodes; powertrain
records one run whose breakdown has each Slurm node once with its tasks. With a SQLite store the step,
being on two nodes, is refused on every task with one message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from powertrain.records import FAILED, REACHED
from powertrain.store import existing_store

SCRIPT = Path(__file__).parents[1] / "scripts" / "het_track.py"


def het_job(cluster, tmp_path: Path, db: str) -> tuple[dict[int, dict], str]:
    """Submit the job (component 0: one task on n1; component 1: two tasks on n2), wait for it;
    what each task saw, and the job's output."""
    out = tmp_path / "seen"
    out.mkdir()
    (tmp_path / "het.sbatch").write_text(
        "#!/bin/bash\n#SBATCH --ntasks=1 --nodelist=n1\n#SBATCH hetjob\n"
        "#SBATCH --ntasks=2 --nodelist=n2\n"
        f"srun --het-group=0,1 {sys.executable} {SCRIPT} {db} {out}\n"
    )
    root = str(Path(__file__).parents[2] / "src")
    env = {**cluster.env, "PYTHONPATH": f"{root}:{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        ["sbatch", "--wait", f"--output={tmp_path}/job.out", str(tmp_path / "het.sbatch")],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    output = (tmp_path / "job.out").read_text() if (tmp_path / "job.out").exists() else ""
    assert done.returncode == 0, (done.stderr, output, cluster.logs())
    seen = {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in out.glob("rank-*.json")}
    return seen, output


def test_one_srun_over_both_components_is_one_run_with_each_node_once(
    tmp_path, pg_url, slurm_two_nodes
):
    seen, output = het_job(slurm_two_nodes, tmp_path, pg_url)
    assert "Traceback" not in output
    assert {r: s["node"] for r, s in seen.items()} == {0: "n1", 1: "n2", 2: "n2"}, output
    assert all(s.get("outcome") == "reached" for s in seen.values()), seen
    assert {tuple(s["decisions"]) for s in seen.values()} == {(False, False, True)}
    with existing_store(pg_url) as store:
        [record] = store.runs("het")
        assert record.status == REACHED and len(store.eval_points(record.id)) == 3
        nodes = [(n["node"], n["ranks"]) for n in record.outcome.nodes]
        assert nodes == [(0, [0]), (1, [1, 2])]  # Slurm's n1 and n2, each once, all three tasks
        assert record.hardware["slurm"]["het_size"] == "2"


def test_a_sqlite_store_for_a_step_on_two_nodes_is_refused_on_every_task(tmp_path, slurm_two_nodes):
    db = tmp_path / "runs.db"
    seen, output = het_job(slurm_two_nodes, tmp_path, str(db))
    assert sorted(seen) == [0, 1, 2] and "Traceback" not in output
    for task in seen.values():
        assert "run on 2 nodes" in task["error"] and "postgresql://" in task["error"]
    with existing_store(db) as store:
        [record] = store.runs("het")  # rank 0 had begun it: failed, with the reason
        assert record.status == FAILED and "run on 2 nodes" in record.outcome.error
