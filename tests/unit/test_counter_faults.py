"""A counter that goes backwards is not always a wrap; faults travel with the figure they touch."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from powertrain.meters.base import Component, MeterError
from powertrain.meters.counters import CounterSpec, counter_step
from powertrain.meters.detect import detect_meters
from powertrain.meters.estimate import EstimateCpuMeter, clock_tick_s
from powertrain.meters.nvml import NvmlMeter
from powertrain.meters.rapl import RaplMeter
from powertrain.monitor import Monitor, below_resolution
from tests.fakes.meters import ScriptedTree
from tests.fakes.nvml import FakeGpu, FakeNvml
from tests.fakes.powercap import PowercapTree, amd_tree

J = 1_000_000  # microjoules


def package(tmp_path, energy_j: float, **zone) -> PowercapTree:
    tree = PowercapTree(tmp_path)
    tree.zone("intel-rapl:0", "package-0", energy_uj=round(energy_j * J), **zone)
    return tree


def test_a_drop_far_from_the_range_during_a_sleep_is_a_noted_reset_not_a_wrap(tmp_path, clock):
    tree = package(tmp_path, 5000, power_limits_w=(65, 90))
    meter = RaplMeter(Component.CPU, root=tmp_path, clock=clock)
    monitor = Monitor([meter], sample=False, clock=clock)
    with monitor.window("sleep 2") as window:
        for energy_j in (5000.5, 5001.0, 1000.0, 1000.5, 1001.0):  # a sampler's reads, 0.4 s apart
            clock.advance(0.4)
            tree.set_energy("intel-rapl:0", round(energy_j * J))
            meter.energy_j()
    result = window.result
    assert result.energy_j["cpu"] == pytest.approx(2.0)  # a few joules, not 258,153 J
    assert len(result.faults) == 1
    assert "not a wrap" in result.faults[0] and "not counted" in result.faults[0]
    assert "intel-rapl:0" in result.faults[0]


@pytest.mark.parametrize(
    ("limits_w", "new_j"),
    [((), 1000.0), ((), 0.0), ((65, 90), 30.0), ((400,), 3.5)],
    ids=["no limit, a plausible figure", "to zero", "well inside the limit", "a big zone"],
)
def test_a_drop_is_a_fault_whatever_the_bound_allows(tmp_path, clock, limits_w, new_j):
    tree = package(tmp_path, 5000, power_limits_w=limits_w)
    meter = RaplMeter(Component.CPU, root=tmp_path, clock=clock)
    clock.advance(1.0)
    tree.set_energy("intel-rapl:0", round(new_j * J))
    assert meter.energy_j() == 0.0  # not new_j: a counter need not restart at zero
    [fault] = meter.faults_between(0, meter.fault_count)
    assert "not counted" in fault and "need not restart at zero" in fault
    assert meter.wraps == 0
    clock.advance(1.0)
    tree.set_energy("intel-rapl:0", round((new_j + 20) * J))
    assert meter.energy_j() == pytest.approx(20.0)  # the next interval counts again
    assert meter.fault_count == 1


def test_the_sleep_with_no_stated_limit_is_a_noted_fault_not_a_thousand_joules(tmp_path, clock):
    tree = package(tmp_path, 5000)  # no constraint files: the generous 1,000 W bound
    meter = RaplMeter(Component.CPU, root=tmp_path, clock=clock)
    monitor = Monitor([meter], sample=False, clock=clock)
    with monitor.window("sleep 2") as window:
        for energy_j in (5000.5, 5001.0, 1000.0, 1000.5, 1001.0):
            clock.advance(0.4)
            tree.set_energy("intel-rapl:0", round(energy_j * J))
            meter.energy_j()
    assert window.result.energy_j["cpu"] == pytest.approx(2.0)
    assert len(window.result.faults) == 1


def test_a_wrap_near_the_top_of_the_range_is_still_a_wrap(tmp_path, clock):
    tree = package(tmp_path, 0, max_range_uj=1000 * J, power_limits_w=(65,))
    tree.set_energy("intel-rapl:0", 998 * J)
    meter = RaplMeter(Component.CPU, root=tmp_path, clock=clock)
    clock.advance(0.1)
    tree.set_energy("intel-rapl:0", 3 * J)
    assert meter.energy_j() == pytest.approx(5.0)
    assert meter.wraps == 1 and meter.fault_count == 0


@pytest.mark.parametrize("max_range_uj", [0, None, "unreadable", "garbage"])
def test_a_zone_that_states_no_range_is_not_used_as_a_counter(tmp_path, clock, max_range_uj):
    tree = package(tmp_path, 5000, max_range_uj=max_range_uj if max_range_uj in (0, None) else 1)
    range_file = tmp_path / "intel-rapl:0" / "max_energy_range_uj"
    if max_range_uj == "garbage":
        range_file.write_text("lots\n")
    elif max_range_uj == "unreadable":
        range_file.unlink()
        range_file.mkdir()  # reading it fails, even for root
    tree.zone("intel-rapl:0:0", "dram", energy_uj=5 * J)  # a zone with its range: still usable
    with pytest.raises(MeterError, match="intel-rapl:0 .package-0. states no max_energy_range_uj"):
        RaplMeter(Component.CPU, root=tmp_path, clock=clock)
    assert RaplMeter(Component.RAM, root=tmp_path, clock=clock).zones
    detection = detect_meters(("rapl", "estimate"), powercap_root=tmp_path)
    assert detection.meters[Component.CPU].provenance.method.value == "estimate"
    assert any("could not be told apart" in u.reason for u in detection.unavailable)


def test_a_jump_upwards_beyond_the_zones_power_is_a_bad_reading(tmp_path, clock):
    tree = package(tmp_path, 100, power_limits_w=(15, 25))
    meter = RaplMeter(Component.CPU, root=tmp_path, clock=clock)
    clock.advance(0.1)
    tree.set_energy("intel-rapl:0", 90_000 * J)
    assert meter.energy_j() == 0.0
    assert "jumped" in meter.faults_between(0, 1)[0]
    assert meter.provenance.details["max_power_w"]["intel-rapl:0"].startswith("25 W")


def test_a_zone_without_power_limits_gets_a_generous_bound(tmp_path, clock):
    amd_tree(tmp_path)
    meter = RaplMeter(Component.CPU, root=tmp_path, clock=clock)
    assert "generous" in meter.provenance.details["max_power_w"]["intel-rapl:0"]


@given(
    last=st.integers(0, 10**12),
    now=st.integers(0, 10**12),
    elapsed_s=st.floats(0, 3600),
    range_units=st.sampled_from([0, 10**9, 262_143_328_850]),
)
def test_a_step_is_never_negative_nor_more_than_the_zone_can_draw(
    last, now, elapsed_s, range_units
):
    spec = CounterSpec("zone", 1e6, 100.0, range_units)
    step = counter_step(spec, last, now, elapsed_s)
    assert 0 <= step.delta_units <= spec.bound_units(elapsed_s)
    assert step.note is None or step.delta_units in (0, now)


def test_nvml_reset_beyond_the_power_limit_is_not_counted(clock):
    nvml = FakeNvml([FakeGpu("GPU-aaaa", energy_mj=900_000)])  # 700 W limit
    meter = NvmlMeter(nvml=nvml, environ={}, clock=clock)
    clock.advance(1.0)
    nvml.gpus[0].energy_mj = 50_000_000  # 50 kJ "since a reset" one second ago
    assert meter.energy_j() == 0.0
    assert "bad reading" in meter.faults_between(0, 1)[0]


@pytest.mark.parametrize("power_mw", [math.nan, -5_000, 10**12])
def test_nvml_impossible_power_readings_are_noted_and_not_integrated(clock, power_mw):
    nvml = FakeNvml([FakeGpu("GPU-aaaa", energy_mj=None, power_mw=100_000)])
    meter = NvmlMeter(nvml=nvml, environ={}, clock=clock)
    clock.advance(1.0)
    nvml.gpus[0].power_mw = power_mw
    assert meter.energy_j() == pytest.approx(100.0)
    assert "not a possible figure" in meter.faults_between(0, 1)[0]


def test_a_fault_belongs_to_its_window_and_not_to_later_ones(tmp_path, clock):
    tree = package(tmp_path, 5000, power_limits_w=(65, 90))
    meter = RaplMeter(Component.CPU, root=tmp_path, clock=clock)
    first, later = Monitor([meter], sample=False, clock=clock), None
    with first.window("run 1") as run1:
        clock.advance(1.0)
        tree.set_energy("intel-rapl:0", 20 * J)  # a reset
    later = Monitor([meter], sample=False, clock=clock)  # the next run's monitor, same meter
    with later.window("run 2") as run2:
        clock.advance(1.0)
        tree.set_energy("intel-rapl:0", 40 * J)
    assert len(run1.result.faults) == 1 and run1.result.to_dict()["faults"]
    assert run2.result.faults == ()
    assert "reset" not in str(later.trace().header)  # the timeline header carries no old fault


def test_the_run_windows_faults_reach_the_stored_outcome():
    from powertrain.monitor import Measurement
    from powertrain.records import Verdict
    from powertrain.train.loop import _outcome, _Progress
    from powertrain.train.stopping import Stop

    total = Measurement("run", 0.0, 2.0, {"cpu": 2.0}, {}, faults=("cpu: a reset",))
    outcome = _outcome(Stop(Verdict.MAX_EPOCHS, "limit"), total, _Progress(), None, None)
    assert outcome.faults == ["cpu: a reset"]


def test_a_window_shorter_than_the_estimate_resolves_is_flagged(clock):
    tree = ScriptedTree(cpu_time_s=10.0)
    meter = EstimateCpuMeter(tree=tree)
    monitor = Monitor([meter], sample=False, clock=clock)
    with monitor.window("short") as short:
        clock.advance(0.02)
        tree.cpu_s += 0.01  # one tick
    with monitor.window("long") as long:
        clock.advance(30.0)
        tree.cpu_s += 20.0
    assert meter.resolution_j() == pytest.approx(4 * clock_tick_s() * meter.profile.watts_per_cpu_s)
    assert any("clock ticks" in f and "not a precise figure" in f for f in short.result.faults)
    assert [below_resolution(f) for f in short.result.faults] == [True]  # as a search reads it
    assert long.result.faults == ()


def test_a_window_is_flagged_by_its_coarser_edge_not_only_its_end(clock):
    """This process in microseconds and a child in clock ticks at the begin; the child waited for by
    the end (its time then exact, in this process's). The begin's cut (up to four ticks) is in the
    figure, so the window is judged by the begin's resolution, and says why."""
    tree = ScriptedTree(cpu_time_s=10.0)
    tree.is_own, processes = True, [2]
    tree.process_count = lambda: processes[0]
    meter = EstimateCpuMeter(tree=tree)
    monitor = Monitor([meter], sample=False, clock=clock)
    with monitor.window("child gone by the end") as gone:
        clock.advance(0.5)
        tree.cpu_s += 0.05
        processes[0] = 1
    assert meter.resolution_j() == pytest.approx(4e-6 * meter.profile.watts_per_cpu_s)
    [note] = gone.result.faults
    assert below_resolution(note) and "clock ticks for 1 other process" in note
    with monitor.window("this process alone") as alone:
        clock.advance(0.5)
        tree.cpu_s += 0.05
    assert alone.result.faults == ()


def test_an_edge_keeps_the_resolution_its_read_had_though_the_list_changes_right_after(clock):
    """The sampler thread may list the processes afresh between an edge's read and the question
    of its resolution: the child it no longer lists was read in ticks at that edge all the same."""
    tree = ScriptedTree(cpu_time_s=10.0)
    tree.is_own, listed = True, [2]  # this process and a child, read in ticks
    tree.process_count = lambda: listed[0]
    meter = EstimateCpuMeter(tree=tree)
    read = tree.cpu_time_s

    def read_then_relisted() -> float:
        cpu_s = read()
        listed[0] = 1  # the sampler's listing, right after this read: the child gone
        return cpu_s

    tree.cpu_time_s = read_then_relisted
    monitor = Monitor([meter], sample=False, clock=clock)
    with monitor.window("w") as window:
        clock.advance(0.5)
        tree.cpu_s += 0.05
    [note] = window.result.faults
    assert below_resolution(note) and "clock ticks for 1 other process" in note


@pytest.mark.parametrize(
    ("t_s", "energy_j", "message"),
    [
        ([0.0, 1.0], [0.0, math.nan], "not finite"),
        ([0.0, 1.0, 2.0], [0.0, 5.0, 4.0], "goes down"),
        ([0.0, 2.0, 1.0], [0.0, 1.0, 2.0], "go back"),
    ],
)
def test_replay_of_an_impossible_trace_in_memory_is_refused(t_s, energy_j, message):
    from powertrain.meters.base import MeterError
    from powertrain.meters.replay import ReplayMeter
    from powertrain.trace import Trace

    trace = Trace({"components": {"cpu": {}}}, t_s, {"cpu": energy_j})
    with pytest.raises(MeterError, match=message):
        ReplayMeter(trace, Component.CPU)


@pytest.mark.parametrize("tdp_w", [math.nan, math.inf, -65.0, 1e9])
def test_a_tdp_that_is_no_figure_is_refused_with_its_unit(tdp_w):
    from powertrain.errors import PowertrainError
    from powertrain.meters.cpu_table import lookup_cpu_profile

    with pytest.raises(PowertrainError, match="finite number of W"):
        lookup_cpu_profile(tdp_w=tdp_w)


def test_a_meter_that_faults_on_every_read_keeps_the_log_bounded(clock):
    from tests.fakes.meters import ConstantPowerMeter

    class Flapping(ConstantPowerMeter):
        def _read_energy_j(self):
            self.note_fault("bad reading")
            return super()._read_energy_j()

    monitor = Monitor([Flapping(Component.CPU, 5.0, clock)], sample=False, clock=clock)
    with monitor.window("long") as window:
        for _ in range(500):
            clock.advance(0.1)
            monitor._snapshot()
    faults = window.result.faults
    # 501 reads in the window (500 and its end edge); the monitor lists the first 100 it noted,
    # one of which came at the window's begin edge, before it.
    assert len(faults) == 100 and faults[-1] == "and 402 more faults, not listed"
    assert len(monitor.faults()) == 100


# -- a fault reaches the record of the run it touched, whatever wraps the meter -------------------------
def test_an_nvml_reset_inside_a_tracked_run_is_in_the_stored_run(clock):
    from powertrain import track
    from powertrain.meters.detect import Detection
    from powertrain.store.memory import MemoryStore

    nvml = FakeNvml([FakeGpu("GPU-aaaa", energy_mj=700_000_000)])
    meter = NvmlMeter(nvml=nvml, environ={}, clock=clock)
    store = MemoryStore()
    detection = Detection({Component.GPU: meter})
    with track(
        db=store, detection=detection, study="s", setup={"lr": 1}, seed=0, target=0.99, device="cpu"
    ) as run:
        for energy_mj, accuracy in ((700_050_000, 0.5), (2_000, 0.6), (52_000, 0.7)):
            clock.advance(1.0)
            nvml.gpus[0].energy_mj = energy_mj
            run.evaluate(val_accuracy=accuracy, step=len(run.points) + 1)
    [stored] = store.runs("s")
    assert any("GPU 0" in f and "not counted" in f for f in stored.outcome.faults)
    assert stored.outcome.total_energy_j == pytest.approx(100.0)  # 50 J + 50 J; not 2 J more


def test_a_shared_counters_fault_reaches_every_part_and_the_sweep_total(tmp_path, clock):
    from powertrain.meters.apportion import ApportionedMeter
    from powertrain.study.executors.machine import SweepMeter

    tree = package(tmp_path, 5000, power_limits_w=(65,))
    whole = RaplMeter(Component.CPU, root=tmp_path, clock=clock)
    cpu = iter(range(1, 100))
    part = ApportionedMeter(whole, lambda: 1.0 * next(cpu), lambda: 2.0 * next(cpu))
    sweep = SweepMeter({Component.CPU: whole}, read_every_s=3600).start()
    monitor = Monitor([part], sample=False, clock=clock)
    with monitor.window("run") as window:
        clock.advance(1.0)
        tree.set_energy("intel-rapl:0", 100 * J)  # a reset of the socket's counter
    assert any("the whole device" in f and "not counted" in f for f in window.result.faults)
    total = sweep.stop()
    assert len(total.faults) == 1 and total.to_dict()["faults"] == list(total.faults)
