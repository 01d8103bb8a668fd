"""Carbon-intensity sources by name: the built-ins, a third party's, and bad ones."""

from __future__ import annotations

import pytest

from powertrain.carbon.intensity import Intensity
from powertrain.carbon.sources import CARBON_SOURCES, intensity_from, parse_source
from powertrain.errors import PowertrainError


def test_the_built_in_sources_give_what_the_options_gave():
    assert intensity_from("constant", "250").g_per_kwh == 250
    assert intensity_from("region", "DE").label == intensity_from("region", "DE").label
    assert {"region", "constant", "csv"} <= set(CARBON_SOURCES.names())


def test_a_registered_source_is_used_by_name_and_a_duplicate_is_refused():
    CARBON_SOURCES.register("test-flat", lambda arg: Intensity(f"flat {arg}", g_per_kwh=float(arg)))
    assert intensity_from("test-flat", "123").g_per_kwh == 123
    with pytest.raises(PowertrainError, match="registered already"):
        CARBON_SOURCES.register("test-flat", lambda arg: None)


def test_unknown_names_bad_arguments_and_wrong_returns_are_one_clear_message():
    with pytest.raises(PowertrainError, match="unknown carbon source 'nope'; choose from"):
        intensity_from("nope", "x")
    with pytest.raises(PowertrainError, match="not a finite number"):
        intensity_from("constant", "nan")
    with pytest.raises(PowertrainError, match="give NAME:ARGUMENT"):
        parse_source("region")
    CARBON_SOURCES.register("test-broken", lambda arg: 42.0)
    with pytest.raises(PowertrainError, match="returned float, not an Intensity"):
        intensity_from("test-broken", "x")
    assert parse_source("csv:grid.csv") == ("csv", "grid.csv")
    assert parse_source("region:aws:us-east-1") == ("region", "aws:us-east-1")
