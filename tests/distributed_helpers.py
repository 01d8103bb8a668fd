"""Launching small ``torchrun`` jobs from tests: 2 or 4 gloo ranks on this machine's CPUs, each
"node" given its own fake GPUs through ``POWERTRAIN_NVML_MODULE`` (``tests/fakes/nvml_env.py``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "tests" / "scripts" / "ddp_track.py"
#: A job of a few tiny steps takes ~20 s here (starting torch in every rank); a hang ends at this.
JOB_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_env(gpus: str | None = None) -> dict[str, str]:
    """The environment of a job: this tree on the path, one thread per rank, fake GPUs if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "LOCAL_", "SLURM_"))}
    paths = [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
    env.update(PYTHONPATH=os.pathsep.join(p for p in paths if p), OMP_NUM_THREADS="1")
    if gpus is not None:
        env.update(POWERTRAIN_NVML_MODULE="tests.fakes.nvml_env", POWERTRAIN_FAKE_GPUS=gpus)
    return env


def torchrun_command(nproc: int, *args: str, nnodes: int = 1, node_rank: int = 0, port: int = 0):
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    if nnodes == 1:
        launcher += ["--standalone"]
    else:
        launcher += [
            f"--nnodes={nnodes}",
            f"--node_rank={node_rank}",
            "--master_addr=127.0.0.1",
            f"--master_port={port}",
        ]
    return [*launcher, *args]


def run_job(
    out: Path, db: Path, *args: str, nproc: int = 2, gpus: str | None = None, script=SCRIPT
):
    """One single-node job of ``nproc`` ranks; (return code, output, what each rank saw)."""
    out.mkdir(parents=True, exist_ok=True)
    command = torchrun_command(nproc, str(script), "--db", str(db), "--out", str(out), *args)
    done = subprocess.run(
        command, env=job_env(gpus), capture_output=True, text=True, timeout=JOB_TIMEOUT_S
    )
    return done.returncode, done.stdout + done.stderr, ranks_seen(out)


def ranks_seen(out: Path) -> dict[int, dict]:
    return {
        int(p.stem.split("-")[1]): json.loads(p.read_text())
        for p in sorted(out.glob("rank-*.json"))
    }
