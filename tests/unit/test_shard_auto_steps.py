"""``--shard auto`` where an array task or a batch script starts several processes: each process
takes a share of its own, and together they hold the study once (``slurm.shard_from_env``)."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.slurm import shard_from_env

ARRAY = {"SLURM_JOB_ID": "7", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0"}


def step_task(procid: int, ntasks: int) -> dict[str, str]:
    """What ``srun -n NTASKS`` gives one of its tasks."""
    return {"SLURM_STEP_ID": "0", "SLURM_PROCID": str(procid), "SLURM_NTASKS": str(ntasks)}


def test_srun_tasks_inside_an_array_task_take_disjoint_shares_that_cover_the_study():
    """``srun -n 2`` in each of 3 array tasks: 6 processes, 6 shares, none twice."""
    shares = [
        shard_from_env({**ARRAY, "SLURM_ARRAY_TASK_ID": str(task), **step_task(procid, 2)})
        for task in range(3)
        for procid in range(2)
    ]
    assert sorted(shares) == [(i, 6) for i in range(6)]


def test_an_array_tasks_batch_script_process_is_its_array_share_whatever_its_allocation():
    """The batch script's own process (no srun step) sees SLURM_PROCID=0 of the allocation's tasks:
    it is the array task, one share of the array's."""
    env = {**ARRAY, "SLURM_ARRAY_TASK_ID": "2", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}
    assert shard_from_env(env) == (2, 3)


def test_a_batch_scripts_own_process_of_several_tasks_is_not_one_share_of_them():
    """``#SBATCH --ntasks=4`` and ``powertrain run --shard auto`` with no srun: one process is
    running, and a share of 1/4 would leave three quarters of the study to tasks never started."""
    env = {"SLURM_JOB_ID": "7", "SLURM_PROCID": "0", "SLURM_NTASKS": "4"}
    with pytest.raises(PowertrainError, match="srun.*--shard i/N"):
        shard_from_env(env)
    assert shard_from_env({**env, "SLURM_NTASKS": "1"}) == (0, 1)
    assert shard_from_env({**env, **step_task(3, 4)}) == (3, 4)
