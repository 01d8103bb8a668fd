"""Carbon-intensity sources by name: where the electricity's g CO2e/kWh comes from.

The fourth registry (beside data sets, models and meters): a source is a function of one text argument
that returns an ``Intensity``. Built-ins: ``region`` (the bundled table: ``DE``, ``aws:us-east-1``),
``constant`` (a number the user gives, g/kWh), ``csv`` (a time series file). A package adds one through
the entry-point group ``powertrain.carbon_sources`` (e.g. a live grid API), and it is then used as
``powertrain carbon --source NAME:ARGUMENT``. There is never a silent default.
"""

from __future__ import annotations

import math

from powertrain.carbon.intensity import (
    Intensity,
    csv_intensity,
    region_intensity,
    user_intensity,
)
from powertrain.errors import PowertrainError
from powertrain.registry import Registry

CARBON_SOURCES = Registry("carbon source", "powertrain.carbon_sources")


def _constant(argument: str) -> Intensity:
    try:
        value = float(argument)
    except ValueError:
        raise PowertrainError(f"constant: {argument!r} is not a number of g CO2e/kWh") from None
    if not math.isfinite(value):
        raise PowertrainError(f"constant: {argument!r} is not a finite number of g CO2e/kWh")
    return user_intensity(value)


CARBON_SOURCES.register("region", region_intensity)
CARBON_SOURCES.register("constant", _constant)
CARBON_SOURCES.register("csv", csv_intensity)


def intensity_from(name: str, argument: str) -> Intensity:
    """The intensity the source ``name`` gives for ``argument``; one clear message if it cannot."""
    source = CARBON_SOURCES.get(name)
    found = source(argument)
    if not isinstance(found, Intensity):
        raise PowertrainError(
            f"carbon source {name!r} returned {type(found).__name__}, not an Intensity "
            "(powertrain.carbon.intensity.Intensity)"
        )
    return found


def parse_source(text: str) -> tuple[str, str]:
    """``NAME:ARGUMENT`` (``region:DE``, ``constant:250``, ``csv:grid.csv``) -> (name, argument)."""
    name, sep, argument = text.partition(":")
    if not sep or not name or not argument:
        raise PowertrainError(
            f"--source {text!r}: give NAME:ARGUMENT, e.g. region:DE, constant:250 or csv:grid.csv "
            f"(sources: {', '.join(CARBON_SOURCES.names())})"
        )
    return name, argument
