"""Finds the best meter per component, and says why each backend not used is unavailable.

Nothing here runs at import; ``detect_meters`` is the one entry point.
Preference per component: GPU nvml; CPU rapl, then estimate; RAM rapl (dram zones), then estimate.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.meters.base import Component, Meter, MeterError

BACKENDS = ("nvml", "rapl", "estimate", "replay")
_PREFERENCE: dict[Component, tuple[str, ...]] = {
    Component.GPU: ("replay", "nvml"),
    Component.CPU: ("replay", "rapl", "estimate"),
    Component.RAM: ("replay", "rapl", "estimate"),
}


@dataclass(frozen=True)
class Unavailable:
    backend: str
    component: Component
    reason: str


@dataclass
class Detection:
    meters: dict[Component, Meter] = field(default_factory=dict)
    unavailable: list[Unavailable] = field(default_factory=list)

    def require(self) -> Detection:
        """Self, or PowertrainError listing why every backend failed when none could be opened."""
        if not self.meters:
            reasons = "; ".join(
                f"{u.backend} ({u.component.value}): {u.reason}" for u in self.unavailable
            )
            raise PowertrainError(f"no meter could be opened: {reasons}")
        return self

    def close(self) -> None:
        for meter in self.meters.values():
            meter.close()

    def to_dict(self) -> dict[str, Any]:
        return {
            "components": {
                c.value: {**m.provenance.to_dict(), "label": m.provenance.label()}
                for c, m in self.meters.items()
            },
            "unavailable": [
                {"backend": u.backend, "component": u.component.value, "reason": u.reason}
                for u in self.unavailable
            ],
        }


def detect_meters(
    backends: Iterable[str] | None = None,
    *,
    powercap_root: str | os.PathLike | None = None,
    nvml: Any | None = None,
    trace: str | os.PathLike | None = None,
    cpu_tdp_w: float | None = None,
    cpu_threads: int | None = None,
) -> Detection:
    """Open the best available meter for each component.

    ``backends`` limits the search to those names (``"estimate"``, say); ``trace`` enables replay of a
    recorded trace. Raises PowertrainError for an unknown backend name.
    """
    wanted = tuple(backends) if backends else tuple(b for b in BACKENDS if b != "replay" or trace)
    unknown = [b for b in wanted if b not in BACKENDS]
    if unknown:
        raise PowertrainError(f"unknown meter {unknown[0]!r}; choose from {', '.join(BACKENDS)}")
    if "replay" in wanted and trace is None:
        raise PowertrainError("the replay meter needs a recorded trace (--replay FILE)")

    shared: dict[str, Any] = {}  # the estimate meters share one process tree
    openers: dict[str, Callable[[Component], Meter]] = {
        "nvml": lambda c: _open_nvml(nvml),
        "rapl": lambda c: _open_rapl(c, powercap_root),
        "estimate": lambda c: _open_estimate(c, cpu_tdp_w, cpu_threads, shared),
        "replay": lambda c: _open_replay(c, trace),
    }
    found = Detection()
    for component, order in _PREFERENCE.items():
        for backend in order:
            if backend not in wanted:
                continue
            if component in found.meters:
                found.unavailable.append(
                    Unavailable(backend, component, "a better meter was found")
                )
                continue
            try:
                found.meters[component] = openers[backend](component)
            except MeterError as exc:
                found.unavailable.append(Unavailable(backend, component, str(exc)))
    return found


def _open_nvml(nvml: Any | None) -> Meter:
    from powertrain.meters.nvml import NvmlMeter

    return NvmlMeter(nvml=nvml)


def _open_rapl(component: Component, root) -> Meter:
    from powertrain.meters.rapl import RaplMeter

    return RaplMeter(component, root=root)


def _open_estimate(
    component: Component, tdp_w: float | None, threads: int | None, shared: dict[str, Any]
) -> Meter:
    from powertrain.meters.cpu_table import lookup_cpu_profile
    from powertrain.meters.estimate import EstimateCpuMeter, EstimateRamMeter, ProcessTree

    tree = shared.setdefault("tree", ProcessTree())
    if component is Component.CPU:
        return EstimateCpuMeter(lookup_cpu_profile(tdp_w=tdp_w, threads=threads), tree=tree)
    return EstimateRamMeter(tree=tree)


def _open_replay(component: Component, trace) -> Meter:
    from powertrain.meters.replay import ReplayMeter

    return ReplayMeter(trace, component)
