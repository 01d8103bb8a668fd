"""Carbon of stored runs, recomputed from what the store holds (never by rerunning): the one function
that `powertrain carbon` and the report's carbon section both call."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from powertrain.analysis.serial import fields_of
from powertrain.errors import PowertrainError


@dataclass(frozen=True)
class CarbonSettings:
    intensity: Any  # carbon.intensity.Intensity
    pue: float
    pue_source: str
    lifetime_years: float | None = None
    hardware_share: float | None = None


@dataclass(frozen=True)
class CarbonTotal:
    study: str
    host: str
    runs: int
    operational_g_co2e: float
    embodied_g_co2e: float

    @property
    def total_g_co2e(self) -> float:
        return self.operational_g_co2e + self.embodied_g_co2e

    def to_dict(self) -> dict[str, Any]:
        names = ("study", "host", "runs", "operational_g_co2e", "embodied_g_co2e", "total_g_co2e")
        return fields_of(self, names)


@dataclass(frozen=True)
class CarbonSummary:
    intensity: str  # the intensity's label: where the figure comes from
    pue: float
    pue_source: str
    embodied: str  # how manufacturing emissions were counted
    runs: tuple  # carbon.footprint.RunFootprint, one per finished run
    by_study_and_machine: tuple[CarbonTotal, ...]

    def to_dict(self) -> dict[str, Any]:
        names = ("intensity", "pue", "pue_source", "embodied", "by_study_and_machine", "runs")
        return fields_of(self, names)


def footprints(store, study: str | None, settings: CarbonSettings) -> CarbonSummary:
    """Every finished run's footprint (of ``study``, or of all), with totals per study and machine."""
    from powertrain.carbon.footprint import footprint

    runs = [r for r in store.runs(study) if r.outcome is not None]
    if study and not runs:
        raise PowertrainError(f"no finished runs of study {study!r} in the store")
    hosts = {r.hardware.get("host", "") for r in runs}
    idle = {host: store.idle(host) for host in hosts}
    prints = tuple(
        footprint(
            r,
            store.timeline(r.id),
            settings.intensity,
            settings.pue,
            settings.pue_source,
            settings.lifetime_years,
            settings.hardware_share,
            idle=idle.get(r.hardware.get("host", "")),
        )
        for r in runs
    )
    by_group: dict[tuple[str, str], list] = defaultdict(list)
    for f in prints:
        by_group[(f.study, f.host)].append(f)
    totals = tuple(
        CarbonTotal(
            study,
            host,
            len(fs),
            sum(f.operational_g for f in fs),
            sum(f.embodied.grams for f in fs),
        )
        for (study, host), fs in by_group.items()
    )
    return CarbonSummary(
        settings.intensity.label,
        settings.pue,
        settings.pue_source,
        prints[0].embodied.describe() if prints else "",
        prints,
        totals,
    )
