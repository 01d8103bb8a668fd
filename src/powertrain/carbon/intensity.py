"""Carbon intensity of electricity: a bundled table (countries, main cloud regions; each row with its
year and source), the user's own figure, or a time series from a CSV the user gives. There is no
default: every carbon figure states which of these it used."""

from __future__ import annotations

import bisect
import csv
import difflib
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

from powertrain.errors import PowertrainError


@dataclass(frozen=True)
class Intensity:
    """g CO2e per kWh: constant, or piecewise constant from each timestamp (Unix s) to the next."""

    label: str
    g_per_kwh: float | None = None
    series_t_unix: list[float] = field(default_factory=list)
    series_g_per_kwh: list[float] = field(default_factory=list)

    def at(self, t_unix: float) -> float:
        if self.g_per_kwh is not None:
            return self.g_per_kwh
        i = bisect.bisect_right(self.series_t_unix, t_unix) - 1
        if i < 0:
            raise PowertrainError(
                f"the intensity series starts at {_iso(self.series_t_unix[0])}, after energy used at {_iso(t_unix)}"
            )
        return self.series_g_per_kwh[i]

    def grams(self, energy_j: float, start_unix: float, end_unix: float) -> float:
        """CO2e of energy used evenly between two instants."""
        if self.g_per_kwh is not None or end_unix <= start_unix:
            return energy_j / 3.6e6 * self.at(start_unix)
        # Split the interval at the series' change points, energy in proportion to time.
        edges = (
            [start_unix] + [t for t in self.series_t_unix if start_unix < t < end_unix] + [end_unix]
        )
        span = end_unix - start_unix
        return sum(
            energy_j * (b - a) / span / 3.6e6 * self.at(a)
            for a, b in zip(edges, edges[1:], strict=False)
        )


def _iso(t_unix: float) -> str:
    return datetime.fromtimestamp(t_unix).astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    kind: str
    g_per_kwh: float
    year: int
    source: str


@lru_cache(maxsize=1)
def regions() -> dict[str, Region]:
    text = resources.files("powertrain").joinpath("tables/carbon_intensity.csv").read_text()
    return {
        r["code"].lower(): Region(
            r["code"], r["name"], r["kind"], float(r["g_per_kwh"]), int(r["year"]), r["source"]
        )
        for r in csv.DictReader(text.splitlines())
    }


def region_intensity(code: str) -> Intensity:
    region = regions().get(code.strip().lower())
    if region is None:
        close = difflib.get_close_matches(code.lower(), list(regions()), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(regions()[c].code for c in close)}?" if close else ""
        raise PowertrainError(
            f"unknown region {code!r}{hint} Known: ISO country codes (DE, FR, US, ...) and cloud regions "
            "(aws:us-east-1, gcp:europe-west4, azure:westeurope, ...); `powertrain carbon --list-regions` lists them"
        )
    return Intensity(
        f"{region.g_per_kwh:g} g/kWh: {region.name} ({region.code}), {region.year}, {region.source}",
        g_per_kwh=region.g_per_kwh,
    )


#: Above any grid's intensity (coal plants emit about 1,000 g CO2e per kWh): a typo, or the wrong unit.
MAX_G_PER_KWH = 5000.0


def check_intensity(g_per_kwh: float, what: str) -> float:
    """A finite intensity in [0, MAX_G_PER_KWH] g CO2e per kWh, or PowertrainError naming ``what``."""
    if not (isinstance(g_per_kwh, (int, float)) and math.isfinite(g_per_kwh)):
        raise PowertrainError(
            f"{what}: expected a finite number of g CO2e per kWh, got {g_per_kwh}"
        )
    if g_per_kwh < 0:
        raise PowertrainError(f"{what}: a negative intensity ({g_per_kwh:g} g CO2e per kWh)")
    if g_per_kwh > MAX_G_PER_KWH:
        raise PowertrainError(
            f"{what}: expected at most {MAX_G_PER_KWH:g} g CO2e per kWh, got {g_per_kwh:g} "
            "(is it in g per kWh, not kg or per MWh?)"
        )
    return float(g_per_kwh)


def user_intensity(g_per_kwh: float) -> Intensity:
    check_intensity(g_per_kwh, "--intensity")
    return Intensity(f"{g_per_kwh:g} g/kWh, given by the user", g_per_kwh=g_per_kwh)


def csv_intensity(path: str | Path) -> Intensity:
    """A CSV with columns ``timestamp`` (ISO 8601; with a UTC offset, else local time) and
    ``g_per_kwh``; each value holds from its timestamp until the next."""
    from powertrain.inputs import read_csv_table

    path = Path(path)
    header, rows = read_csv_table(path, "intensity CSV")
    if not rows or not {"timestamp", "g_per_kwh"} <= set(header):
        raise PowertrainError(
            f"{path}: expected a header with columns timestamp,g_per_kwh and at least one row"
        )
    points, seen = [], {}
    for number, row in rows:
        try:
            t = datetime.fromisoformat(row["timestamp"].strip().replace("Z", "+00:00")).timestamp()
            g = float(row["g_per_kwh"])
        except ValueError:
            raise PowertrainError(
                f"{path}, line {number}: expected an ISO 8601 timestamp and a number"
            ) from None
        check_intensity(g, f"{path}, line {number}")
        if t in seen:
            raise PowertrainError(
                f"{path}, lines {seen[t]} and {number}: the same instant twice "
                f"({row['timestamp'].strip()}); each timestamp may appear once"
            )
        seen[t] = number
        points.append((t, g))
    points.sort()
    return Intensity(
        f"time series from {path.name} ({len(points)} values)",
        series_t_unix=[p[0] for p in points],
        series_g_per_kwh=[p[1] for p in points],
    )
