"""Splitting a shared package counter between runs by their CPU time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from powertrain.meters.apportion import ApportionedMeter, process_tree_cpu_s
from powertrain.meters.base import Component, Meter, Method, Provenance


class Counter(Meter):
    name = "fake-counter"

    def __init__(self) -> None:
        super().__init__(Component.CPU)
        self.value_j = 0.0

    def _read_energy_j(self) -> float:
        return self.value_j

    @property
    def provenance(self) -> Provenance:
        return Provenance("fake-counter", Method.COUNTER, estimated=False)


class Clock:
    def __init__(self) -> None:
        self.s = 0.0

    def __call__(self) -> float:
        return self.s


def test_two_runs_get_their_cpu_share_of_each_interval_and_the_parts_add_up():
    counter = Counter()
    a_cpu, b_cpu = Clock(), Clock()
    group = lambda: a_cpu() + b_cpu()  # noqa: E731
    a = ApportionedMeter(counter, a_cpu, group)
    b = ApportionedMeter(counter, b_cpu, group)
    # interval 1: 100 J, a used 3 s of CPU and b 1 s; interval 2: 60 J, only b ran
    counter.value_j, a_cpu.s, b_cpu.s = 100.0, 3.0, 1.0
    assert (a.energy_j(), b.energy_j()) == pytest.approx((75.0, 25.0))
    counter.value_j, b_cpu.s = 160.0, 2.0
    assert (a.energy_j(), b.energy_j()) == pytest.approx((75.0, 85.0))
    assert a.energy_j() + b.energy_j() == pytest.approx(counter.value_j)


def test_energy_when_no_run_used_the_cpu_goes_to_no_run_and_is_kept_aside():
    counter, own = Counter(), Clock()
    meter = ApportionedMeter(counter, own, own)
    counter.value_j = 40.0  # idle: no CPU time anywhere in the group
    assert meter.energy_j() == 0.0
    assert meter.unattributed_j == 40.0


def test_a_window_edge_asks_the_whole_device_meter_to_look_afresh_too():
    """The split is a wrapper: a window's begin and end reach the meter it wraps (``Meter.rescan``),
    whose edge semantics (before the begin's read, after the end's) it keeps."""
    from powertrain.monitor import Monitor

    class Rescanned(Counter):
        edges: list[bool] = []

        def rescan(self, begin: bool) -> None:
            self.edges.append(begin)

    inner = Rescanned()
    monitor = Monitor([ApportionedMeter(inner, Clock(), Clock())], sample=False)
    with monitor.window("w"):
        pass
    assert inner.edges == [True, False]


def test_the_figure_is_labelled_apportioned_and_estimated_never_counter():
    meter = ApportionedMeter(Counter(), Clock(), Clock())
    p = meter.provenance
    assert p.method is Method.APPORTIONED and p.estimated
    assert p.details["whole"]["method"] == "counter"


BUSY_THEN_WAIT = """
import time
start = time.process_time()
while time.process_time() - start < 0.5:  # /proc counts in ticks: wait for less, below
    pass
input()
"""


def test_process_tree_cpu_time_counts_a_live_busy_child():
    child = subprocess.Popen([sys.executable, "-c", BUSY_THEN_WAIT], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while process_tree_cpu_s(child.pid) < 0.3:
            assert time.monotonic() < deadline, "the child never used its CPU time"
            time.sleep(0.05)
        child_s = process_tree_cpu_s(child.pid)
        assert process_tree_cpu_s(os.getpid()) >= child_s  # our tree holds the child's time
    finally:
        child.communicate(b"\n", timeout=10)


def test_a_process_that_is_gone_has_no_cpu_time():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_tree_cpu_s(child.pid) == 0.0
