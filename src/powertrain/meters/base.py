"""The meter interface: what every energy source provides, and how it says how it knows.

Units inside powertrain are joules, watts and seconds; the unit is in every name.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from powertrain.errors import PowertrainError


class Component(str, Enum):
    """The part of the machine a meter covers."""

    GPU = "gpu"
    CPU = "cpu"
    RAM = "ram"


class Method(str, Enum):
    """How an energy figure was obtained."""

    COUNTER = "counter"  # a hardware energy counter (NVML total energy, RAPL energy_uj)
    SAMPLED_POWER = "sampled_power"  # instantaneous power readings integrated over time
    ESTIMATE = "estimate"  # a model of the machine (CPU time x watts per core, ...)
    REPLAY = "replay"  # played back from a recorded trace
    APPORTIONED = "apportioned"  # a device-wide counter split between the runs that shared it


class MeterError(PowertrainError):
    """A meter cannot be opened or read. The message says what is wrong and what to do."""


@dataclass(frozen=True)
class Provenance:
    """Where a figure comes from: backend, method, whether it is an estimate, and the assumptions."""

    meter: str
    method: Method
    estimated: bool
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def label(self) -> str:
        """A short human label, printed next to every energy figure."""
        return measurement_label(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        """The inverse of ``to_dict`` (as the store and the trace keep it)."""
        return cls(
            str(data["meter"]),
            Method(data["method"]),
            bool(data.get("estimated", True)),
            dict(data.get("details") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "meter": self.meter,
            "method": self.method.value,
            "estimated": self.estimated,
            "details": dict(self.details),
        }


def _estimated(p: Any) -> bool:
    return bool(p.get("estimated", True) if isinstance(p, Mapping) else p.estimated)


MEASURING = frozenset({Method.COUNTER.value, Method.SAMPLED_POWER.value})


def method_label(p: Any) -> str:
    """One component's method in words. A figure marked an estimate though its method measures
    (a distributed run's sum, where another node only estimated what rank 0's node measured:
    ``records.with_nodes``) is ``counter+estimate``, never the bare ``counter``."""
    method = p.get("method") if isinstance(p, Mapping) else p.method
    word = str(getattr(method, "value", method))
    return f"{word}+estimate" if word in MEASURING and _estimated(p) else word


def is_estimated(provenance: Mapping[str, Any]) -> bool:
    """True when any component's figure is an estimate (a component that does not say counts as one)."""
    return any(_estimated(p) for p in provenance.values())


def measurement_label(provenance: Any = None, *, estimated: bool | None = None) -> str:
    """The one labeller of "measured" or "ESTIMATE". ``provenance``: one component's ``Provenance``
    (``ESTIMATE: estimate/estimate``), or per component (``ESTIMATE (cpu estimate, ram estimate)``), or
    nothing with ``estimated=`` given (the bare word)."""
    if provenance is None:
        return "ESTIMATE" if estimated else "measured"
    if not isinstance(provenance, Mapping) or "method" in provenance:  # one component
        meter = provenance.get("meter") if isinstance(provenance, Mapping) else provenance.meter
        word = measurement_label(estimated=_estimated(provenance))
        return f"{word}: {meter}/{method_label(provenance)}"
    parts = ", ".join(f"{c} {method_label(p)}" for c, p in provenance.items())
    return f"{measurement_label(estimated=is_estimated(provenance))} ({parts})"


def runs_label(provenances: Iterable[Any]) -> str:
    """How figures added up from several runs were obtained (``provenances``: each run's): their one
    label, or, where runs differ (RAPL readable for one, root-only after a reboot for the next), each
    label and how many runs are estimates, ``ESTIMATE in 2 of 3 runs (...; ...)``, never the first
    run's "measured"; "unknown" without any."""
    provenances = list(provenances)
    labels = list(dict.fromkeys(measurement_label(p) for p in provenances))
    if len(labels) <= 1:
        return labels[0] if labels else "unknown"
    estimated = sum(is_estimated(p) for p in provenances)
    word = f"ESTIMATE in {estimated} of {len(provenances)} runs" if estimated else "measured"
    return f"{word} ({'; '.join(labels)})"


