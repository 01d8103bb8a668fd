"""Which process of a distributed job this is: its global rank, its node and its rank on the node.

Read from torch.distributed where it is initialised, else from the launcher's environment:
torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``LOCAL_WORLD_SIZE``/``GROUP_RANK``, Lightning's
``NODE_RANK``, MPI launchers' (``mpirun``: Open MPI's ``OMPI_COMM_WORLD_*``, MVAPICH's
``MV2_COMM_WORLD_*``, MPICH's, Intel MPI's and other PMI launchers' ``PMI_RANK``/``PMI_SIZE``) where
torch's are absent, and SLURM's ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID``/``SLURM_NODEID``
where neither is, in a task of an srun step (a batch script's own process is alone; in a
heterogeneous SLURM job the node is the node's place in the job's node list:
``slurm.het_node_rank``). Nothing here starts a process group; ``current()`` is a function you call.
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.slurm import het_node_rank, in_step

#: (global rank, world size, local rank, node rank): torch's launcher names, then SLURM's.
_TORCH = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "GROUP_RANK")
_SLURM = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NODEID")
#: (global rank, world size, local rank names) of the MPI launchers; they number no nodes (the
#: machine tells a rank's node: ``combine``). Before SLURM's: mpirun in a SLURM allocation starts
#: its daemons with srun, so its ranks see that step's SLURM_PROCID (the daemon's) as well.
_MPI = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", ("OMPI_COMM_WORLD_LOCAL_RANK",)),
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", ("MV2_COMM_WORLD_LOCAL_RANK",)),
    ("PMI_RANK", "PMI_SIZE", ("MPI_LOCALRANKID", "PMI_LOCAL_RANK")),
)
#: More processes than any job runs: a larger world size is a mistyped environment (and every rank
#: number must fit the stores' 32-bit message columns, contract 11).
MAX_WORLD_SIZE = 1 << 20


@dataclass(frozen=True)
class RankInfo:
    """This process's place in its job. A lone process is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    node_rank: int = 0
    host: str = ""
    source: str = "one process"  # where the figures were read: torch.distributed, torchrun, SLURM

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the process that writes the run and decides when it stops."""
        return self.rank == 0

    def describe(self) -> str:
        return f"rank {self.rank} of {self.world_size} (node {self.node_rank}, {self.source})"


@functools.cache
def machine(proc: Path = Path("/proc")) -> str:
    """Which machine this process runs on, for the figures of its devices (a RAPL package): the
    kernel's boot id, drawn at random at each boot, which every process and container of one
    machine shares and a separately booted machine (a clone of one disk image too) does not; ""
    where it cannot be read (not Linux, a /proc that hides it): unknown, so a node's counters are
    then its own, never merged with another node's by a hostname, which machines may share. VMs
    resumed from one memory snapshot (no boot in between) share the boot id of the snapshot's
    kernel: their device-wide counters would be counted once (GPUs by UUID are not affected)."""
    try:
        boot_id = (proc / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
    return f"boot-{boot_id}" if boot_id else ""


def current(environ: Mapping[str, str] | None = None) -> RankInfo:
    """This process's rank: torch.distributed's where it is up, else the launcher's environment."""
    env = os.environ if environ is None else environ
    launched = from_environment(env)
    rank, world = _torch_rank()
    if world is None:
        return launched
    said = launched.source in ("SLURM", "MPI") or "WORLD_SIZE" in env  # the launcher said its size
    if said and launched.distributed and (launched.rank, launched.world_size) != (rank, world):
        raise PowertrainError(
            f"torch.distributed says rank {rank} of {world}, but the launcher's environment says "
            f"{launched.describe()}; start the job with one launcher"
        )
    return RankInfo(
        rank, world, launched.local_rank, launched.node_rank, launched.host, "torch.distributed"
    )


