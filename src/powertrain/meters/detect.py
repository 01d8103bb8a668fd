"""Finds the best meter per component, and says why each backend not used is unavailable.

Nothing here runs at import; ``detect_meters`` is the one entry point.
Preference per component: GPU nvml; CPU rapl, then estimate; RAM rapl (dram zones), then estimate.

Backends are openers in the ``METERS`` registry: ``open(component, settings) -> Meter``, raising
MeterError when the component cannot be measured that way. Third-party packages add theirs under the
entry-point group ``powertrain.meters``; such a meter is tried after the built-in hardware counters and
before the estimate, for the components its opener lists in ``components`` (all by default).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.meters.base import Component, Meter, MeterError
from powertrain.registry import Registry

BACKENDS = ("nvml", "rapl", "estimate", "replay")  # the built-in ones
_PREFERENCE: dict[Component, tuple[str, ...]] = {
    Component.GPU: ("replay", "nvml"),
    Component.CPU: ("replay", "rapl", "estimate"),
    Component.RAM: ("replay", "rapl", "estimate"),
}


@dataclass
class MeterSettings:
    """What an opener may use: hardware roots and driver modules (parameters, so tests pass fakes)."""

    powercap_root: str | os.PathLike | None = None
    nvml: Any | None = None
    trace: str | os.PathLike | None = None
    cpu_tdp_w: float | None = None
    cpu_threads: int | None = None
    shared: dict[str, Any] = field(default_factory=dict)  # the estimate meters share one tree


METERS = Registry("meter", group="powertrain.meters")


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
    builtin = tuple(b for b in BACKENDS if b != "replay" or trace)
    wanted = tuple(backends) if backends else builtin + _third_party()
    unknown = [b for b in wanted if b not in METERS]
    if unknown:
        raise PowertrainError(METERS.unknown(unknown[0]))
    if "replay" in wanted and trace is None:
        raise PowertrainError("the replay meter needs a recorded trace (--replay FILE)")

    settings = MeterSettings(powercap_root, nvml, trace, cpu_tdp_w, cpu_threads)
    found = Detection()
    for component, order in _preference(wanted).items():
        for backend in order:
            if component in found.meters:
                found.unavailable.append(
                    Unavailable(backend, component, "a better meter was found")
                )
                continue
            try:
                found.meters[component] = METERS.get(backend)(component, settings)
            except (MeterError, PowertrainError) as exc:  # a broken third-party meter too
                found.unavailable.append(Unavailable(backend, component, str(exc)))
    return found


def _third_party() -> tuple[str, ...]:
    return tuple(name for name in METERS.names() if METERS.origin(name) != "powertrain")


def _preference(wanted: tuple[str, ...]) -> dict[Component, list[str]]:
    """Per component, the wanted backends in order: replay, hardware counters, third-party, estimate."""
    extra = [b for b in wanted if b not in BACKENDS]
    order = {}
    for component, builtin in _PREFERENCE.items():
        serves = [b for b in extra if component in _components(b)]
        names = [b for b in builtin if b != "estimate"] + serves + ["estimate"]
        order[component] = [b for b in names if b in wanted and (b in builtin or b in serves)]
    return order


def _components(backend: str):
    try:
        return getattr(METERS.get(backend), "components", tuple(Component))
    except PowertrainError:  # it cannot load: tried everywhere, so its error is reported
        return tuple(Component)


@METERS.register("nvml")
def _open_nvml(component: Component, settings: MeterSettings) -> Meter:
    from powertrain.meters.nvml import NvmlMeter, library_missing

    if settings.nvml is None and (missing := library_missing()):
        raise MeterError(missing)  # said without importing pynvml
    return NvmlMeter(nvml=settings.nvml)


@METERS.register("rapl")
def _open_rapl(component: Component, settings: MeterSettings) -> Meter:
    from powertrain.meters.rapl import RaplMeter

    return RaplMeter(component, root=settings.powercap_root)


@METERS.register("estimate")
def _open_estimate(component: Component, settings: MeterSettings) -> Meter:
    from powertrain.meters.cpu_table import lookup_cpu_profile
    from powertrain.meters.estimate import EstimateCpuMeter, EstimateRamMeter, ProcessTree

    tree = settings.shared.setdefault("tree", ProcessTree())
    if component is Component.CPU:
        profile = lookup_cpu_profile(tdp_w=settings.cpu_tdp_w, threads=settings.cpu_threads)
        return EstimateCpuMeter(profile, tree=tree)
    return EstimateRamMeter(tree=tree)


@METERS.register("replay")
def _open_replay(component: Component, settings: MeterSettings) -> Meter:
    from powertrain.meters.replay import ReplayMeter

    return ReplayMeter(settings.trace, component)
