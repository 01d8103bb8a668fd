"""Claims on runs: so that any number of processes can work one study in one store, each run trained once.

``begin_run`` is the claim. It notes who holds the run (the owner: host, process id and the process's
start time, so a reused pid is not taken for the old one) and when the owner last showed it is alive
(the heartbeat). Another process's ``begin_run`` of the same run is refused with ``RunClaimed`` while
the holder lives; it takes the run over when the holder is gone:

- on the same host, at once, when the holder's process no longer exists (a SIGKILLed ``powertrain run``
  is taken over by the next one without waiting);
- on another host (a store on a shared disk, or a PostgreSQL server), once the heartbeat is older
  than the lease. A store on a server judges the heartbeat by the server's clock (``now``), never by
  the clients' (clocks skew between nodes).

The host is the machine's name, or under SLURM the node's (``SLURMD_NODENAME``). The lease is
``LEASE_S`` unless ``POWERTRAIN_LEASE_S`` says otherwise (every process of a study should agree).

A store that hands out claims beats the heartbeat of the runs it holds from a daemon thread, every
third of the lease, until they finish or the store is closed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from powertrain.errors import RunClaimed  # noqa: F401 - raised here, caught by executors
from powertrain.records import Status, Verdict

LEASE_S = 60.0  # a claim whose heartbeat is older than this is taken over (across hosts)


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started_at: float  # the process's start time: tells a reused pid from the holder

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.started_at:.2f}"

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        try:
            host, pid, started = (text or "").rsplit(":", 2)
            return cls(host, int(pid), float(started))
        except ValueError:
            return None

    @classmethod
    def this_process(cls) -> Owner:
        return cls(this_host(), os.getpid(), psutil.Process().create_time())

    def alive(self, heartbeat_at: float | None, lease_s: float, now: float) -> bool:
        """Whether this owner may still be training its run."""
        if self.host == this_host():
            try:
                return abs(psutil.Process(self.pid).create_time() - self.started_at) < 0.05
            except psutil.NoSuchProcess:
                return False
        return heartbeat_at is not None and now - heartbeat_at < lease_s


def this_host() -> str:
    """The name claims know this machine by: the SLURM node's, else the host's."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def lease_from_env(default_s: float = LEASE_S) -> float:
    """``POWERTRAIN_LEASE_S`` when it is a positive number of seconds, else ``default_s``."""
    try:
        lease_s = float(os.environ.get("POWERTRAIN_LEASE_S", default_s))
    except ValueError:
        return default_s
    return lease_s if lease_s > 0 else default_s


def held_by_another(
    holder: str | None,
    heartbeat_at: float | None,
    me: Owner,
    lease_s: float,
    now: float | None = None,
) -> Owner | None:
    """The live owner other than ``me`` that holds an unfinished run, or None (free to take).
    ``now``: the clock the heartbeat was written by (this machine's unless given)."""
    owner = Owner.parse(holder)
    if owner is None or owner == me:
        return None
    return (
        owner if owner.alive(heartbeat_at, lease_s, time.time() if now is None else now) else None
    )


def other_live_hosts(attempts, lease_s: float, now: float | None = None) -> set[str]:
    """The other machines whose processes hold running ``attempts`` (status, owner, heartbeat_at)
    with a heartbeat younger than the lease, by this machine's clock: machines sharing the store."""
    now = time.time() if now is None else now
    hosts = set()
    for status, holder, heartbeat_at, *_ in attempts:
        owner = Owner.parse(holder)
        fresh = heartbeat_at is not None and now - heartbeat_at < lease_s
        if status == "running" and owner is not None and owner.host != this_host() and fresh:
            hosts.add(owner.host)
    return hosts


def check_claimable(spec, attempts, me: Owner, lease_s: float, now: float | None = None) -> None:
    """Refuse to begin ``spec`` over its earlier ``attempts`` (status, owner, heartbeat_at, verdict):
    a finished one (ValueError; a FAILED one only unless ``spec.replace_failed``, a CENSORED one
    only unless ``spec.replace_censored`` and a search ended it: one that ran to its own limit,
    perhaps in another process since the request was planned, stays), or one another live process
    holds (RunClaimed). Anything else is a dead attempt, for the caller to remove. ``now``: the
    time by the clock that wrote the heartbeats (a server's)."""
    for status, holder, heartbeat_at, verdict in attempts:
        if status != "running":
            if not _replaceable(spec, status, verdict):
                raise ValueError(f"run {spec.run_key} of study {spec.study!r} has already finished")
            continue
        owner = held_by_another(holder, heartbeat_at, me, lease_s, now)
        if owner is not None:
            raise RunClaimed(
                f"run {spec.run_key} of study {spec.study!r} is being trained by process"
                f" {owner.pid} on {owner.host}"
            )


def _replaceable(spec, status: str, verdict: str | None) -> bool:
    """Whether ``spec`` asks to begin again over a finished attempt of ``status`` and ``verdict``."""
    if status == Status.FAILED:
        return spec.replace_failed
    by_search = verdict in _BY_SEARCH  # a store edited by hand may hold anything: not replaced
    return status == Status.CENSORED and by_search and getattr(spec, "replace_censored", False)


_BY_SEARCH = frozenset(v.value for v in Verdict if v.by_search)

#: The verdicts of the attempts a take-on (``replace_censored``) replaces, sorted (SQL parameters):
#: ``begin_run`` keeps such a CENSORED attempt, and the finish of the attempt it began removes it,
#: in the same transaction, so a take-on killed before it finishes loses nothing recorded.
REPLACED_AT_FINISH = tuple(sorted(_BY_SEARCH))


def removed_at_begin(status: str) -> bool:
    """Whether ``begin_run`` removes an earlier attempt of ``status`` that ``check_claimable``
    let through: a dead or own unfinished one, a FAILED one (``replace_failed``), but not a
    CENSORED one a search ended (``replace_censored``): that one goes when the new attempt
    finishes (``REPLACED_AT_FINISH``)."""
    return status != Status.CENSORED


class Heartbeat:
    """Calls ``beat(run_ids)`` every ``interval_s`` for the runs held, from one daemon thread."""

    def __init__(self, beat: Callable[[list[int]], None], interval_s: float) -> None:
        self._beat, self._interval_s = beat, interval_s
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, run_id: int) -> None:
        with self._lock:
            self._held.add(run_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="powertrain-heartbeat", daemon=True
                )
                self._thread.start()

    def release(self, run_id: int) -> None:
        with self._lock:
            self._held.discard(run_id)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            with self._lock:
                held = sorted(self._held)
            if held:
                try:
                    self._beat(held)
                except Exception:  # noqa: BLE001 - a closed store; the next begin will tell
                    return
