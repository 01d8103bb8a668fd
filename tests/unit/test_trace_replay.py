from __future__ import annotations

import json

import pytest

from powertrain.errors import PowertrainError
from powertrain.meters.base import Component, Method
from powertrain.meters.replay import ReplayMeter
from powertrain.monitor import Monitor
from powertrain.trace import read_trace
from tests.fakes.meters import ConstantPowerMeter


def record(path, clock, seconds=2.0):
    meter = ConstantPowerMeter(Component.CPU, 50.0, clock)
    monitor = Monitor([meter], trace_path=str(path), sample=False, clock=clock)
    monitor.start()
    for _ in range(int(seconds * 10)):
        clock.advance(0.1)
        monitor._record(monitor._snapshot())
    monitor.stop()
    return monitor


def test_trace_round_trip_and_replay(tmp_path, clock):
    path = tmp_path / "run.trace"
    record(path, clock)
    trace = read_trace(path)
    assert trace.header["version"] == 1
    assert trace.components["cpu"]["method"] == "counter"
    assert trace.energy_j["cpu"][-1] == pytest.approx(100.0)
    assert all(p == pytest.approx(50.0) for _, p in trace.power_w("cpu"))

    replay = ReplayMeter(path, Component.CPU, clock=clock)
    clock.advance(1.0)
    assert replay.energy_j() == pytest.approx(50.0)
    clock.advance(2.5)  # past the end: playback starts over and keeps adding
    assert replay.energy_j() == pytest.approx(175.0)
    assert replay.provenance.method is Method.REPLAY
    assert replay.provenance.estimated is False  # the recording was a counter


def test_a_trace_cut_short_by_a_kill_still_reads(tmp_path, clock):
    path = tmp_path / "run.trace"
    record(path, clock)
    text = path.read_text()
    path.write_text(text[:-7])  # the last line half-written
    assert len(read_trace(path).t_s) == text.count("\n") - 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read trace"),
        ("hello\n", "not a powertrain trace"),
        (json.dumps({"format": "powertrain-trace", "version": 99}) + "\n", "version 99"),
        (
            json.dumps({"format": "powertrain-trace", "version": 1, "components": {"cpu": {}}})
            + "\nnot json\n{}\n",
            "line 2",
        ),
    ],
)
def test_unreadable_traces_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.trace"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PowertrainError, match=message):
        read_trace(path)
