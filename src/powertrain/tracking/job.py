"""A tracked run's link to the other ranks of its distributed job.

At each evaluation point every rank sends what it measured (``combine.RankReading``) with its run key;
rank 0 adds them up (each device once), records the point and decides; the decision goes back to every
rank, so all leave the loop together. Two collectives per point over a gloo group of our own with a
timeout (``timeout_s``), so no rank waits forever: a rank that died, hangs, or never entered the block
ends the exchange with ``RanksLost`` on the others. An exchange where a rank says it closed ends the
link on every rank; so does a failed one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.meters.base import Component
from powertrain.tracking import given as given_
from powertrain.tracking import ranks as ranks_
from powertrain.tracking.combine import Combined, RankReading, combine

POINT, CLOSE, FAILED = "point", "close", "failed"  # FAILED: a rank leaving on an error
START = "start"  # the exchange at the block's start, where the ranks can (``RankedRun.agreed``)
#: How long a rank waits for the others at an evaluation point unless told (``rank_timeout_s``):
#: as long as torch.distributed's own collectives do by default (``default_pg_timeout``), so that a
#: job whose rank 0 validates alone for minutes, which torch lets run, is not ended by powertrain.
DEFAULT_TIMEOUT_S = 1800.0
#: The longest wait: a week, what a board keeps a job's messages (``board.MESSAGES_KEPT_S``).
MOST_TIMEOUT_S = 7 * 24 * 3600.0


class RanksLost(PowertrainError):
    """The other ranks did not answer in time, or a rank of the job died."""


@dataclass(frozen=True)
class Message:
    rank: int
    kind: str  # POINT, CLOSE, START or FAILED
    run_key: str
    reading: RankReading
    evaluations: int  # how many points this rank had evaluated before this exchange
    error: str | None = None  # a FAILED rank's error
    #: What this rank's track() was given that its run key does not hold (``given.GIVEN``): every rank's
    #: must be rank 0's, which alone records the run. None from a rank that says nothing of it.
    given: dict[str, str] | None = None


@dataclass(frozen=True)
class Decision:
    """What rank 0 sends back: the point as recorded (every rank keeps the same list), whether to
    stop and why, the outcome once the run closed, or an error every rank raises."""

    point: Any = None
    status: Any = None
    stop_reason: str | None = None
    outcome: Any = None
    error: str | None = None
    final: bool = False  # the run ended before (rank 0 skipped it): every rank stops here


class Job:
    """This process in a job of ``info.world_size`` ranks; ``gather`` and ``decide`` are the two
    collectives of one exchange, in that order, on every rank."""

    def __init__(
        self, info: ranks_.RankInfo, run_key: str, meters, gpu_start_j: dict, timeout_s: float
    ) -> None:
        self.info, self.run_key, self.timeout_s = info, run_key, float(timeout_s)
        self._attempt = _nth_link(run_key)  # what a rank leaves on the job's store is this link's
        self.open = True
        self.last: Combined | None = None  # the figures of the last exchange every rank answered
        self.shut_down = False  # the script shut torch.distributed down inside the tracked block
        self._group = None
        self._gpus = per_gpu_meter(meters)
        self._gpu_start_j = gpu_start_j
        self._meters = meters
        self.given: dict[str, str] | None = None  # set by the run: its study, store, if_finished

    def message(self, kind: str, reading: RankReading | None, evaluations: int, error=None):
        """This rank's message of an exchange."""
        return Message(
            self.info.rank, kind, self.run_key, reading, evaluations, error, given=self.given
        )

    def reading(self, so_far) -> RankReading:
        """This rank's figures since the run began (``so_far``: the monitor's run window)."""
        gpu_j = {}
        if self._gpus is not None:
            now = self._gpus.energy_by_gpu_j()
            gpu_j = {u: j - self._gpu_start_j.get(u, 0.0) for u, j in now.items()}
        return RankReading(
            rank=self.info.rank,
            node=self.info.node_rank,
            host=self.info.host,
            machine=ranks_.machine(),
            pid=os.getpid(),
            tree_pids=_tree_pids(self._meters),
            energy_j=dict(so_far.energy_j),
            gpu_energy_j=gpu_j,
            scope={c.value: m.scope for c, m in self._meters.items()},
            method={c.value: m.provenance.method.value for c, m in self._meters.items()},
            duration_s=so_far.duration_s,
            faults=tuple(so_far.faults),
            estimated={c.value: m.provenance.estimated for c, m in self._meters.items()},
        )

    # -- the two collectives ------------------------------------------------------------------------
    def gather(self, kind: str, reading: RankReading, evaluations: int) -> list[Message]:
        """Every rank's message, in rank order; RanksLost when a rank does not answer in time."""
        import torch.distributed as dist

        mine = self.message(kind, reading, evaluations)
        messages: list[Any] = [None] * self.info.world_size
        self._collective(lambda: dist.all_gather_object(messages, mine, group=self._open_group()))
        if any(m.kind == CLOSE for m in messages):
            self.open = False  # every rank saw it: no rank starts another exchange
        return messages

    def leave(self, reading: RankReading, evaluations: int, error: str) -> None:
        """A rank other than 0 leaving on an error. Over a process group its exit ends the
        others' collective at once, so no exchange is made (a board's job tells rank 0); its error
        is left on the job's store, without waiting, for rank 0 to name in the run's record."""
        self.open = False
        body = json.dumps({"evaluations": evaluations, "error": error})
        with contextlib.suppress(Exception):  # the job goes on ending however this goes
            _job_store().set(self._failure_key(self.info.rank), body)

    def abandon(self, evaluations: int, error: str) -> None:
        """Rank 0 leaving on an error: said on the job's store, where the others, whose exchange
        ends as its group does, read why (``_collective``)."""
        self.open = False
        body = json.dumps({"evaluations": evaluations, "error": error})
        _job_store().set(self._failure_key(0), body)

    def _leader_failed(self) -> str | None:
        """What rank 0 said as it left on an error, if it did."""
        with contextlib.suppress(Exception):  # a store gone with the job: nothing to name
            store = _job_store()
            if store.check([self._failure_key(0)]):
                return json.loads(store.get(self._failure_key(0)))["error"]
        return None

    def failures(self) -> list[str]:
        """Rank 0: what the ranks that left on an error said, as ``problem`` words a board's."""
        found = []
        with contextlib.suppress(Exception):  # a store gone with the job: nothing to name
            store = _job_store()
            for rank in range(1, self.info.world_size):
                key = self._failure_key(rank)
                if store.check([key]):
                    body = json.loads(store.get(key))
                    m = Message(
                        rank, FAILED, self.run_key, None, body["evaluations"], body["error"]
                    )
                    found.append(f"rank {rank} {_doing(m)}")
        return found

    def _failure_key(self, rank: int) -> str:
        return f"powertrain/failed/{self.run_key}/{self._attempt}/{rank}"

    def decide(self, decision: Decision | None = None) -> Decision:
        """Rank 0 sends ``decision``; every rank returns it."""
        import torch.distributed as dist

        box = [decision]
        self._collective(lambda: dist.broadcast_object_list(box, src=0, group=self._group))
        return box[0]

    def _collective(self, call) -> None:
        """``call()``: a collective (or making the group: it waits for every rank too)."""
        try:
            call()
        except RuntimeError as exc:  # gloo or its store: a timeout, or a peer's connection closed
            self.open = False
            failed = self.failures() if self.info.leader else []
            if failed:  # the rank that left on its error ended the exchange
                raise RanksLost("; ".join(failed[:8])) from None
            said = None if self.info.leader else self._leader_failed()
            if said is not None:  # rank 0 left on its error
                raise RanksLost(f"rank 0 ended the run: {said}") from None
            raise RanksLost(
                f"{self.info.describe()}: the other ranks did not answer within "
                f"{self.timeout_s:g} s, or one of them died ({str(exc).splitlines()[0][:200]}). "
                "Every rank must enter the tracked block and call run.evaluate at the same points"
            ) from None

    def still_up(self) -> bool:
        """Whether torch.distributed can still carry the exchange. A script may shut it down inside
        the tracked block (``destroy_process_group()`` takes powertrain's group with it, and a
        collective on that group fails half-way); then this rank's link is closed, and no exchange
        is started that could not end."""
        import torch.distributed as dist

        try:  # a group that is no longer registered: ValueError
            up = dist.is_initialized() and (self._group is None or dist.get_rank(self._group) >= 0)
        except (ValueError, RuntimeError):
            up = False
        if not up:
            self.open, self.shut_down = False, True
        return up

    def end(self) -> None:
        """Release powertrain's own group once the run is over (every rank): left to the
        interpreter's exit, gloo's threads may outlive it."""
        group, self._group = self._group, None
        if group is None:
            return
        import torch.distributed as dist

        with contextlib.suppress(RuntimeError, ValueError, AssertionError):
            if dist.is_initialized():
                dist.destroy_process_group(group)

    def _open_group(self):
        if self._group is None:
            import torch.distributed as dist

            self._group = dist.new_group(backend="gloo", timeout=timedelta(seconds=self.timeout_s))
        return self._group

    # -- rank 0's checks ---------------------------------------------------------------------------
    def problem(self, messages: list[Message]) -> str | None:
        """What makes the ranks' messages one run's, or why not (misuse), seen from rank 0."""
        mine = messages[0]
        for m in messages[1:]:
            if m.kind == FAILED:
                return f"rank {m.rank} {_doing(m)}"
            differs = given_.differs(mine, m)
            if differs is not None:
                return differs
            if m.run_key != mine.run_key:
                return (
                    f"rank {m.rank} tracks another run than rank 0 (its setup, seed or target "
                    "differ): every rank of a job must pass the same setup, seed and target to "
                    "track()"
                )
            if m.kind != mine.kind or m.evaluations != mine.evaluations:
                return (
                    f"rank {m.rank} {_doing(m)} while rank 0 {_doing(mine)}: every rank must "
                    "call run.evaluate at the same points and leave the tracked block together"
                )
        return None

    def combine(self, messages: list[Message]) -> Combined:
        self.last = combine([m.reading for m in messages])
        return self.last


