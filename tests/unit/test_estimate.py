from __future__ import annotations

import psutil
import pytest

from powertrain.errors import PowertrainError
from powertrain.meters.base import Method
from powertrain.meters.cpu_table import lookup_cpu_profile
from powertrain.meters.estimate import (
    RAM_WATTS_PER_GB,
    EstimateCpuMeter,
    EstimateRamMeter,
    ProcessTree,
)
from tests.fakes.meters import ScriptedTree


def test_cpu_table_matches_a_known_model():
    profile = lookup_cpu_profile("AMD EPYC 7763 64-Core Processor")
    assert profile.model == "AMD EPYC 7763"
    assert profile.watts_per_cpu_s == pytest.approx(280 / 128)
    assert "AMD" in profile.source


def test_unknown_cpu_falls_back_to_the_table_median_and_says_so():
    profile = lookup_cpu_profile("Imaginary CPU 9000")
    assert "no table row matches" in profile.source
    assert 0.5 < profile.watts_per_cpu_s < 20


def test_users_own_tdp_wins():
    profile = lookup_cpu_profile("AMD EPYC 7763", tdp_w=100, threads=4)
    assert profile.watts_per_cpu_s == 25 and profile.source == "given by the user"
    with pytest.raises(PowertrainError):
        lookup_cpu_profile(tdp_w=-5)


def test_same_cpu_seconds_give_the_same_estimate_with_every_assumption_written_down():
    results = []
    for _ in range(2):
        tree = ScriptedTree(cpu_time_s=10.0)
        meter = EstimateCpuMeter(lookup_cpu_profile("AMD EPYC 7763"), tree=tree)
        tree.cpu_s = 14.0
        results.append(meter.energy_j())
    assert results[0] == results[1] == pytest.approx(4.0 * 280 / 128)
    details = meter.provenance.details
    assert meter.provenance.method is Method.ESTIMATE and meter.provenance.estimated
    assert {"model", "tdp_w", "threads", "watts_per_cpu_s", "source", "matched"} <= set(details)


def test_ram_estimate_integrates_resident_memory_over_time(clock):
    tree = ScriptedTree(rss_bytes=int(8e9))
    meter = EstimateRamMeter(tree=tree, clock=clock)
    clock.advance(10.0)
    assert meter.energy_j() == pytest.approx(8 * RAM_WATTS_PER_GB * 10)
    assert meter.provenance.estimated


def test_process_tree_counts_children_and_never_goes_down():
    import subprocess
    import sys

    tree = ProcessTree()
    before = tree.cpu_time_s()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    after = tree.cpu_time_s()
    assert after - before > 0.1  # the child's CPU time, counted once it was waited for
    assert tree.cpu_time_s() >= after


def _busy(seconds: float) -> None:
    import time

    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        pass


def test_this_process_cpu_time_comes_in_microseconds_not_clock_ticks(monkeypatch):
    """getrusage gives the scheduler's run time; os.times cuts it to 10 ms ticks. Five 25 ms steps
    read as 25 ms each (a tick-counted read is 20 or 30 ms). Without getrusage, ticks it is, and the
    meter's resolution says so."""
    import powertrain.meters.estimate as estimate

    tree = ProcessTree(refresh_s=3600.0)
    tree.cpu_time_s()  # lists /proc once, before the steps: the listing's own CPU time is in none
    steps_s = []
    for _ in range(5):
        before = tree.cpu_time_s()
        _busy(0.025)
        steps_s.append(tree.cpu_time_s() - before)
    assert all(0.024 <= s <= 0.028 for s in steps_s), steps_s
    meter = EstimateCpuMeter(tree=tree)
    ticked = others(tree)
    assert meter.resolution_j() == pytest.approx(
        4 * (ticked * tick_j(meter) + 1e-6 * watts_per_cpu_s(meter))
    )

    monkeypatch.setattr(estimate, "resource", None)
    _busy(0.025)
    assert round(estimate.own_cpu_s() / estimate.clock_tick_s(), 6) % 1 == 0.0  # os.times' ticks
    assert meter.resolution_j() == pytest.approx(4 * (ticked + 1) * tick_j(meter))
    assert "(no getrusage here)" in meter.resolution_reason()


def test_alone_this_process_is_counted_in_microseconds():
    tree = ScriptedTree(cpu_time_s=1.0)
    tree.is_own, tree.process_count = True, lambda: 1  # as ProcessTree() with no child
    meter = EstimateCpuMeter(tree=tree)
    assert meter.resolution_j() == pytest.approx(4 * 1e-6 * watts_per_cpu_s(meter))
    assert meter.resolution_reason() == "CPU time is counted in microseconds, 4 times per process"


def test_live_children_are_counted_in_clock_ticks_and_the_resolution_counts_them():
    import subprocess
    import sys

    tree = ProcessTree()
    meter = EstimateCpuMeter(tree=tree)
    ticked = others(tree) + 1
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tree.refresh()
        tree.cpu_time_s()  # lists the child
        assert meter.resolution_j() == pytest.approx(
            4 * (ticked * tick_j(meter) + 1e-6 * watts_per_cpu_s(meter))
        )
        plural = "es" if ticked > 1 else ""
        assert (
            f"clock ticks for {ticked} other process{plural}, microseconds for this one"
            in meter.resolution_reason()
        )
    finally:
        child.kill()
        child.wait()


