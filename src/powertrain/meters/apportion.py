"""A device-wide counter shared by several runs, split between them by the CPU time each used.

A RAPL package counter covers the whole socket: with two runs on one machine, each run's meter would
count the other's work too. ``ApportionedMeter`` wraps such a counter and, at every read, gives the run
the share of the interval's energy that its processes' CPU time is of the CPU time of every process of
the study (the coordinator and all its workers) in the same interval. Energy spent while none of them
used the CPU (the idle floor, other programs) is given to no run: the machine's total over the sweep is
recorded beside the parts, so that parts and whole can be checked against each other.

The figure is labelled ``apportioned``, never ``counter``, and counts as an estimate: the whole was
measured, the split between runs is a model. Reads must come often (the monitor's sampler does it),
because the split is by interval.
"""

from __future__ import annotations

from collections.abc import Callable

import psutil

from powertrain.meters.base import Meter, Method, Provenance
from powertrain.meters.descendants import descendants


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and all its descendants, reaped children included."""
    try:
        root = psutil.Process(pid)
        processes = [root, *descendants(root)]  # read at every sample: the cheap listing
    except psutil.NoSuchProcess:
        return 0.0
    total_s = 0.0
    for process in processes:
        try:
            t = process.cpu_times()
        except psutil.NoSuchProcess:  # ended between the listing and the read
            continue
        total_s += t.user + t.system + t.children_user + t.children_system
    return total_s


class ApportionedMeter(Meter):
    """``inner``'s energy, split by ``own_cpu_s() / group_cpu_s()`` in each interval between reads."""

    name = "apportioned"
    needs_sampling = True

    def __init__(
        self,
        inner: Meter,
        own_cpu_s: Callable[[], float],
        group_cpu_s: Callable[[], float],
    ) -> None:
        super().__init__(inner.component)
        self.inner = inner
        self._own_cpu_s = own_cpu_s
        self._group_cpu_s = group_cpu_s
        self._last = (inner.energy_j(), own_cpu_s(), group_cpu_s())
        self._inner_faults_seen = inner.fault_count  # the whole's faults are the part's too
        self._energy_j = 0.0
        self.unattributed_j = 0.0  # energy of intervals in which no run of the group used the CPU

    def _read_energy_j(self) -> float:
        now = (self.inner.energy_j(), self._own_cpu_s(), self._group_cpu_s())
        self._forward_faults()
        energy_j, own_s, group_s = (b - a for a, b in zip(self._last, now, strict=True))
        self._last = now
        if group_s > 0:
            self._energy_j += energy_j * min(1.0, max(0.0, own_s / group_s))
        else:
            self.unattributed_j += energy_j
        return self._energy_j

    def _forward_faults(self) -> None:
        """A fault of the whole device's counter (a reset, a bad reading) touches every part of it."""
        count = self.inner.fault_count
        kept = self.inner.faults_between(self._inner_faults_seen, count)
        for fault in kept:
            self.note_fault(f"the whole device: {fault}")
        for _ in range(count - self._inner_faults_seen - len(kept)):
            self.note_fault("the whole device: a fault, not listed")
        self._inner_faults_seen = count

    def update_period_s(self) -> float:
        return self.inner.update_period_s()

    def rescan(self, begin: bool) -> None:
        self.inner.rescan(begin)

    @property
    def provenance(self) -> Provenance:
        whole = self.inner.provenance
        return Provenance(
            meter=f"{whole.meter}+split",
            method=Method.APPORTIONED,
            estimated=True,
            details={
                "whole": whole.to_dict(),
                "split": "the whole device's energy in each sampling interval, times this run's"
                " share of the CPU time of all the study's processes in that interval",
            },
        )

    def close(self) -> None:
        self.inner.close()


def shared_components(meters: dict, share_gpus: bool = False) -> list:
    """The components whose meter reads a whole device that other workers use too: a RAPL package or
    DRAM counter (the socket is shared), and a GPU only when workers share GPUs. An estimate is per
    process already (this process's CPU time) and a worker's own GPUs are its own: neither is split."""
    from powertrain.meters.base import Component

    shared = []
    for component, meter in meters.items():
        method = meter.provenance.method
        if method not in (Method.COUNTER, Method.SAMPLED_POWER):
            continue
        if component is not Component.GPU or share_gpus:
            shared.append(component)
    return shared


def apportion_meters(meters: dict, group_pid: int, share_gpus: bool = False) -> dict:
    """``meters`` with every shared device's meter (see ``shared_components``) wrapped so that this
    process's tree gets its CPU-time share of the energy of the tree rooted at ``group_pid`` (the
    coordinator and all its workers)."""
    import os

    own_pid = os.getpid()
    wrapped = dict(meters)
    for component in shared_components(meters, share_gpus):
        wrapped[component] = ApportionedMeter(
            meters[component],
            lambda: process_tree_cpu_s(own_pid),
            lambda: process_tree_cpu_s(group_pid),
        )
    return wrapped
