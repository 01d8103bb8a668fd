"""Estimates for machines without energy counters (this one, most laptops in VMs, many clouds).

CPU: seconds of CPU time used by the measured processes (the process, its live children, and the
children it has waited for) times watts per busy hardware thread (``cpu_table``). This process's own
time comes from ``getrusage`` in microseconds; other processes' from /proc (psutil) in clock ticks.
RAM: resident memory of the same processes times watts per GB, integrated over time. Every assumption
goes into the provenance, and the same work (the same CPU seconds) gives the same CPU estimate.

These are models, not measurements: every figure they make is labelled ``estimate``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

try:
    import resource
except ImportError:  # Windows: this process's time comes in clock ticks (os.times) there
    resource = None  # type: ignore[assignment]

import psutil

from powertrain.marked import MarkedProcesses, process_mark
from powertrain.meters.base import Component, IntegratingMeter, Meter, Method, Provenance
from powertrain.meters.cpu_table import CpuPowerProfile, lookup_cpu_profile
from powertrain.meters.descendants import Member, descendants, follow, usage

#: 3 W per 8 GB DDR4 module, the figure CodeCarbon's RAM model uses.
RAM_WATTS_PER_GB = 3.0 / 8.0
RAM_SOURCE = "3 W per 8 GB module (CodeCarbon's RAM model)"
#: user, system, children's user, children's system: each cut to its unit at both edges of a window.
FIELDS_PER_PROCESS = 4
#: The unit of getrusage's times (a timeval's microsecond).
RUSAGE_UNIT_S = 1e-6


#: Windows counts CPU time at its timer's interrupts: 1/64 s (15.625 ms) unless a program asks the
#: timer for more (``timeBeginPeriod``). Where that is unknown, the coarser default is taken: a
#: window is then flagged as imprecise sooner, never later.
WINDOWS_TICK_S = 1 / 64


def clock_tick_s() -> float:
    """How long one clock tick is (CPU times are counted in them): 1 / SC_CLK_TCK (10 ms on most
    Linux systems); Windows, which has no SC_CLK_TCK, counts in its timer's 15.625 ms."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):
        ticks = None
    if ticks and ticks > 0:
        return 1.0 / ticks
    return WINDOWS_TICK_S if sys.platform == "win32" else 0.01


def own_cpu_s() -> float:
    """This process's CPU time (all its threads) and its waited-for children's, in seconds.

    getrusage reports it in microseconds; on Linux its user + system is the scheduler's exact run
    time, where os.times cuts the same figure to clock ticks (Linux's 10 ms: a 25 ms step reads as
    20 or 30 ms). os.times is the fallback where there is no ``resource`` module."""
    if resource is None:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime


def own_cpu_unit_s() -> float:
    """The unit ``own_cpu_s`` counts in."""
    return clock_tick_s() if resource is None else RUSAGE_UNIT_S


def tick_words(tick_s: float) -> str:
    """A clock tick in words: "1/100 s", or Windows' "1/64 s (15.625 ms)"."""
    per_s = round(1 / tick_s)
    ms = tick_s * 1e3
    return f"1/{per_s} s" if abs(ms - round(ms)) < 1e-9 else f"1/{per_s} s ({ms:g} ms)"


