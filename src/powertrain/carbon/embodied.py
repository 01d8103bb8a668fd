"""Embodied emissions: the manufacturing footprint of the hardware a run used, from a documented table
(``tables/embodied.csv``), amortised over the hardware's service life by the run's duration."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from powertrain.errors import PowertrainError

DEFAULT_LIFETIME_YEARS = 4.0
LIFETIME_SOURCE = (
    "4 years: the commodity rack-server lifespan of the Cloud Carbon Footprint coefficients"
)
SECONDS_PER_YEAR = 365.25 * 86400


@dataclass(frozen=True)
class Part:
    device: str
    count: float
    kg_co2e_each: float
    source: str

    @property
    def kg_co2e(self) -> float:
        return self.count * self.kg_co2e_each


@lru_cache(maxsize=1)
def _table() -> list[dict[str, str]]:
    return list(
        csv.DictReader(
            resources.files("powertrain").joinpath("tables/embodied.csv").read_text().splitlines()
        )
    )


def _row(kind: str, name: str = "") -> dict[str, str]:
    return next(r for r in _table() if r["kind"] == kind and re.search(r["pattern"], name, re.I))


def hardware_parts(hardware: dict[str, Any]) -> list[Part]:
    """The manufactured parts a run's machine consists of, as far as its hardware record tells."""
    chassis = _row("chassis")
    ram = _row("ram_per_gb")
    parts = [Part(chassis["device"], 1, float(chassis["kg_co2e"]), chassis["source"])]
    if hardware.get("memory_gb"):
        parts.append(
            Part(
                f"memory ({hardware['memory_gb']} GB)",
                float(hardware["memory_gb"]),
                float(ram["kg_co2e"]),
                ram["source"],
            )
        )
    gpus = int(hardware.get("gpu_count") or (1 if hardware.get("gpu_model") else 0))
    if gpus:
        gpu = _row("gpu", str(hardware.get("gpu_model", "")))
        parts.append(
            Part(
                f"{gpu['device']} ({hardware.get('gpu_model')})",
                gpus,
                float(gpu["kg_co2e"]),
                gpu["source"],
            )
        )
    return parts


@dataclass(frozen=True)
class Embodied:
    grams: float
    parts: list[Part]
    lifetime_years: float
    lifetime_source: str
    duration_s: float
    share: float = (
        1.0  # of the machine's manufacturing footprint charged (a VM's slice of its host)
    )

    def describe(self) -> str:
        what = ", ".join(f"{p.device} {p.kg_co2e:,.0f} kg" for p in self.parts)
        charged = (
            "the whole machine charged (on a shared host, set --hardware-share)"
            if self.share == 1
            else f"{self.share:g} of the machine charged, given by the user"
        )
        return f"{what}; amortised over {self.lifetime_years:g} years ({self.lifetime_source}); {charged}"


def embodied_for(
    hardware: dict[str, Any],
    duration_s: float,
    lifetime_years: float | None = None,
    share: float | None = None,
) -> Embodied:
    """``share``: the part of the machine the run had (e.g. a VM's vCPUs over the host's threads)."""
    if lifetime_years is not None and not (math.isfinite(lifetime_years) and lifetime_years > 0):
        raise PowertrainError(
            f"--lifetime-years must be a positive finite number of years, got {lifetime_years}"
        )
    if share is not None and not (math.isfinite(share) and 0 < share <= 1):
        raise PowertrainError(
            f"--hardware-share is a fraction of the machine in (0, 1], got {share}"
        )
    share = share or 1.0
    years = lifetime_years or DEFAULT_LIFETIME_YEARS
    source = "given by the user" if lifetime_years else LIFETIME_SOURCE
    parts = hardware_parts(hardware)
    total_kg = sum(p.kg_co2e for p in parts)
    grams = share * total_kg * 1000 * duration_s / (years * SECONDS_PER_YEAR)
    return Embodied(grams, parts, years, source, duration_s, share)
