"""SLURM, read from the environment it gives each task: which share of a study an array task runs
(``--shard auto``), the job and node a run's hardware record names, and, in a heterogeneous job,
which node a task is on.

An array (``sbatch --array=0-7``) numbers its tasks ``SLURM_ARRAY_TASK_ID`` from ``SLURM_ARRAY_TASK_MIN``
in steps of ``SLURM_ARRAY_TASK_STEP``, ``SLURM_ARRAY_TASK_COUNT`` of them; a job of several tasks
(``srun -n 4``) numbers them ``SLURM_PROCID`` from 0 to ``SLURM_NTASKS`` - 1. With a shared
PostgreSQL store no shard is needed at all: every task claims the runs no other task holds.

A heterogeneous job (``sbatch -n2 : -n4``; ``SLURM_HET_SIZE`` components, ``SLURM_PACK_SIZE`` before
Slurm 20.02) is one run when one ``srun`` starts its components' tasks together (``srun a : b``,
``--het-group=0,1``): SLURM then numbers the tasks across the components (``SLURM_PROCID`` from 0,
``SLURM_NTASKS`` all of them) and lists every component's nodes in ``SLURM_JOB_NODELIST``. Its node
numbers (``SLURM_NODEID``) count a node once per component, though, and components may share a node;
so there a task's node is its place in ``SLURM_JOB_NODELIST`` (``het_node_rank``), the same for every
task on it, and each device is counted once. Components started by separate ``srun`` commands are
separate jobs, to SLURM's numbering and to powertrain.
"""

from __future__ import annotations

import os
import platform
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
    """(i, N) of this SLURM process: its place in the job array, and, in an ``srun`` step of an
    array task (``srun -n 2`` in each), its place among that step's tasks too (every array task
    runs the same script, so the same number of tasks: task t's process p takes share t * n + p
    of N * n); outside an array, its place among its step's tasks. A clear PowertrainError outside
    SLURM, for an array whose task ids are not evenly spaced, or for a batch script's own process
    of an allocation of several tasks (one process, not one of several)."""
    env = os.environ if env is None else env
    procid, ntasks = _integer(env, "SLURM_PROCID"), _integer(env, "SLURM_NTASKS")
    stepped = in_step(env) and procid is not None and ntasks is not None and 0 <= procid < ntasks
    array = _array_share(env)
    if array is not None:
        index, count = array
        return (index * ntasks + procid, count * ntasks) if stepped else (index, count)
    if stepped:
        return procid, ntasks
    if procid is not None and ntasks is not None and not in_step(env):
        if ntasks == 1:  # a batch script's own process, its job's one task: the whole study
            return 0, 1
        raise PowertrainError(
            f"--shard auto: this is the batch script's own process, one process of an allocation "
            f"of SLURM_NTASKS={ntasks} tasks: start it with srun (srun powertrain run ... --shard "
            "auto) for a share per task, or give --shard i/N yourself"
        )
    raise PowertrainError(
        "--shard auto: not inside a SLURM job array or job step (no SLURM_ARRAY_TASK_ID and "
        "SLURM_ARRAY_TASK_COUNT, nor SLURM_PROCID and SLURM_NTASKS); give --shard i/N, or, with a "
        "shared postgresql:// store, no shard at all"
    )


def _array_share(env: Mapping[str, str]) -> tuple[int, int] | None:
    """(i, N) of this array task among the array's; None outside an array."""
    task, count = _integer(env, "SLURM_ARRAY_TASK_ID"), _integer(env, "SLURM_ARRAY_TASK_COUNT")
    if task is None:
        return None
    if count is None:  # its step's task 0 of 1 would be the whole study
        raise PowertrainError(
            f"--shard auto: array task {task}, but SLURM_ARRAY_TASK_COUNT does not say how many "
            "tasks the array has (a Slurm before 18.08?); give --shard i/N yourself"
        )
    first = _integer(env, "SLURM_ARRAY_TASK_MIN") or 0
    step = _integer(env, "SLURM_ARRAY_TASK_STEP") or 1
    index, rest = divmod(task - first, step)
    if rest or not 0 <= index < count:
        raise PowertrainError(
            f"--shard auto: array task {task} is not one of {count} evenly spaced from {first} "
            f"in steps of {step} (an --array list such as 1,5,7?); give --shard i/N yourself"
        )
    return index, count


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
        "het_size": "SLURM_HET_SIZE",  # a heterogeneous job: how many components
    }
    return {key: env[name] for key, name in names.items() if env.get(name)}