class ProcessTree:
    """CPU time and resident memory of a process and all its descendants.

    Listing descendants costs (``descendants``: microseconds from Linux's children files, about half
    a millisecond where psutil scans every process), so the list is refreshed at most every
    ``refresh_s``. Nothing is lost in between: a child that ends and is waited for moves its CPU time
    into its parent's ``children_*`` times, which we count. A listed process is known by its pid and
    its start time: a pid given to an unrelated process before the next listing is not read (its
    time is not ours), and the list is made afresh at the next read. A process that outlives its
    parent leaves the tree (no process of it will wait for it): it is followed till it ends and its
    last reading kept (``descendants.follow``), and ``departures`` says what may have been missed.
    Safe to share between threads.
    """

    def __init__(
        self, pid: int | None = None, refresh_s: float = 1.0, clock=time.monotonic
    ) -> None:
        self.pid = pid or os.getpid()
        self._root = psutil.Process(self.pid)
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._children: list[Member] = []
        self._listed_at_s: float | None = None
        self._peak_cpu_s = 0.0
        self._carried_s = 0.0  # the last readings of processes that ended outside the tree
        self.departures: list[str] = []  # a note for each process that left the tree
        self._marked: MarkedProcesses | None = None  # started with the mark (``follow_marked``)
        # where /proc/PID/stat says a process's times, memory and start time in one read
        self._stat_tick_s = clock_tick_s() if os.path.exists(f"/proc/{self.pid}/stat") else None

    def _descendants(self) -> list[Member]:
        now_s = self._clock()
        if self._listed_at_s is None or now_s - self._listed_at_s >= self._refresh_s:
            try:
                listed = [Member(p) for p in descendants(self._root)]
            except psutil.NoSuchProcess:
                listed = []
            listed += self._detached(listed)
            if self._children:  # any that left the tree are followed (none to follow: none)
                moved = follow(self.pid, self._children, listed, self._stat_tick_s)
                listed, self._carried_s = moved.members, self._carried_s + moved.carried_s
                self.departures += moved.notes
            self._children = listed
            self._listed_at_s = now_s
        return self._children

    def follow_marked(self) -> None:
        """Count, from now on, the processes started with this process's mark (``marked``) that
        are outside the tree: a command's daemon that detached before a listing saw it. Call it
        before starting a command with ``marked.marked_environment``."""
        with self._lock:
            if self._marked is None:
                self._marked = MarkedProcesses(process_mark())

    def _detached(self, listed: list[Member]) -> list[Member]:
        """The marked processes that appeared outside the tree since the last listing, to follow
        (as one that left the tree is: ``descendants.follow``)."""
        if self._marked is None:
            return []
        known = {
            self.pid,
            *(m.process.pid for m in listed),
            *(m.process.pid for m in self._children),
        }
        found = []
        for pid in self._marked.new():
            if pid in known:
                continue
            try:
                found.append(Member(psutil.Process(pid), followed=True))
            except psutil.Error:  # ended since
                continue
            self.departures.append(
                f"process {pid}, started by the measured command, left its process tree before a "
                "listing saw it (a daemon's double fork); found by its mark and followed till it "
                "ends, its CPU time counted from its start; what it uses after its last reading is "
                "not: the CPU figure may be an undercount"
            )
        return found

    def _usage(self, member: Member):
        """``member``'s CPU time and memory; None when it has ended or its pid is another process's
        (the list is then made afresh at the next read)."""
        read = usage(member, self._stat_tick_s)
        if read is None:
            self._listed_at_s = None
        return read

    def refresh(self, now: bool = False) -> None:
        """List the descendants afresh: at the next read (call it after starting a child), or
        ``now``. A read takes this process's own time before it lists, so a listing at a window's
        end read costs the window nothing; one ``now``, before its begin's read, nothing either."""
        with self._lock:
            self._listed_at_s = None
            if now:
                self._descendants()

    @property
    def is_own(self) -> bool:
        """Whether the root is this process (its time then comes from getrusage, not /proc)."""
        return self.pid == os.getpid()

    def _root_cpu_s(self) -> float:
        if self.is_own:  # two system calls, no /proc parsing, microseconds
            return own_cpu_s()
        t = self._root.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def cpu_time_s(self) -> float:
        """User + system seconds, children included. Never decreases (a child's time moves from
        'live' to 'waited for' between reads; a zombie's can vanish for a moment)."""
        with self._lock:
            total_s = self._root_cpu_s()
            for member in self._descendants():
                if (read := self._usage(member)) is not None:
                    total_s += read.cpu_s
            total_s += self._carried_s
            self._peak_cpu_s = max(self._peak_cpu_s, total_s)
            return self._peak_cpu_s

    def pids(self) -> list[int]:
        """The descendants counted at the last listing (the root is ``pid``)."""
        with self._lock:
            return [member.process.pid for member in self._children]

    def process_count(self) -> int:
        """The processes counted at the last listing: the root and its descendants."""
        with self._lock:
            return 1 + len(self._children)

    def rss_bytes(self) -> int:
        with self._lock:
            try:
                total = self._root.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                total = 0
            for member in self._descendants():
                if (read := self._usage(member)) is not None:
                    total += read.rss_b
            return total


