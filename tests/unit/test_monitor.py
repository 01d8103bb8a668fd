from __future__ import annotations

import os
import threading
import time

import pytest

from powertrain.errors import PowertrainError
from powertrain.meters.base import Component, MeterError, Method
from powertrain.monitor import Monitor
from tests.fakes.meters import ConstantPowerMeter


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "powertrain-sampler"]


def test_nested_windows_measure_their_own_spans(clock):
    calls = []
    monitor = Monitor(
        [
            ConstantPowerMeter(Component.CPU, 10.0, clock),
            ConstantPowerMeter(Component.GPU, 100.0, clock),
        ],
        synchronize=lambda: calls.append("sync"),
        clock=clock,
    )
    with monitor.window("epoch") as outer:
        clock.advance(1.0)
        with monitor.window("eval") as inner:
            clock.advance(2.0)
        clock.advance(1.0)
    assert inner.result.duration_s == pytest.approx(2.0)
    assert inner.result.energy_j == {"cpu": pytest.approx(20.0), "gpu": pytest.approx(200.0)}
    assert outer.result.total_energy_j == pytest.approx(440.0)
    assert outer.result.provenance["gpu"].method is Method.COUNTER
    assert not outer.result.estimated
    assert calls == ["sync"] * 4  # every window edge synchronises


def test_begin_end_and_their_errors(clock):
    monitor = Monitor([ConstantPowerMeter(Component.CPU, 1.0, clock)], clock=clock)
    monitor.begin("a")
    with pytest.raises(PowertrainError, match="already open"):
        monitor.begin("a")
    clock.advance(3.0)
    assert monitor.end("a").energy_j["cpu"] == pytest.approx(3.0)
    with pytest.raises(PowertrainError, match="no open window"):
        monitor.end("a")


def test_estimates_are_flagged(clock):
    meter = ConstantPowerMeter(Component.CPU, 1.0, clock, method=Method.ESTIMATE)
    with Monitor([meter], clock=clock).window("w") as w:
        clock.advance(1.0)
    assert w.result.estimated and "ESTIMATE" in w.result.label()


def test_sampler_starts_and_stops_idempotently_and_leaves_no_thread_or_file(tmp_path):
    trace = tmp_path / "t.trace"
    meter = ConstantPowerMeter(Component.CPU, 5.0, time.monotonic)
    monitor = Monitor([meter], interval_s=0.01, trace_path=str(trace))
    for _ in range(2):
        monitor.start()
        monitor.start()
        assert len(sampler_threads()) == 1
        reads, deadline = meter.reads, time.monotonic() + 30  # a loaded machine starves threads
        while meter.reads < reads + 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        monitor.stop()
        monitor.stop()
        assert sampler_threads() == []
        assert not [fd for fd in _open_files() if fd == str(trace)]  # the trace file closed
    assert meter.reads >= 6
    assert len(monitor.samples()) >= 5


def _open_files() -> list[str]:
    """What this process's file descriptors point at (other tests' threads may open their own)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed between the listing and the look
            continue
    return out


def test_sampler_fault_is_reported_at_the_window_end():
    class Failing(ConstantPowerMeter):
        def _read_energy_j(self):
            self.reads += 1
            if self.reads > 3:
                raise MeterError("counter vanished")
            return 0.0

    monitor = Monitor([Failing(Component.CPU, 1.0, time.monotonic)], interval_s=0.005, sample=True)
    with monitor:
        monitor.begin("w")
        time.sleep(0.1)
        with pytest.raises(MeterError, match="counter vanished"):
            monitor.end("w")
    assert sampler_threads() == []


def test_bad_settings_are_refused(clock):
    with pytest.raises(PowertrainError, match="positive"):
        Monitor([ConstantPowerMeter(Component.CPU, 1.0, clock)], interval_s=0)
    with pytest.raises(PowertrainError, match="no meter"):
        Monitor([])
