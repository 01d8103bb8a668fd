"""Which exchange links a rank to the other ranks of its job (``tracking/job.py``'s ``Job``):

1. torch.distributed is up: collectives over a gloo group of powertrain's own (``job.Job``);
2. a torchrun rank of a script that never starts torch.distributed: torchrun's own key-value store
   (``board.TcpBoard``);
3. a SLURM task (``srun``) with no torch.distributed: the results store's messages
   (``board.StoreBoard``), the one thing every task shares; on several nodes, only a store shared
   between machines (PostgreSQL: a SQLite file is one machine's, and stamps each node's clock).

A batch script's own process (SLURM says task 0 of an allocation, no ``srun`` step) is alone
(``ranks.from_environment`` reads no rank from it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping

from powertrain.errors import PowertrainError
from powertrain.slurm import step_nodes
from powertrain.tracking import board as board_
from powertrain.tracking import job as job_
from powertrain.tracking import ranks as ranks_
from powertrain.tracking.combine import RankReading


def link(
    info: ranks_.RankInfo,
    run_key: str,
    meters,
    gpu_start_j: dict,
    timeout_s: float,
    store: Callable[[], object],
    env: Mapping[str, str] | None = None,
) -> job_.Job | None:
    """A Job when this process is one of several ranks, else None; ``store()``: the results store
    (opened on the ranks that do not write the run only when the store carries the exchange)."""
    env = os.environ if env is None else env
    if not info.distributed:
        return None
    args = (info, run_key, meters, gpu_start_j, timeout_s)
    if info.source == "torch.distributed":
        return job_.Job(*args)
    address = board_.torchrun_store(env)
    if info.source == "torchrun" and address is not None:
        return board_.BoardJob(*args, board_.tcp_board(address, run_key, info, timeout_s))
    step = board_.slurm_step(env)
    if info.source == "SLURM" and step is not None:
        shared = store()
        _reaches_every_node(shared, env)
        if info.leader:  # what ended jobs left (each run's last exchange), not this job's
            shared.expire_rank_messages(board_.MESSAGES_KEPT_S)
        return board_.BoardJob(*args, board_.StoreBoard(shared, board_.channel(step, run_key)))
    if info.source == "SLURM" and info.leader:
        return None  # a step no job id names (no channel for it): rank 0 alone
    raise PowertrainError(
        f"this process is {info.describe()}, but torch.distributed is not initialised and the "
        "launcher offers no store to exchange through: call "
        "torch.distributed.init_process_group() before run.evaluate, so that rank 0 can add "
        "up the ranks' energy and send every rank the same stop decision"
    )


def ready(info: ranks_.RankInfo, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``link`` finds a route now (torch.distributed up, or a launcher's board), before any
    evaluate: every rank of a job sees the same."""
    env = os.environ if env is None else env
    if info.source == "torch.distributed":
        return True
    if info.source == "torchrun":
        return board_.torchrun_store(env) is not None
    return info.source == "SLURM" and board_.slurm_step(env) is not None


@contextlib.contextmanager
def refusal_told(tracker):
    """Around rank 0's beginning of ``tracker``'s run: where it cannot begin it (it refuses one that
    finished before, say), through a board, where no connection closes as rank 0 goes on or ends
    (the results store, torchrun's store), the other ranks, which began theirs, learn it at their
    first exchange rather than wait for rank 0 until the timeout; over torch.distributed, where
    they wait in the exchange at the start (``RankedRun.agreed``), they learn it there. Rank 0's
    error goes up as it was."""
    try:
        yield
    except PowertrainError as refused:
        _tell(tracker, refused)
        raise


def _tell(tracker, error: Exception) -> None:
    """Rank 0's ``error`` as its decision of the first exchange, on a board; best effort."""
    from powertrain.tracking import store as db_

    opened: list = []

    def store():
        opened.append(db_.open_db(tracker.db))
        return opened[-1][0]

    try:
        info = ranks_.current()
        if info.distributed and info.leader and ready(info):
            job = link(info, tracker.run_key, {}, {}, tracker.rank_timeout_s, store)
            if job is not None:
                if info.source == "torch.distributed":  # the others wait in the start's exchange
                    job.gather(job_.START, RankReading(info.rank, info.node_rank, info.host, {}), 0)
                job.decide(job_.Decision(error=str(error)))
                job.end()
    except Exception:  # noqa: S110 the others then wait as they would have
        pass
    finally:
        for opened_store, owned in opened:
            if owned:
                opened_store.close()


def _reaches_every_node(store, env: Mapping[str, str]) -> None:
    """PowertrainError for a job step on several nodes whose store is one machine's (a SQLite file):
    its locks and WAL journal do not hold between machines (a network file system), so the ranks'
    messages may never meet, and each would be stamped by its own node's clock. Every task reads the
    same SLURM variables, so every one of them stops here, none waits for the others."""
    nodes = step_nodes(env)
    if nodes > 1 and not store.shared_by_hosts:
        raise PowertrainError(
            f"this job's tasks run on {nodes} nodes and exchange through the results store, but "
            f"{getattr(store, 'path', 'it')} is a file, which only the processes of one machine can share (its "
            "locks and journal do not hold over a network file system); give --db (or "
            "POWERTRAIN_DB) a postgresql:// URL, or call torch.distributed.init_process_group() "
            "so that the ranks exchange over it"
        )
