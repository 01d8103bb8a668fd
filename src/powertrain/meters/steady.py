"""A tracked training is the user's: a meter that stops reading in the middle of it (a GPU fallen off
the bus, a counter that vanished) must not end it. ``SteadyMeter`` wraps a meter for ``track()``'s
monitor: a read that fails keeps the last good figure, and the fault, saying so, goes into the meter's
faults, which travel with the run's outcome (the energy from then on is missing from the figure, and
the outcome says it). A meter that reads again goes on from its own count.

The built-in loop and ``powertrain measure`` keep the plain meters: there a failed read fails the
run, which is powertrain's own to run again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from powertrain.meters.base import Meter, Provenance


class SteadyMeter(Meter):
    """``inner``'s figure; a failed read holds the last good one, noted as a fault."""

    def __init__(self, inner: Meter) -> None:
        super().__init__(inner.component)
        self.inner = inner
        self.name = inner.name  # the inner meter's, as labels show it
        self.needs_sampling = inner.needs_sampling
        self.scope = inner.scope
        self._last_j = 0.0
        self._failing = False
        self._inner_faults_seen = inner.fault_count

    def _read_energy_j(self) -> float:
        try:
            self._last_j = self.inner.energy_j()
            if self._failing:
                self._failing = False
                self.note_fault(f"reads again: the figure goes on from {self._last_j:.4g} J")
        except Exception as exc:  # noqa: BLE001 - any failure of the meter, said in the fault
            if not self._failing:
                self._failing = True
                self.note_fault(
                    f"a read failed ({type(exc).__name__}: {exc}); the figure holds at "
                    f"{self._last_j:.4g} J, its last reading, and the energy used from then on is "
                    "missing from it"
                )
        self._forward_faults()
        return self._last_j

    def _forward_faults(self) -> None:
        count = self.inner.fault_count
        for fault in self.inner.faults_between(self._inner_faults_seen, count):
            self.note_fault(fault)
        self._inner_faults_seen = count

    @property
    def provenance(self) -> Provenance:
        return self.inner.provenance

    def resolution_j(self) -> float | None:
        return self.inner.resolution_j()

    def resolution_reason(self) -> str:
        return self.inner.resolution_reason()

    def update_period_s(self) -> float:
        return self.inner.update_period_s()

    def rescan(self, begin: bool) -> None:
        with contextlib.suppress(Exception):  # its next read says what is wrong, once
            self.inner.rescan(begin)

    def close(self) -> None:
        self.inner.close()


def steady(meters: Mapping) -> dict:
    """Each meter of ``meters`` (component -> meter) wrapped in a ``SteadyMeter``."""
    return {component: SteadyMeter(meter) for component, meter in meters.items()}