def from_environment(env: Mapping[str, str]) -> RankInfo:
    """The rank the launcher put in the environment (torchrun, Lightning, MPI, SLURM), or rank 0 of
    1: torchrun's names first, then MPI's, then SLURM's (an srun task whose MPI numbers are
    SLURM's own, srun having started the MPI ranks, stays SLURM's)."""
    host = platform.node()
    torch = _launched(env, _TORCH, "torchrun", host)
    if torch is not None:
        return torch
    mpi = _mpi(env, host)
    # a batch script's own process sees the allocation's numbers, not a task's: no SLURM rank
    slurm = _slurm(env, host, mpi is not None) if in_step(env) else None
    same = slurm is not None and mpi is not None
    if same and (slurm.rank, slurm.world_size) == (mpi.rank, mpi.world_size):
        return slurm  # srun started the MPI ranks itself (PMI): SLURM's task, with its node
    return mpi or slurm or RankInfo(host=host)


def _slurm(env: Mapping[str, str], host: str, mpi: bool) -> RankInfo | None:
    """SLURM's rank of this srun task; beside an MPI launcher's (mpirun's daemons started by srun
    see that step's numbers), SLURM's numbers that make no rank are not this process's error."""
    try:
        return _launched(env, _SLURM, "SLURM", host)
    except PowertrainError:
        if mpi:
            return None
        raise


def _launched(env: Mapping[str, str], names, source: str, host: str) -> RankInfo | None:
    """The rank torchrun's (or Lightning's) or SLURM's names give, or None where they give none."""
    rank, world, local, node = (_integer(env, name) for name in names)
    if source == "torchrun" and node is None:
        node = _integer(env, "NODE_RANK")  # Lightning's launcher
    said = names[0] if rank is not None else names[2]  # where the rank was read
    if rank is None and world is not None and local is not None:
        rank = _lightning_rank(env, local, node or 0)
    if rank is None and local is None:
        return None
    rank = local if rank is None else rank
    _check(env, names, said, rank, world, local, node)
    if source == "SLURM":  # a heterogeneous job numbers a shared node once per component
        node = het_node_rank(env, node)
    world = rank + 1 if world is None else world  # unsaid (Lightning's spawned ranks): at least
    return RankInfo(rank, world, local if local is not None else rank, node or 0, host, source)


def _mpi(env: Mapping[str, str], host: str) -> RankInfo | None:
    """The rank an MPI launcher gave this process (rank and size both said), or None."""
    for rank_name, size_name, local_names in _MPI:
        rank, world = _integer(env, rank_name), _integer(env, size_name)
        if rank is None or world is None:
            continue
        local = next((v for v in (_integer(env, n) for n in local_names) if v is not None), None)
        names = (rank_name, size_name, local_names[0], "")
        _check(env, names, rank_name, rank, world, local, None)
        return RankInfo(rank, world, rank if local is None else local, 0, host, "MPI")
    return None


def _check(env, names, said: str, rank: int, world, local, node) -> None:
    """One clear error for a launcher's environment no job can have."""
    if world is not None and not 1 <= world <= MAX_WORLD_SIZE:
        raise PowertrainError(
            f"{names[1]}={world} in the environment is not a job's number of processes (1 to "
            f"{MAX_WORLD_SIZE:,}); check what the launcher or the job script sets"
        )
    node_name = names[3] if _integer(env, names[3]) is not None else "NODE_RANK"
    for name, value in ((names[2], local), (node_name, node)):
        if value is not None and not 0 <= value < MAX_WORLD_SIZE:
            raise PowertrainError(f"{name}={value} in the environment is not a rank (0 or more)")
    if rank < 0 or (world is not None and rank >= world) or rank >= MAX_WORLD_SIZE:
        of = f"a job of {names[1]}={world} processes" if world is not None else "any job"
        raise PowertrainError(f"{said}={rank} in the environment is not a rank of {of}")


def _lightning_rank(env: Mapping[str, str], local: int, node: int) -> int:
    """Lightning's launcher sets LOCAL_RANK, NODE_RANK and WORLD_SIZE, not RANK. Without
    LOCAL_WORLD_SIZE the rank is provisional (zero only on node 0's local rank 0, which is all that
    matters before torch.distributed is up and says the real one)."""
    per_node = _integer(env, "LOCAL_WORLD_SIZE") or 1
    return node * per_node + local


def _integer(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise PowertrainError(f"{name}={value!r} in the environment is not a number") from None


def _torch_rank() -> tuple[int | None, int | None]:
    """(rank, world size) from torch.distributed when a process group is up; (None, None) if not."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return None, None
    return dist.get_rank(), dist.get_world_size()
