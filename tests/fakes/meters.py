"""Meters with scripted readings, for monitor and harness tests."""

from __future__ import annotations

from powertrain.meters.base import Component, Meter, Method, Provenance


class ScriptedTree:
    """Stands in for estimate.ProcessTree: CPU seconds and resident bytes set by the test."""

    def __init__(self, cpu_time_s: float = 0.0, rss_bytes: int = 0) -> None:
        self.pid = 4242
        self.cpu_s = cpu_time_s
        self.rss = rss_bytes

    def cpu_time_s(self) -> float:
        return self.cpu_s

    def refresh(self, now: bool = False) -> None:
        self.refreshed = getattr(self, "refreshed", 0) + 1

    def rss_bytes(self) -> int:
        return self.rss


class ConstantPowerMeter(Meter):
    """power_w x (clock() - opened); a counter-like meter with a known answer."""

    name = "constant"

    def __init__(
        self, component: Component, power_w: float, clock, method: Method = Method.COUNTER
    ):
        super().__init__(component)
        self.power_w, self._clock, self._t0 = power_w, clock, clock()
        self.method = method
        self.reads = 0

    def _read_energy_j(self) -> float:
        self.reads += 1
        return self.power_w * (self._clock() - self._t0)

    @property
    def provenance(self) -> Provenance:
        return Provenance(
            self.name, self.method, self.method is Method.ESTIMATE, {"power_w": self.power_w}
        )


def cpu_estimate(clock, power_w: float = 10.0):
    """Meters of one component, the CPU, estimated at a constant ``power_w`` on ``clock``: what a
    tracked run on this machine gets, made deterministic."""
    from powertrain.meters.base import Component, Method
    from powertrain.meters.detect import Detection

    return Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, power_w, clock, Method.ESTIMATE)}
    )