def _doing(m: Message) -> str:
    if m.kind == START:
        return "began its tracked block"
    if m.kind == FAILED:
        return f"failed after {m.evaluations} evaluations: {m.error}"
    if m.kind == CLOSE:
        return f"left the tracked block after {m.evaluations} evaluations"
    return f"reached evaluation {m.evaluations + 1}"


def _tree_pids(meters) -> tuple[int, ...]:
    """The descendants this rank's process-attributed figures count (an estimate meter's tree)."""
    pids: set[int] = set()
    for meter in meters.values():
        tree = getattr(meter, "tree", None)
        if getattr(meter, "scope", "") == "process" and hasattr(tree, "pids"):
            pids.update(tree.pids())
    return tuple(sorted(pids))


_LINKS: dict[str, int] = {}  # run key -> how many links to it this process made
_LINKS_LOCK = threading.Lock()


def _nth_link(run_key: str) -> int:
    """This process's n-th link to the run (every rank tracks the same runs in the same order, so
    all agree on n): a later track() of the run in the job reads nothing an earlier one left."""
    with _LINKS_LOCK:
        n = _LINKS[run_key] = _LINKS.get(run_key, -1) + 1
    return n


def _job_store():
    """The key-value store of the job's process group (its rendezvous: torchrun's, or
    ``init_method``'s), which outlives any one rank."""
    import torch.distributed as dist

    return dist.distributed_c10d._get_default_store()


