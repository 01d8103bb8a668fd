"""SLURM, read from the environment it gives each task: which share of a study an array task runs
(``--shard auto``), and the job and node a run's hardware record names.

An array (``sbatch --array=0-7``) numbers its tasks ``SLURM_ARRAY_TASK_ID`` from ``SLURM_ARRAY_TASK_MIN``
in steps of ``SLURM_ARRAY_TASK_STEP``, ``SLURM_ARRAY_TASK_COUNT`` of them; a job of several tasks
(``srun -n 4``) numbers them ``SLURM_PROCID`` from 0 to ``SLURM_NTASKS`` - 1. With a shared
PostgreSQL store no shard is needed at all: every task claims the runs no other task holds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from powertrain.errors import PowertrainError


def _integer(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    try:
        return int(value) if value else None
    except ValueError:
        raise PowertrainError(f"--shard auto: {name}={value!r} is not a whole number") from None


def shard_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(i, N) of this SLURM task: its place in the job array, else among the job's tasks; a clear
    PowertrainError outside SLURM, or for an array whose task ids are not evenly spaced."""
    env = os.environ if env is None else env
    task, count = _integer(env, "SLURM_ARRAY_TASK_ID"), _integer(env, "SLURM_ARRAY_TASK_COUNT")
    if task is not None and count is not None:
        first = _integer(env, "SLURM_ARRAY_TASK_MIN") or 0
        step = _integer(env, "SLURM_ARRAY_TASK_STEP") or 1
        index, rest = divmod(task - first, step)
        if rest or not 0 <= index < count:
            raise PowertrainError(
                f"--shard auto: array task {task} is not one of {count} evenly spaced from {first} "
                f"in steps of {step} (an --array list such as 1,5,7?); give --shard i/N yourself"
            )
        return index, count
    procid, ntasks = _integer(env, "SLURM_PROCID"), _integer(env, "SLURM_NTASKS")
    if procid is not None and ntasks is not None and 0 <= procid < ntasks:
        return procid, ntasks
    raise PowertrainError(
        "--shard auto: not inside a SLURM job array or job step (no SLURM_ARRAY_TASK_ID and "
        "SLURM_ARRAY_TASK_COUNT, nor SLURM_PROCID and SLURM_NTASKS); give --shard i/N, or, with a "
        "shared postgresql:// store, no shard at all"
    )


def slurm_job(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The job and node this process runs in, for a run's hardware record; None outside SLURM."""
    env = os.environ if env is None else env
    if not env.get("SLURM_JOB_ID"):
        return None
    names = {
        "job_id": "SLURM_JOB_ID",
        "array_job_id": "SLURM_ARRAY_JOB_ID",
        "array_task_id": "SLURM_ARRAY_TASK_ID",
        "node": "SLURMD_NODENAME",
        "procid": "SLURM_PROCID",
        "cluster": "SLURM_CLUSTER_NAME",
        "partition": "SLURM_JOB_PARTITION",
    }
    return {key: env[name] for key, name in names.items() if env.get(name)}


def slurm_machine_label(hardware: dict[str, Any], job: dict[str, Any]) -> str:
    """The machine a SLURM run is compared on in reports: its chip in its cluster's partition, not its
    node, so that a sweep spread over a partition's identical nodes is one machine (runs on other
    partitions, or other chips, stay apart)."""
    chip = hardware.get("gpu_model") or hardware.get("cpu_model") or "unknown"
    where = "/".join(job[k] for k in ("cluster", "partition") if job.get(k)) or "a SLURM cluster"
    return f"{chip} on {where}"
