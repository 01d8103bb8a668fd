"""The machine's own total over a sweep: the coordinator's unwrapped counters of the devices its workers
share (a RAPL package and DRAM; a GPU they share), read from start to end, so that the runs'
apportioned parts can be checked against the whole. Energy the runs did not use (the idle floor, other
programs, the coordinator itself) is in the whole and in no part."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

READ_EVERY_S = (
    1.0  # often enough for a counter's wraparound to be seen (RAPL: minutes at full power)
)


@dataclass(frozen=True)
class MachineTotal:
    """What the shared devices used over the sweep, per component, and how that was measured."""

    energy_j: dict[str, float]
    duration_s: float
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: tuple[str, ...] = ()  # the counters' faults over the sweep (resets, bad readings)

    @property
    def total_energy_j(self) -> float:
        return sum(self.energy_j.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "energy_j": dict(self.energy_j),
            "duration_s": self.duration_s,
            "provenance": self.provenance,
            "faults": list(self.faults),
        }


class SweepMeter:
    """Reads ``meters`` (component -> Meter, the whole devices) from ``start()`` to ``stop()``."""

    def __init__(self, meters: dict, read_every_s: float = READ_EVERY_S) -> None:
        self.meters = dict(meters)
        self._read_every_s = read_every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_j: dict = {}
        self._start_s = 0.0

    def start(self) -> SweepMeter:
        self._start_j = {c: m.energy_j() for c, m in self.meters.items()}
        self._faults_at = {c: m.fault_count for c, m in self.meters.items()}
        self._start_s = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="powertrain-sweep", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._read_every_s):
            for meter in self.meters.values():
                meter.energy_j()  # a read often enough to see a wrap

    def stop(self) -> MachineTotal:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return MachineTotal(
            {c.value: m.energy_j() - self._start_j[c] for c, m in self.meters.items()},
            time.monotonic() - self._start_s,
            {c.value: m.provenance.to_dict() for c, m in self.meters.items()},
            tuple(
                f"{c.value}: {fault}"
                for c, m in self.meters.items()
                for fault in m.faults_between(self._faults_at[c], m.fault_count)
            ),
        )


def parts_j(outcomes, components) -> float:
    """The runs' apportioned parts of ``components`` (names), summed."""
    return sum(o.energy_j.get(c, 0.0) for o in outcomes for c in components)


def describe_sweep(result) -> str:
    """One line for the console: the machine's whole beside the runs' parts (less what runs that
    went on from a search's pause had spent before the sweep: ``carried_energy_j``)."""
    total = result.machine_total
    carried = getattr(result, "carried_energy_j", {})
    parts = parts_j(result.outcomes, total.energy_j) - sum(
        carried.get(c, 0.0) for c in total.energy_j
    )
    share = f" ({parts / total.total_energy_j:.0%} of it)" if total.total_energy_j > 0 else ""
    return (
        f"machine total over the sweep ({', '.join(total.energy_j)}; measured, unsplit):"
        f" {total.total_energy_j:,.0f} J in {total.duration_s:,.0f} s; the runs' apportioned"
        f" parts (ESTIMATE) sum to {parts:,.0f} J{share}; the rest is the idle floor, the"
        " coordinator and other programs"
        + (
            f"; {len(total.faults)} counter fault(s) noted: {total.faults[0]}"
            if total.faults
            else ""
        )
    )