def slurm_machine_label(hardware: dict[str, Any], job: dict[str, Any]) -> str:
    """The machine a SLURM run is compared on in reports: its chip in its cluster's partition, not its
    node, so that a sweep spread over a partition's identical nodes is one machine (runs on other
    partitions, or other chips, stay apart)."""
    chip = hardware.get("gpu_model") or hardware.get("cpu_model") or "unknown"
    where = "/".join(job[k] for k in ("cluster", "partition") if job.get(k)) or "a SLURM cluster"
    return f"{chip} on {where}"


def in_step(env: Mapping[str, str]) -> bool:
    """Whether this process is a task of an ``srun`` job step, whose SLURM_PROCID and SLURM_NTASKS
    number the step's processes; a batch script's own process sees the allocation's."""
    step = env.get("SLURM_STEP_ID", env.get("SLURM_STEPID"))
    return bool(step) and step not in ("batch", "extern", "4294967294")


def step_nodes(env: Mapping[str, str]) -> int:
    """How many nodes this task's job step runs on (1 where SLURM does not say)."""
    for name in ("SLURM_STEP_NUM_NODES", "SLURM_NNODES"):
        value = env.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


# -- heterogeneous jobs -----------------------------------------------------------------------------
MOST_NODES = 1 << 16  # more nodes than any one job has: a longer expansion is a mistyped list


def het_size(env: Mapping[str, str]) -> int:
    """How many components this process's SLURM job has: 1 for an ordinary job (or none)."""
    for name in ("SLURM_HET_SIZE", "SLURM_PACK_SIZE"):  # PACK: Slurm before 20.02
        value = env.get(name, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise PowertrainError(f"{name}={value!r} in the environment is not a count")
            return int(value)
    return 1


def het_node_rank(env: Mapping[str, str], node: int | None) -> int | None:
    """``node`` (the task's ``SLURM_NODEID``), or, in a heterogeneous job, the task's node's place
    among ``SLURM_JOB_NODELIST``'s nodes: one number per node, whichever components' tasks it runs.
    PowertrainError when the node is not on that list."""
    size = het_size(env)
    if size < 2:
        return node
    listed = env.get("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST", ""))
    name = env.get("SLURMD_NODENAME") or platform.node().split(".")[0]
    nodes = expand_nodelist(listed) if listed else []
    if name not in nodes:
        raise PowertrainError(
            f"this task is in a heterogeneous SLURM job (SLURM_HET_SIZE={size}), but its node "
            f"{name!r} is not in SLURM_JOB_NODELIST={listed!r}, so which tasks share its node, and "
            "its devices, cannot be told; start every component's tasks with one srun "
            "(srun ... : ...), or run the components as jobs of their own"
        )
    return nodes.index(name)


def expand_nodelist(text: str) -> list[str]:
    """The node names of a SLURM host list (``gpu[01-03,07],login1``), in its order, each once."""
    names: list[str] = []
    for item in _items(text):
        names.extend(_expand(item, text))
        if len(names) > MOST_NODES:
            raise PowertrainError(f"the SLURM host list {text!r} names over {MOST_NODES:,} nodes")
    return list(dict.fromkeys(names))


def _items(text: str) -> list[str]:
    """The host list split at the commas outside brackets."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth not in (0, 1):
            raise PowertrainError(f"{text!r} is not a SLURM host list (its brackets do not pair)")
        if char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise PowertrainError(f"{text!r} is not a SLURM host list (its brackets do not pair)")
    return [*items, text[start:]]


def _expand(item: str, text: str) -> list[str]:
    """One item's names: its first bracket's numbers (zero-padded as written), each followed by
    every expansion of the rest of the item."""
    bad = PowertrainError(f"{text!r} is not a SLURM host list (at {item!r})")
    if "[" not in item:
        if not item or "]" in item:
            raise bad
        return [item]
    head, _, rest = item.partition("[")
    body, _, tail = rest.partition("]")
    tails = _expand(tail, text) if tail else [""]
    names = []
    for part in body.split(","):
        low, dash, high = part.partition("-")
        high = high if dash else low  # "1-" is no range
        if not low.isdigit() or not high.isdigit() or int(high) < int(low):
            raise bad
        # every bracket multiplies the names: counted before they are made
        if len(names) + (int(high) - int(low) + 1) * len(tails) > MOST_NODES:
            raise PowertrainError(f"the SLURM host list {text!r} names over {MOST_NODES:,} nodes")
        for number in range(int(low), int(high) + 1):
            names += [f"{head}{number:0{len(low)}d}{end}" for end in tails]
    return names
