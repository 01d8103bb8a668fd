"""A meter that stops reading in the middle of a tracked training never ends the training: the run
goes on and ends as it would, its figure held at the meter's last reading, and the fault, with what
it means for the figure, travels with the outcome."""

from __future__ import annotations

import time

from powertrain import open_store, track
from powertrain.meters.base import Component, MeterError
from powertrain.meters.detect import Detection
from powertrain.records import REACHED
from tests.fakes.meters import ConstantPowerMeter


class Vanishing(ConstantPowerMeter):
    """10 W until its counter vanishes, after ``good`` reads (a GPU fallen off the bus, say)."""

    needs_sampling = True  # the sampler reads it too

    def __init__(self, clock, good: int) -> None:
        super().__init__(Component.GPU, 10.0, clock)
        self.good = good

    def _read_energy_j(self) -> float:
        self.reads += 1
        if self.reads > self.good:
            raise MeterError("counter vanished")
        return self.power_w * (self._clock() - self._t0)


def test_a_meter_that_stops_reading_never_ends_the_training(tmp_path, clock):
    meter = Vanishing(clock, good=4)
    with track(
        "fault", {}, 0, 0.9, db=tmp_path / "r.db", detection=Detection({Component.GPU: meter})
    ) as run:
        for step, accuracy in enumerate([0.3, 0.5, 0.7, 0.95], start=1):
            clock.advance(1.0)
            time.sleep(0.05)  # the sampler's reads fail too
            if run.evaluate(val_accuracy=accuracy, step=step):
                break
    assert run.outcome.status == REACHED and len(run.points) == 4
    held = run.points[-1].energy_j["gpu"]
    assert 0 < held < 40.0  # held at the last reading, not what 4 s at 10 W would be
    [fault] = [f for f in run.outcome.faults if "counter vanished" in f]
    assert "holds at" in fault and "missing" in fault
    with open_store(tmp_path / "r.db") as store:
        assert any("counter vanished" in f for f in store.runs("fault")[0].outcome.faults)
