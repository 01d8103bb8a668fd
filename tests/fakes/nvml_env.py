"""A fake ``pynvml`` for processes a test cannot hand a fake to (the ranks of a ``torchrun`` job):
``POWERTRAIN_NVML_MODULE=tests.fakes.nvml_env`` makes powertrain import this module in place of pynvml,
and ``POWERTRAIN_FAKE_GPUS="GPU-a:300,GPU-b:100"`` lists this node's GPUs (UUID:watts). Each GPU draws
its power steadily: its energy counter is watts x seconds since this module was imported."""

from __future__ import annotations

import os
import time

from tests.fakes.nvml import FakeGpu, FakeNvml


class SteadyNvml(FakeNvml):
    """GPUs whose energy counters grow with wall-clock time at their fixed power."""

    def __init__(self, gpus: list[FakeGpu]) -> None:
        super().__init__(gpus)
        self.t0_s = time.monotonic()

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        gpu = self._gpu(handle)
        return int(gpu.power_mw * (time.monotonic() - self.t0_s))


def gpus_from(spec: str) -> list[FakeGpu]:
    gpus = []
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        uuid, watts = entry.split(":")
        gpus.append(FakeGpu(uuid=uuid, power_mw=int(float(watts) * 1000)))
    return gpus


_nvml = SteadyNvml(gpus_from(os.environ.get("POWERTRAIN_FAKE_GPUS", "")))
globals().update(
    {name: getattr(_nvml, name) for name in dir(_nvml) if name.startswith(("nvml", "NVML"))}
)
NVMLError = _nvml.NVMLError
POWERTRAIN_COUNTER_PERIOD_S = _nvml.POWERTRAIN_COUNTER_PERIOD_S
