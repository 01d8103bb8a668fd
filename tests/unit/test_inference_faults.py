"""An inference figure keeps what its monitor windows said about it: a window of 1,000 inputs on a GPU
takes milliseconds, well under ten of NVML's 100-ms counter updates, and its figure (0 J, or a whole
update) is not precise; the measurement says so beside it, and ``powertrain infer`` shows it."""

from __future__ import annotations

import io

import torch
from torch import nn

from powertrain.console import print_inference
from powertrain.inference.measure import measure_inference
from powertrain.inference.study import InferredRun, _combine
from powertrain.meters.base import Component
from powertrain.monitor import Monitor, below_resolution
from tests.conftest import FakeClock
from tests.fakes.meters import ConstantPowerMeter


class SlowCounter(ConstantPowerMeter):
    """A meter whose reading moves every ``period_s`` (as NVML's counter, every 100 ms)."""

    def __init__(self, clock, period_s: float) -> None:
        super().__init__(Component.GPU, 300.0, clock)
        self.period_s = period_s

    def update_period_s(self) -> float:
        return self.period_s


def measured(period_s: float, batch_s: float = 0.001):
    clock = FakeClock()
    model = nn.Linear(4, 2)

    def forward(m, x):
        clock.advance(batch_s)  # a millisecond a batch on the monitor's clock
        return m(x)

    monitor = Monitor([SlowCounter(clock, period_s)], clock=clock, sample=False)
    return measure_inference(model, torch.randn(64, 4), [16], monitor, 64, forward, repeats=2)


def test_an_inference_window_shorter_than_ten_counter_updates_says_its_figure_is_not_precise():
    [result] = measured(period_s=0.1)  # 4 batches: 4 ms a window
    assert result.faults and all(below_resolution(f) for f in result.faults)
    assert "0.004 s" in result.faults[0] and "moves every 0.1 s" in result.faults[0]
    assert result.to_dict()["faults"] == result.faults  # stored with the figure
    [combined] = [_combine([result, result])]
    assert combined.faults == result.faults  # the same notes once, not once per repeat
    [read_every_time] = measured(period_s=0.0)
    assert read_every_time.faults == []
    out = io.StringIO()
    run = type("Run", (), {"id": 1, "setup": {"lr": 0.1}})()
    print_inference([InferredRun(run, [result])], file=out)
    said = " ".join(out.getvalue().split())  # as the console wrapped it
    assert "run 1 batch size 16: gpu:" in said and "not a precise figure" in said
