"""The store route of SLURM tasks (``board.StoreBoard``): a results store that is briefly locked or
away while the ranks exchange (another process's long write on a SQLite file, a server's restart)
delays the exchange, it does not end it; a store that stays away until the rank timeout ends it
with the store's error named."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from powertrain.store.memory import MemoryStore
from powertrain.tracking import board, job
from powertrain.tracking.combine import RankReading
from powertrain.tracking.ranks import RankInfo


class Locked(MemoryStore):
    """Refuses its next ``refusals`` message reads and writes, as a locked database does."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self._lock_ = threading.Lock()

    def _refuse(self) -> None:
        with self._lock_:
            if self.refusals:
                self.refusals -= 1
                raise sqlite3.OperationalError("database is locked")

    def post_rank_message(self, *args):
        self._refuse()
        return super().post_rank_message(*args)

    def rank_messages(self, *args):
        self._refuse()
        return super().rank_messages(*args)


def reading(rank: int, cpu_j: float) -> RankReading:
    """A rank's CPU-time estimate: its own processes', summed over the ranks."""
    return RankReading(rank, 0, "h", {"cpu": cpu_j}, scope={"cpu": "process"})


def rank_job(store, rank: int, timeout_s: float) -> board.BoardJob:
    info = RankInfo(rank, 2, rank, 0, "h", "SLURM")
    return board.BoardJob(info, "key", {}, {}, timeout_s, board.StoreBoard(store, "j/key/0"))


def test_a_store_locked_for_a_moment_delays_the_exchange_and_ends_nothing():
    store, got = Locked(refusals=6), []

    def follow():
        follower = rank_job(store, 1, 10.0)
        follower.gather(job.POINT, reading(1, 7.0), 0)
        got.append(follower.decide())

    thread = threading.Thread(target=follow)
    thread.start()
    leader = rank_job(store, 0, 10.0)
    messages = leader.gather(job.POINT, reading(0, 5.0), 0)
    assert leader.problem(messages) is None, messages
    assert leader.combine(messages).energy_j == {"cpu": 12.0}
    leader.decide(job.Decision(status="reached", stop_reason="every target reached"))
    thread.join(10)
    assert got and got[0].status == "reached" and store.refusals == 0


def test_a_store_away_until_the_timeout_ends_the_exchange_naming_its_error():
    leader = rank_job(Locked(refusals=10**9), 0, 0.3)
    with pytest.raises(job.RanksLost, match="database is locked"):
        leader.gather(job.POINT, reading(0, 5.0), 0)


def test_a_store_that_refuses_for_good_is_not_waited_for():
    """A refusal of powertrain's own (the SQLite file removed under the job: every later write is
    refused the same way) ends the exchange at once, not at the rank timeout."""
    from powertrain.store.sqlite_guard import StoreRemoved

    class Removed(MemoryStore):
        def post_rank_message(self, *args):
            raise StoreRemoved("the results store was removed while this process wrote it")

    leader = rank_job(Removed(), 0, 60.0)
    with pytest.raises(StoreRemoved):
        leader.gather(job.POINT, reading(0, 5.0), 0)