def others(tree: ProcessTree) -> int:
    """The processes besides this one that ``tree`` reads in clock ticks: in a test session there may
    be some already (multiprocessing's resource tracker, once a worker was started by spawn)."""
    tree.refresh()
    tree.cpu_time_s()
    return tree.process_count() - 1


def watts_per_cpu_s(meter) -> float:
    return meter.profile.watts_per_cpu_s


def tick_j(meter) -> float:
    from powertrain.meters.estimate import clock_tick_s

    return clock_tick_s() * watts_per_cpu_s(meter)


def test_a_window_that_read_a_live_child_at_its_begin_is_flagged_after_the_child_is_waited_for():
    """The child's time is cut to clock ticks at the begin and exact (getrusage) once waited for:
    the window's figure carries the begin's cut, though the end reads no process in ticks."""
    import subprocess
    import sys

    from powertrain.monitor import Monitor, below_resolution

    tree = ProcessTree(refresh_s=0.0)  # lists the processes at every read
    monitor = Monitor([EstimateCpuMeter(tree=tree)], sample=False)
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    try:
        with monitor.window("the child ends") as window:
            child.stdin.close()
            child.wait()
    finally:
        child.kill()
        child.wait()
    assert any(below_resolution(f) and "clock ticks" in f for f in window.result.faults)


def test_a_child_started_since_the_last_listing_is_counted_from_the_window_edges():
    """The tree lists its processes at most every ``refresh_s`` (here never again on its own); a
    window's begin and end list them afresh, so a child started just before the window is counted,
    and only for the CPU time it used inside it."""
    import subprocess
    import sys
    import time

    from powertrain.monitor import Monitor

    tree = ProcessTree(refresh_s=3600.0)
    meter = EstimateCpuMeter(tree=tree)
    monitor = Monitor([meter], sample=False)
    tree.cpu_time_s()  # listed now: without the edges, not again for an hour
    busy = "import time\nwhile True: pass"
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        time.sleep(0.3)  # its start-up and some spinning before the window
        child_s = psutil.Process(child.pid).cpu_times()
        with monitor.window("w") as w:
            time.sleep(0.5)
        after = psutil.Process(child.pid).cpu_times()
    finally:
        child.kill()
        child.wait()
    inside_s = (after.user + after.system) - (child_s.user + child_s.system)
    counted_s = w.result.energy_j["cpu"] / meter.profile.watts_per_cpu_s
    assert inside_s > 0.1  # it spun inside the window
    # its time inside the window, this process's little, and the ticks' cut at both edges
    assert inside_s - 0.03 <= counted_s <= inside_s + 0.1


class _CostlyListing(ProcessTree):
    """A tree of this process alone whose CPU time is a counter the test sets, and whose every
    listing of descendants (a /proc scan) costs this process ``listing_s`` of it."""

    def __init__(self, listing_s: float) -> None:
        super().__init__(refresh_s=3600.0)
        self.own_s, self.listing_s, self.listings = 0.0, listing_s, 0

    def _root_cpu_s(self) -> float:
        return self.own_s

    def _descendants(self):
        listing = self._listed_at_s is None
        children = super()._descendants()
        if listing:
            self.own_s += self.listing_s
            self.listings += 1
        return children


def test_the_edges_listing_of_processes_is_not_counted_in_the_window():
    """Each edge of a window lists the processes afresh; what that costs this process comes before
    the begin's read and after the end's read of its own time, so an empty window counts nothing of
    it (a short window, an inference batch's, would otherwise carry a /proc scan every time)."""
    from powertrain.monitor import Monitor

    tree = _CostlyListing(listing_s=0.01)
    meter = EstimateCpuMeter(tree=tree)
    monitor = Monitor([meter], sample=False)
    with monitor.window("empty") as w:
        pass
    assert tree.listings >= 2  # both edges listed afresh
    assert w.result.energy_j["cpu"] == 0.0
    with monitor.window("busy") as w:
        tree.own_s += 0.5
    assert w.result.energy_j["cpu"] == pytest.approx(0.5 * meter.profile.watts_per_cpu_s)


def test_without_sc_clk_tck_windows_ticks_are_its_timers_15_625_ms(monkeypatch):
    """Windows has no SC_CLK_TCK; it counts CPU time at its timer's interrupts, 64 a second by
    default, so a window's resolution (and the words that say it) use 15.625 ms, not 10 ms."""
    import os
    import sys

    import powertrain.meters.estimate as estimate

    monkeypatch.delattr(os, "sysconf", raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(estimate, "resource", None)  # as on Windows: os.times, in ticks
    assert estimate.clock_tick_s() == 0.015625
    tree = ScriptedTree(cpu_time_s=1.0)
    tree.is_own, tree.process_count = True, lambda: 1
    meter = EstimateCpuMeter(tree=tree)
    assert meter.resolution_j() == pytest.approx(4 * 0.015625 * watts_per_cpu_s(meter))
    assert meter.resolution_reason() == (
        "CPU time is counted in 1/64 s (15.625 ms) clock ticks (no getrusage here),"
        " 4 times per process"
    )
