"""A machine's idle power: measured once (powertrain idle), kept in the store, so that reports can show
the energy a sweep spent above it."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass
from typing import Any

from powertrain.analysis.serial import fields_of
from powertrain.errors import PowertrainError

MAX_IDLE_S = 24 * 3600.0


@dataclass(frozen=True)
class IdleBaseline:
    host: str
    measured_at: float  # Unix time
    seconds: float
    power_w: dict[str, float]  # per component
    provenance: dict[str, dict[str, Any]]
    labels: dict[str, str]  # per component: how the figure was obtained, e.g. "estimate/estimate"
    faults: tuple[str, ...] = ()  # what the meters noted while measuring (a reset, a bad reading)

    def to_dict(self) -> dict[str, Any]:
        names = ("host", "measured_at", "seconds", "power_w", "provenance", "labels", "faults")
        return fields_of(self, names)

    def to_store(self) -> dict[str, Any]:
        """The record ``store.save_idle`` keeps."""
        return fields_of(self, ("measured_at", "seconds", "power_w", "provenance", "faults"))


def measure_idle(meters: dict, seconds: float) -> IdleBaseline:
    """Sample ``meters`` (a detection's) for ``seconds`` while this process sleeps."""
    from powertrain.monitor import Monitor

    if not math.isfinite(seconds) or not 0 < seconds <= MAX_IDLE_S:
        raise PowertrainError(
            f"--seconds must be positive and at most {MAX_IDLE_S:.0f} s, got {seconds}"
        )
    monitor = Monitor(meters, sample=True)
    with monitor, monitor.window("idle") as window:
        time.sleep(seconds)
    m = window.result
    return IdleBaseline(
        platform.node(),
        time.time(),
        m.duration_s,
        {_name(c): e / m.duration_s for c, e in m.energy_j.items()},
        {_name(c): p.to_dict() for c, p in m.provenance.items()},
        {_name(c): p.label() for c, p in m.provenance.items()},
        tuple(m.faults),
    )


def save_idle(store, baseline: IdleBaseline) -> None:
    store.save_idle(baseline.host, baseline.to_store())


def stored_idle(store, host: str) -> IdleBaseline | None:
    found = store.idle(host)
    if found is None:
        return None
    provenance = found.get("provenance") or {}
    return IdleBaseline(
        host,
        found.get("measured_at", 0.0),
        found.get("seconds", 0.0),
        dict(found["power_w"]),
        provenance,
        {c: f"{p.get('meter')}/{p.get('method')}" for c, p in provenance.items()},
        tuple(found.get("faults", ())),
    )


def _name(component: Any) -> str:
    return getattr(component, "value", str(component))
