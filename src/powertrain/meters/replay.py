"""Plays a recorded trace back as a meter: the energy the recording had used after as many seconds.

Past the end of the recording, playback starts over and keeps adding (a periodic workload, such as a
training epoch, replays well). A replay of measured figures is labelled measured; of estimates, estimated.
"""

from __future__ import annotations

import bisect
import math
import os
import time

from powertrain.meters.base import Component, Meter, MeterError, Method, Provenance
from powertrain.trace import Trace, read_trace


class ReplayMeter(Meter):
    name = "replay"

    def __init__(
        self, trace: Trace | str | os.PathLike, component: Component, clock=time.monotonic
    ) -> None:
        super().__init__(component)
        self.source = None if isinstance(trace, Trace) else str(trace)
        self.trace = trace if isinstance(trace, Trace) else read_trace(trace)
        if component.value not in self.trace.energy_j:
            raise MeterError(f"the trace has no {component.value} component")
        energies = self.trace.energy_j[component.value]
        if len(energies) < 2 or self.trace.t_s[-1] <= self.trace.t_s[0]:
            raise MeterError("the trace holds fewer than two samples; it cannot be replayed")
        _check_samples(self.trace.t_s, energies, component.value)
        # Times and energies relative to the first sample.
        self._t_s = [t - self.trace.t_s[0] for t in self.trace.t_s]
        self._e_j = [e - energies[0] for e in energies]
        self._clock = clock
        self._start_s = clock()

    def _energy_at(self, t_s: float) -> float:
        i = bisect.bisect_right(self._t_s, t_s)
        if i >= len(self._t_s):
            return self._e_j[-1]
        t_a, t_b = self._t_s[i - 1], self._t_s[i]
        e_a, e_b = self._e_j[i - 1], self._e_j[i]
        return e_a + (e_b - e_a) * (t_s - t_a) / (t_b - t_a)

    def _read_energy_j(self) -> float:
        elapsed_s = self._clock() - self._start_s
        period_s, period_j = self._t_s[-1], self._e_j[-1]
        cycles, rest_s = divmod(elapsed_s, period_s)
        return cycles * period_j + self._energy_at(rest_s)

    @property
    def provenance(self) -> Provenance:
        recorded = self.trace.components[self.component.value]
        return Provenance(
            meter=self.name,
            method=Method.REPLAY,
            estimated=bool(recorded.get("estimated", True)),
            details={"trace": self.source, "recorded": recorded},
        )


def _check_samples(t_s: list[float], energy_j: list[float], component: str) -> None:
    """A trace given in memory gets the checks ``read_trace`` makes of a file."""
    if not all(math.isfinite(v) for v in (*t_s, *energy_j)):
        raise MeterError(f"the trace's {component} samples hold a value that is not finite")
    if any(b < a for a, b in zip(t_s, t_s[1:], strict=False)):
        raise MeterError("the trace's times go back")
    if any(b < a for a, b in zip(energy_j, energy_j[1:], strict=False)):
        raise MeterError(
            f"the trace's {component} energy goes down; a trace holds cumulative joules"
        )