class EstimateCpuMeter(Meter):
    """CPU energy = CPU seconds of the measured processes x watts per busy hardware thread."""

    name = "estimate"
    scope = "process"

    def __init__(
        self, profile: CpuPowerProfile | None = None, tree: ProcessTree | None = None
    ) -> None:
        super().__init__(Component.CPU)
        self.profile = profile or lookup_cpu_profile()
        self.tree = tree or ProcessTree()
        self._start_cpu_s = self.tree.cpu_time_s()
        self._departures_seen = len(getattr(self.tree, "departures", ()))

    def _read_energy_j(self) -> float:
        energy_j = (self.tree.cpu_time_s() - self._start_cpu_s) * self.profile.watts_per_cpu_s
        departures = getattr(self.tree, "departures", ())  # processes that left the tree
        if len(departures) > self._departures_seen:
            for note in departures[self._departures_seen :]:
                self.note_fault(note)
            self._departures_seen = len(departures)
        return energy_j

    def rescan(self, begin: bool) -> None:
        self.tree.refresh(now=begin)

    def _units_s(self) -> tuple[int, float]:
        """The processes whose CPU time is read in clock ticks, and the unit of the root's."""
        count = getattr(self.tree, "process_count", lambda: 1)()
        if getattr(self.tree, "is_own", False):
            return count - 1, own_cpu_unit_s()
        return count, 0.0

    def resolution_j(self) -> float:
        """Each of the four times (user, system, and the waited-for children's) of each process is
        cut to its unit at both edges of a window: a clock tick for a process read from /proc, a
        microsecond for this one (getrusage)."""
        ticked, own_unit_s = self._units_s()
        unit_s = ticked * clock_tick_s() + own_unit_s
        return FIELDS_PER_PROCESS * unit_s * self.profile.watts_per_cpu_s

    def resolution_reason(self) -> str:
        ticked, own_unit_s = self._units_s()
        tick = f"{tick_words(clock_tick_s())} clock ticks"
        if own_unit_s == 0.0:
            where = tick
        elif own_unit_s == clock_tick_s():
            where = f"{tick} (no getrusage here)"
        elif ticked:
            others = f"{ticked} other process{'es' if ticked > 1 else ''}"
            where = f"{tick} for {others}, microseconds for this one"
        else:
            where = "microseconds"
        return f"CPU time is counted in {where}, {FIELDS_PER_PROCESS} times per process"

    @property
    def provenance(self) -> Provenance:
        return Provenance(
            meter=self.name,
            method=Method.ESTIMATE,
            estimated=True,
            details={
                "model": "CPU seconds of the measured processes x watts per busy hardware thread",
                "pid": self.tree.pid,
                **self.profile.to_dict(),
            },
        )


class EstimateRamMeter(IntegratingMeter):
    """RAM energy = resident memory of the measured processes x watts per GB, over time."""

    name = "estimate"
    scope = "process"

    def __init__(
        self,
        watts_per_gb: float = RAM_WATTS_PER_GB,
        tree: ProcessTree | None = None,
        clock=time.monotonic,
    ) -> None:
        super().__init__(Component.RAM, clock)
        self.watts_per_gb = watts_per_gb
        self.tree = tree or ProcessTree()
        self._read_energy_j()  # the first read sets the starting point

    def _read_power_w(self) -> float:
        return self.tree.rss_bytes() / 1e9 * self.watts_per_gb

    @property
    def provenance(self) -> Provenance:
        return Provenance(
            meter=self.name,
            method=Method.ESTIMATE,
            estimated=True,
            details={
                "model": "resident memory of the measured processes x watts per GB",
                "pid": self.tree.pid,
                "watts_per_gb": self.watts_per_gb,
                "source": RAM_SOURCE
                if self.watts_per_gb == RAM_WATTS_PER_GB
                else "given by the user",
            },
        )