class Meter(ABC):
    """A cumulative energy reading for one component.

    ``energy_j()`` returns the energy used since the meter was opened; it never decreases. Backends
    implement ``_read_energy_j`` and handle their own counter wraparound; the base class makes reads
    thread-safe, because the monitor's sampler thread and the caller's thread both read.
    """

    name: ClassVar[str]
    #: True when the figure is only good if the meter is read often (integrated power).
    needs_sampling: ClassVar[bool] = False
    #: "device": the figure covers a whole device (read once per node in a distributed job);
    #: "process": it covers this process's tree only (summed over a job's ranks).
    scope: ClassVar[str] = "device"
    #: Faults kept word for word; beyond this many only their number grows.
    MAX_FAULTS_KEPT: ClassVar[int] = 100

    def __init__(self, component: Component) -> None:
        self.component = component
        self._lock = threading.Lock()
        self._faults: list[str] = []
        self._fault_count = 0

    def energy_j(self) -> float:
        with self._lock:
            return self._read_energy_j()

    # -- faults: what went wrong with a figure, kept so that it travels with the figure -----------
    def note_fault(self, message: str) -> None:
        """Note something that touches the figures (a counter reset, a bad reading). Append-only:
        a window takes the faults noted between its two edges (``fault_count`` / ``faults_between``)."""
        if self._fault_count < self.MAX_FAULTS_KEPT:
            self._faults.append(message)
        self._fault_count += 1

    @property
    def fault_count(self) -> int:
        return self._fault_count

    def faults_between(self, start: int, end: int) -> list[str]:
        """The faults noted while the count went from ``start`` to ``end``, as far as they were kept
        (the first MAX_FAULTS_KEPT; ``end - start`` says how many there were)."""
        return self._faults[start:end]

    def update_period_s(self) -> float:
        """How often the reading moves (a counter the hardware updates in steps of time): a window
        spanning few of them is measured up to a period stale at each edge. 0: at every read."""
        return 0.0

    def resolution_j(self) -> float | None:
        """The smallest energy difference the meter can tell apart, where it is coarse (an estimate
        counting CPU time in clock ticks); None when finer than anything a window would notice. It
        may change from read to read: the monitor asks right after each window edge's read and
        judges the window by the coarser of its two edges."""
        return None

    def resolution_reason(self) -> str:
        """Why the figure comes in steps of ``resolution_j`` (shown beside a flagged figure)."""
        return ""

    def rescan(self, begin: bool) -> None:  # noqa: B027 - optional hook, nothing to do for most
        """Look afresh at what it measures before a window's edge is read (an estimate lists its
        processes again: one started since the last listing is then counted from that edge).
        ``begin``: the window's begin, whose read comes next; else its end. What looking costs this
        process must fall outside the window: before the begin's read, after the end's."""

    @abstractmethod
    def _read_energy_j(self) -> float:
        """Cumulative joules since the meter was opened."""

    @property
    @abstractmethod
    def provenance(self) -> Provenance:
        """How this meter's figures are obtained."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release whatever the meter holds. Idempotent; most meters hold nothing."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.component.value} {self.provenance.label()}>"


class IntegratingMeter(Meter):
    """A meter that integrates a power reading over time (trapezoidal rule).

    Subclasses implement ``_read_power_w``. Reads should come often (the monitor's sampler), since the
    figure between two reads is the mean of the power at both ends.
    """

    needs_sampling = True

    def __init__(self, component: Component, clock) -> None:
        super().__init__(component)
        self._clock = clock
        self._last_t_s: float | None = None
        self._last_power_w = 0.0
        self._energy_j = 0.0

    @abstractmethod
    def _read_power_w(self) -> float: ...

    def _read_energy_j(self) -> float:
        now_s = self._clock()
        power_w = self._read_power_w()
        if self._last_t_s is not None:
            self._energy_j += 0.5 * (power_w + self._last_power_w) * (now_s - self._last_t_s)
        self._last_t_s, self._last_power_w = now_s, power_w
        return self._energy_j
