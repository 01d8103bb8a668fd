"""SLURM tasks that exchange through the results store (no torch.distributed) on several nodes need a
store that machines share: a SQLite file is one machine's (its locks and WAL journal do not hold over a
network file system, and each node would stamp its messages by its own clock), so every task of such a
step stops at once with one message saying what to use; on one node, or with PostgreSQL, they go on."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.store.memory import MemoryStore
from powertrain.store.sqlite import SqliteStore
from powertrain.tracking.board import BoardJob
from powertrain.tracking.links import link
from powertrain.tracking.ranks import from_environment


def step_env(rank: int, nodes: int) -> dict[str, str]:
    """What ``srun -N NODES -n 4`` gives task ``rank``."""
    return {
        "SLURM_JOB_ID": "77",
        "SLURM_STEP_ID": "0",
        "SLURM_PROCID": str(rank),
        "SLURM_NTASKS": "4",
        "SLURM_LOCALID": str(rank % 2),
        "SLURM_NODEID": str(rank // 2 if nodes > 1 else 0),
        "SLURM_STEP_NUM_NODES": str(nodes),
        "SLURM_JOB_NODELIST": "n[1-2]" if nodes > 1 else "n1",
    }


def linked(store, rank: int, nodes: int):
    env = step_env(rank, nodes)
    return link(from_environment(env), "key", {}, {}, 5.0, lambda: store, env)


@pytest.mark.parametrize("rank", [0, 3])
def test_a_sqlite_store_on_several_nodes_stops_every_task_with_what_to_use(tmp_path, rank):
    with SqliteStore(tmp_path / "runs.db") as store:
        with pytest.raises(PowertrainError, match="run on 2 nodes") as told:
            linked(store, rank, nodes=2)
        assert "postgresql://" in str(told.value) and "init_process_group" in str(told.value)
        assert str(tmp_path / "runs.db") in str(told.value)


def test_on_one_node_or_with_a_store_machines_share_the_tasks_exchange(tmp_path):
    with SqliteStore(tmp_path / "runs.db") as store:
        assert isinstance(linked(store, 1, nodes=1), BoardJob)
    server = MemoryStore()
    server.shared_by_hosts = True  # what PostgresStore says of itself
    assert isinstance(linked(server, 3, nodes=2), BoardJob)


def test_only_the_server_store_says_machines_share_it(tmp_path):
    from powertrain.store.postgres import PostgresStore

    assert PostgresStore.shared_by_hosts and not SqliteStore.shared_by_hosts
    assert not MemoryStore.shared_by_hosts
