"""A run's carbon, recomputed from what the store holds (energy, timeline, hardware), never by rerunning:
operational = energy x PUE x grid intensity (integrated over the power timeline when the intensity
varies in time); embodied = the hardware's manufacturing footprint x the run's share of its life."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from powertrain.carbon.embodied import Embodied, embodied_for
from powertrain.carbon.intensity import Intensity
from powertrain.errors import PowertrainError
from powertrain.meters.base import measurement_label
from powertrain.records import RunRecord


@dataclass(frozen=True)
class RunFootprint:
    run_id: int
    study: str
    setup: dict[str, Any]
    seed: int
    host: str
    energy_j: float
    dynamic_energy_j: (
        float | None
    )  # above the machine's idle power; None when no idle baseline exists
    operational_g: float
    embodied: Embodied
    intensity: str
    pue: float
    pue_source: str
    energy_method: str

    @property
    def total_g(self) -> float:
        return self.operational_g + self.embodied.grams

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "study": self.study,
            "setup": self.setup,
            "seed": self.seed,
            "host": self.host,
            "energy_j": self.energy_j,
            "dynamic_energy_j": self.dynamic_energy_j,
            "energy_method": self.energy_method,
            "operational_g_co2e": self.operational_g,
            "embodied_g_co2e": self.embodied.grams,
            "total_g_co2e": self.total_g,
            "intensity": self.intensity,
            "pue": self.pue,
            "pue_source": self.pue_source,
            "embodied": self.embodied.describe(),
        }


def operational_grams(
    run: RunRecord, timeline: dict | None, intensity: Intensity, pue: float
) -> float:
    """Energy x PUE x intensity. With a timeline, each sampling interval meets the intensity of its time."""
    energy_j = run.outcome.total_energy_j
    if not _usable_timeline(timeline) or intensity.g_per_kwh is not None:
        start = (timeline or {}).get("header", {}).get("started_at_unix", run.started_at)
        return pue * intensity.grams(energy_j, start, start + run.outcome.duration_s)
    start = timeline["header"].get("started_at_unix", run.started_at)
    t = timeline["t_s"]
    totals = [sum(values) for values in zip(*timeline["energy_j"].values(), strict=True)]
    grams = sum(
        intensity.grams(totals[i] - totals[i - 1], start + t[i - 1], start + t[i])
        for i in range(1, len(t))
    )
    # The timeline spans the monitor's life, a little more than the run's window: scale to the run's energy.
    spent = totals[-1] - totals[0]
    return pue * (
        grams * energy_j / spent if spent > 0 else intensity.grams(energy_j, start, start)
    )


def _usable_timeline(timeline: dict | None) -> bool:
    """At least two samples, every time and energy finite, times increasing (else: spread evenly)."""
    if not timeline or len(timeline.get("t_s", [])) < 2:
        return False
    t = timeline["t_s"]
    series = [t, *timeline.get("energy_j", {}).values()]
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for s in series for v in s)
    return finite and all(b >= a for a, b in zip(t, t[1:], strict=False))


def check_run_figures(run: RunRecord) -> None:
    """PowertrainError when a stored run's energy or duration cannot be turned into carbon."""
    o = run.outcome
    figures = [("energy", o.total_energy_j, "J"), ("duration", o.duration_s, "s")]
    figures += [(f"{c} energy", e, "J") for c, e in o.energy_j.items()]
    if o.energy_to_target_j is not None:
        figures.append(("energy to target", o.energy_to_target_j, "J"))
    for name, value, unit in figures:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise PowertrainError(
                f"run {run.id} of study {run.study!r} has a stored {name} of {value} {unit}, which "
                "is no figure; rerun it (powertrain run ... --retry-failed after removing it) or "
                "leave its study out (--study)"
            )


def dynamic_energy_j(outcome, idle: dict | None) -> float | None:
    """Energy above the machine's idle power over the run's duration (None without a baseline)."""
    if idle is None:
        return None
    return sum(
        max(0.0, e - idle["power_w"].get(c, 0.0) * outcome.duration_s)
        for c, e in outcome.energy_j.items()
    )


def footprint(
    run: RunRecord,
    timeline: dict | None,
    intensity: Intensity,
    pue: float,
    pue_source: str,
    lifetime_years: float | None = None,
    hardware_share: float | None = None,
    idle: dict | None = None,
) -> RunFootprint:
    check_run_figures(run)
    o = run.outcome
    dynamic = dynamic_energy_j(o, idle)
    return RunFootprint(
        run.id,
        run.study,
        run.setup,
        run.seed,
        run.hardware.get("host", "?"),
        o.total_energy_j,
        dynamic,
        operational_grams(run, timeline, intensity, pue),
        embodied_for(run.hardware, o.duration_s, lifetime_years, hardware_share),
        intensity.label,
        pue,
        pue_source,
        measurement_label(run.provenance),
    )
