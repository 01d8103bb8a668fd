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


def accelerate_command(nproc: int, *args: str) -> list[str]:
    """``accelerate launch`` of ``nproc`` processes on this machine (without a GPU, accelerate runs
    them MULTI_CPU over gloo; ``--multi_gpu`` is how its launcher is asked for several processes)."""
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    launcher += [f"--num_processes={nproc}", "--num_machines=1", "--mixed_precision=no"]
    launcher += ["--dynamo_backend=no", f"--main_process_port={free_port()}"]
    return [*launcher, *args]


def slurm_env(rank: int, world: int, job_id: str, gpus: str | None = None) -> dict[str, str]:
    """What ``srun -n WORLD`` gives task ``rank`` of one node: SLURM's variables, no torch ones."""
    env = job_env(gpus)
    env.update(SLURM_JOB_ID=job_id, SLURM_STEP_ID="0", SLURM_PROCID=str(rank))
    env.update(SLURM_NTASKS=str(world), SLURM_LOCALID=str(rank), SLURM_NODEID="0")
    return env


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None):
    """A job started in the background, its output to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)


def finish(jobs: dict[str, subprocess.Popen]) -> dict[str, int]:
    """Wait for every job (each within JOB_TIMEOUT_S); their return codes."""
    codes = {}
    for name, job in jobs.items():
        try:
            codes[name] = job.wait(timeout=JOB_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            job.kill()
            codes[name] = job.wait()
    return codes


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


def ranks_seen(out: Path, pattern: str = "rank-*.json") -> dict[int, dict]:
    """What each rank saw (``rank-N.json``, or a scenario's ``I-KIND-rank-N.json`` by ``pattern``)."""
    return {
        int(p.stem.rsplit("-", 1)[1]): json.loads(p.read_text()) for p in sorted(out.glob(pattern))
    }