def per_gpu_meter(meters):
    """The GPU meter when it reads each GPU apart (NVML), else None."""
    gpu = meters.get(Component.GPU)
    return gpu if hasattr(gpu, "energy_by_gpu_j") else None


def gpu_baseline(meters) -> dict[str, float]:
    """Each GPU's joules when the run begins (by UUID): where its share of the job starts."""
    gpus = per_gpu_meter(meters)
    return gpus.energy_by_gpu_j() if gpus is not None else {}


class JobStopped(PowertrainError):
    """SIGTERM reached rank 0: the launcher or the scheduler is stopping the job."""


_STOPPED: list[JobStopped] = []  # the SIGTERM that reached rank 0, whatever the script did with it


def _raise_stopped(signum, frame) -> None:
    _STOPPED.append(
        JobStopped(
            "SIGTERM: the launcher or the scheduler stopped the job (under torchrun, another rank "
            "failed or died)"
        )
    )
    raise _STOPPED[-1]


def stopped(exc: BaseException | None, installed) -> BaseException | None:
    """``exc``, or the stop that reached the run's handler (``installed``: what ``stop_on_sigterm``
    returned) where the script caught it (``except Exception``)."""
    return exc if exc is not None or installed is None or not _STOPPED else _STOPPED[-1]


def end_if_stopped(installed) -> None:
    """Once rank 0 recorded the run a SIGTERM stopped: end the process as SIGTERM ends one without
    powertrain (its default action, the exit status the signal's), not by an exception the script
    may catch, or turn into exit status 1."""
    if installed is not None and _STOPPED and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)


def stop_on_sigterm():
    """On rank 0, turn SIGTERM into JobStopped so that the run is recorded as failed with that reason
    before the process ends (a launcher sends it to every rank when one dies). Only where SIGTERM has
    its default action and in the main thread; returns what ``restore_sigterm`` puts back, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None
    _STOPPED.clear()  # a stop seen before, by another run, is not this one's
    signal.signal(signal.SIGTERM, _raise_stopped)
    return signal.SIG_DFL


def restore_sigterm(previous) -> None:
    if previous is not None and signal.getsignal(signal.SIGTERM) is _raise_stopped:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_deferred(active: bool):
    """While rank 0 writes the run's end, a SIGTERM waits: it is acted on once the outcome is in the
    store (a half-written end would leave the run unfinished)."""
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
        if arrived:
            signal.raise_signal(signal.SIGTERM)
