"""Estimates for machines without energy counters (this one, most laptops in VMs, many clouds).

CPU: seconds of CPU time used by the measured processes (psutil; the process, its live children, and the
children it has waited for) times watts per busy hardware thread (``cpu_table``). RAM: resident memory of
the same processes times watts per GB, integrated over time. Every assumption goes into the provenance,
and the same work (the same CPU seconds) gives the same CPU estimate.

These are models, not measurements: every figure they make is labelled ``estimate``.
"""

from __future__ import annotations

import os
import threading
import time

import psutil

from powertrain.meters.base import Component, IntegratingMeter, Meter, Method, Provenance
from powertrain.meters.cpu_table import CpuPowerProfile, lookup_cpu_profile

#: 3 W per 8 GB DDR4 module, the figure CodeCarbon's RAM model uses.
RAM_WATTS_PER_GB = 3.0 / 8.0
RAM_SOURCE = "3 W per 8 GB module (CodeCarbon's RAM model)"
#: user, system, children's user, children's system: each is a whole number of clock ticks.
FIELDS_PER_PROCESS = 4


def clock_tick_s() -> float:
    """How long one clock tick is (CPU times are counted in them): 1 / SC_CLK_TCK, usually 10 ms."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):
        ticks = 100
    return 1.0 / ticks if ticks and ticks > 0 else 0.01


class ProcessTree:
    """CPU time and resident memory of a process and all its descendants.

    Listing descendants means scanning /proc (about a millisecond), so the list is refreshed at most
    every ``refresh_s``. Nothing is lost in between: a child that ends and is waited for moves its CPU
    time into its parent's ``children_*`` times, which we count. Safe to share between threads.
    """

    def __init__(
        self, pid: int | None = None, refresh_s: float = 1.0, clock=time.monotonic
    ) -> None:
        self.pid = pid or os.getpid()
        self._root = psutil.Process(self.pid)
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._children: list[psutil.Process] = []
        self._listed_at_s: float | None = None
        self._peak_cpu_s = 0.0

    def _descendants(self) -> list[psutil.Process]:
        now_s = self._clock()
        if self._listed_at_s is None or now_s - self._listed_at_s >= self._refresh_s:
            try:
                self._children = self._root.children(recursive=True)
            except psutil.NoSuchProcess:
                self._children = []
            self._listed_at_s = now_s
        return self._children

    def refresh(self) -> None:
        """List the descendants afresh at the next read (call it after starting a child)."""
        with self._lock:
            self._listed_at_s = None

    def _root_cpu_s(self) -> float:
        # For this process: one system call, no /proc parsing.
        t = os.times() if self.pid == os.getpid() else self._root.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def cpu_time_s(self) -> float:
        """User + system seconds, children included. Never decreases (a child's time moves from
        'live' to 'waited for' between reads; a zombie's can vanish for a moment)."""
        with self._lock:
            total_s = self._root_cpu_s()
            for proc in self._descendants():
                try:
                    t = proc.cpu_times()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total_s += t.user + t.system + t.children_user + t.children_system
            self._peak_cpu_s = max(self._peak_cpu_s, total_s)
            return self._peak_cpu_s

    def process_count(self) -> int:
        """The processes counted at the last listing: the root and its descendants."""
        with self._lock:
            return 1 + len(self._children)

    def rss_bytes(self) -> int:
        with self._lock:
            total = 0
            for proc in (self._root, *self._descendants()):
                try:
                    total += proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
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

    def _read_energy_j(self) -> float:
        return (self.tree.cpu_time_s() - self._start_cpu_s) * self.profile.watts_per_cpu_s

    def resolution_j(self) -> float:
        """CPU time comes in clock ticks, and each of the four times (user, system, and the waited-for
        children's) of each process is cut to a tick at both edges of a window."""
        count = getattr(self.tree, "process_count", lambda: 1)()
        return FIELDS_PER_PROCESS * count * clock_tick_s() * self.profile.watts_per_cpu_s

    def resolution_reason(self) -> str:
        return (
            f"CPU time is counted in 1/{round(1 / clock_tick_s())} s clock ticks, "
            f"{FIELDS_PER_PROCESS} times per process"
        )

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
