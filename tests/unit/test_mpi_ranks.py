"""Ranks started by an MPI launcher (``mpirun`` of Open MPI, MVAPICH, MPICH, Intel MPI: their own
variables, not torchrun's): each process knows its rank before torch.distributed is up, so a job is
one run written by rank 0, not one run per rank each counting the node (``ranks.from_environment``).
"""

from __future__ import annotations

import pytest

from powertrain import PowertrainError
from powertrain.tracking import links, ranks
from powertrain.tracking.ranks import from_environment

OPEN_MPI = {"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4"}
OPEN_MPI["OMPI_COMM_WORLD_LOCAL_RANK"] = "1"
MVAPICH = {"MV2_COMM_WORLD_RANK": "3", "MV2_COMM_WORLD_SIZE": "4", "MV2_COMM_WORLD_LOCAL_RANK": "1"}
HYDRA = {"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1"}  # MPICH, Intel MPI


@pytest.mark.parametrize("env", [OPEN_MPI, MVAPICH, HYDRA], ids=["openmpi", "mvapich", "pmi"])
def test_an_mpi_launchers_rank_is_read(env):
    info = from_environment(env)
    assert (info.rank, info.world_size, info.local_rank, info.source) == (3, 4, 1, "MPI")
    assert info.distributed and not info.leader


def test_torchruns_names_win_and_mpirun_wins_over_the_srun_step_of_its_daemons():
    """``RANK``/``WORLD_SIZE`` set (a script that sets them from MPI's, or torchrun) are the rank;
    mpirun inside a SLURM allocation starts its daemons with srun, whose SLURM_PROCID is the
    daemon's, not the rank's."""
    torch = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}
    assert from_environment({**OPEN_MPI, **torch}).source == "torchrun"
    daemons = {"SLURM_STEP_ID": "0", "SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NODEID": "0"}
    info = from_environment({**OPEN_MPI, **daemons})
    assert (info.rank, info.world_size, info.source) == (3, 4, "MPI")


def test_a_lone_mpi_process_is_one_process_and_nonsense_is_one_clear_error():
    assert not from_environment({"PMI_RANK": "0", "PMI_SIZE": "1"}).distributed
    assert not from_environment({"PMI_RANK": "0"}).distributed  # no size said: not a job's rank
    with pytest.raises(PowertrainError, match="OMPI_COMM_WORLD_RANK=4"):
        from_environment({**OPEN_MPI, "OMPI_COMM_WORLD_RANK": "4"})


def test_mpi_ranks_without_torch_distributed_are_told_to_start_it(monkeypatch):
    """No exchange route of their own (no launcher store): one clear error at the first evaluate,
    rather than each rank writing the run as a job of its own."""
    info = ranks.current(OPEN_MPI)
    with pytest.raises(PowertrainError, match="init_process_group"):
        links.link(info, "key", {}, {}, 5.0, lambda: None, OPEN_MPI)


def test_srun_tasks_that_also_carry_pmi_numbers_stay_slurm_tasks():
    """srun starting MPI ranks itself (Cray MPICH's PMI, ``srun --mpi=...``) sets PMI_RANK and
    PMI_SIZE to SLURM's own numbers: the task is SLURM's, with its node number and the results
    store's exchange, as without them."""
    task = {"SLURM_STEP_ID": "0", "SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_NODEID": "1"}
    info = from_environment({**task, "PMI_RANK": "3", "PMI_SIZE": "4", "SLURM_LOCALID": "1"})
    assert (info.rank, info.world_size, info.node_rank, info.source) == (3, 4, 1, "SLURM")
