"""One run's energy out of many processes' readings, each physical device counted once.

Every rank sends a ``RankReading`` at each evaluation point. Per node (by node rank): a device-wide
figure (NVML GPUs, RAPL packages and DRAM: a meter whose ``scope`` is ``"device"``) is taken from one
process, the node's lowest rank that reads it, and a GPU by its UUID, so that a GPU two ranks both see
counts once (and a machine's devices once, where two node ranks run on it); a process-attributed figure (the CPU-time and memory estimates, ``scope == "process"``)
is summed over every rank of the node, since each rank measures its own processes. The run's figure
is the sum over nodes. Pure functions: ``tracking/channel.py`` moves the readings, this adds them up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GPU = "gpu"
DEVICE, PROCESS = "device", "process"


@dataclass(frozen=True)
class RankReading:
    """What one rank measured since its run began: joules per component, per GPU (UUID -> J), each
    component's scope (device-wide or this rank's processes) and method."""

    rank: int
    node: int
    host: str
    energy_j: dict[str, float]
    gpu_energy_j: dict[str, float] = field(default_factory=dict)
    scope: dict[str, str] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0  # since this rank's run began: the window its joules cover
    #: What its meters noted about its figures (a counter reset, a window too short for a meter).
    faults: tuple[str, ...] = ()
    #: Whether each component's figure is an estimate (its meter's provenance); a component missing
    #: here (a rank of an older version) is not known.
    estimated: dict[str, bool] = field(default_factory=dict)
    #: The machine it runs on (``ranks.machine``): two node ranks of one machine share its
    #: device-wide counters; empty from a rank of an older version (its node is taken for it).
    machine: str = ""
    #: Its process, and the descendants its process-attributed figures count (a rank that another
    #: rank started as its child, as Lightning's ``ddp`` does, is in that rank's figures already).
    pid: int = 0
    tree_pids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Combined:
    """The run's joules per component, and the per-node breakdown the store keeps."""

    energy_j: dict[str, float]
    nodes: list[dict[str, Any]]
    #: The faults of the ranks other than 0, each "rank N: ..." (rank 0's travel with its own window).
    faults: list[str] = field(default_factory=list)

    @property
    def ranks(self) -> int:
        return sum(len(n["ranks"]) for n in self.nodes)


def combine(readings: list[RankReading]) -> Combined:
    """Each device once per node, each rank's processes once; nodes summed (see the module doc)."""
    by_node: dict[tuple[int, str, str], list[RankReading]] = {}
    for reading in sorted(readings, key=lambda r: r.rank):  # a node: its rank, host and machine
        # (a launcher that numbers no nodes, mpirun's, gives every rank node 0: two machines that
        # share a hostname are still two nodes, each package read by one of its own ranks)
        by_node.setdefault((reading.node, reading.host, reading.machine), []).append(reading)
    counted: dict = {}  # (machine, component) or a GPU's UUID -> the node that counted it
    nodes = [_node(node, ranks, counted) for (node, *_), ranks in sorted(by_node.items())]
    total: dict[str, float] = {}
    for node in nodes:
        for component, joules in node["energy_j"].items():
            total[component] = total.get(component, 0.0) + joules
    ranks = sorted(readings, key=lambda r: r.rank)
    faults = [f"rank {r.rank}: {fault}" for r in ranks if r.rank != 0 for fault in r.faults]
    return Combined(total, nodes, faults)


def _node(node: int, ranks: list[RankReading], counted: dict) -> dict[str, Any]:
    """The node's figures, leaving out the devices an earlier node of its machine counted."""
    components = list(dict.fromkeys(c for r in ranks for c in r.energy_j))
    energy_j, method, read_by, estimated = {}, {}, {}, {}
    for component in components:
        readers = [r for r in ranks if component in r.energy_j]
        where = (readers[0].machine or (node, readers[0].host), component)
        if component == GPU and any(r.gpu_energy_j for r in readers):
            energy_j[component], owners = _gpus_once(readers, node, counted)
            read_by[component] = _gpus_words(readers, owners, counted)
            counted_by = [r for r in readers if r.rank in owners.values()]
        elif readers[0].scope.get(component, DEVICE) == DEVICE and where in counted:
            energy_j[component], counted_by = 0.0, []
            read_by[component] = f"counted with node {counted[where]} (the same machine)"
        elif readers[0].scope.get(component, DEVICE) == DEVICE:
            energy_j[component], counted[where] = readers[0].energy_j[component], node
            read_by[component] = f"rank {readers[0].rank} (device-wide, read once)"
            counted_by = readers[:1]
        else:
            within = _within(readers)
            counted_by = [r for r in readers if r.rank not in within]
            energy_j[component] = sum(r.energy_j[component] for r in counted_by)
            read_by[component] = (
                f"summed over ranks {[r.rank for r in counted_by]} (their processes)"
                + "".join(
                    f"; rank {c} counted with rank {p}, its parent" for c, p in within.items()
                )
            )
        method[component] = readers[0].method.get(component, "")
        said = [r.estimated[component] for r in counted_by if component in r.estimated]
        if said:  # one estimate among the figures added makes the node's an estimate
            estimated[component] = any(said)
    return {
        "node": node,
        "host": ranks[0].host,
        "ranks": [r.rank for r in ranks],
        "gpus": sorted({u for r in ranks for u in r.gpu_energy_j}),
        "duration_s": ranks[0].duration_s,  # the node's window: its ranks began at their own time
        "energy_j": energy_j,
        "method": method,
        "estimated": estimated,
        "read_by": read_by,
    }


def _within(readers: list[RankReading]) -> dict[int, int]:
    """The ranks whose process another rank of the node counts among its descendants: rank -> that
    rank (the nearest: a rank's own figure counts its whole tree)."""
    within: dict[int, int] = {}
    for reading in readers:
        holders = [r for r in readers if r is not reading and reading.pid in r.tree_pids]
        if reading.pid and holders:
            within[reading.rank] = min(holders, key=lambda r: len(r.tree_pids)).rank
    return within


def _gpus_once(readers: list[RankReading], node: int, counted: dict) -> tuple[float, dict]:
    """The node's GPU joules with each UUID taken from its lowest-rank reader, unless an earlier node
    counted it (a UUID names one GPU in the world); who read which."""
    owners: dict[str, int] = {}
    joules = 0.0
    for reading in readers:  # in rank order
        for uuid, gpu_j in reading.gpu_energy_j.items():
            if uuid not in owners and uuid not in counted:
                owners[uuid] = reading.rank
                joules += gpu_j
    counted.update(dict.fromkeys(owners, node))
    return joules, owners


def _gpus_words(readers: list[RankReading], owners: dict[str, int], counted: dict) -> str:
    words = f"each GPU by one rank (by UUID): {owners}"
    before = sorted({u for r in readers for u in r.gpu_energy_j} - set(owners))
    if before:  # seen by an earlier node of the same machine
        words += f"; {before} counted with node {sorted({counted[u] for u in before})}"
    return words


def scope_words(scope: str, ranks: int) -> str:
    """How a component's figures of a job of ``ranks`` ranks are added (the provenance says it)."""
    if scope == PROCESS:
        return f"each rank measures its own processes: summed over the job's {ranks} ranks"
    return (
        f"device-wide: read once per node (GPUs by UUID) among the job's {ranks} ranks, "
        "nodes summed"
    )
