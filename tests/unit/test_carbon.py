from __future__ import annotations

from datetime import UTC, datetime

import pytest

from powertrain.carbon.embodied import SECONDS_PER_YEAR, embodied_for, hardware_parts
from powertrain.carbon.footprint import footprint, operational_grams
from powertrain.carbon.intensity import csv_intensity, region_intensity, regions, user_intensity
from powertrain.carbon.pue import resolve_pue
from powertrain.errors import PowertrainError
from powertrain.records import REACHED, RunOutcome, RunRecord

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()


def run(
    energy_j: float = 3.6e6, duration_s: float = 3600.0, hardware: dict | None = None
) -> RunRecord:
    outcome = RunOutcome(
        REACHED, "", energy_j, {"cpu": energy_j}, duration_s, 10, 0.9, 0.9, energy_j, duration_s, 10
    )
    return RunRecord(
        1,
        "s",
        "k",
        {"lr": 0.1},
        {},
        0,
        REACHED,
        hardware or {"host": "h", "memory_gb": 10},
        {"cpu": {"method": "counter", "estimated": False}},
        T0,
        outcome,
    )


def test_every_bundled_region_has_a_year_and_a_source():
    for region in regions().values():
        assert region.year >= 2019 and region.source and region.g_per_kwh >= 0


def test_region_lookup_is_case_insensitive_and_says_where_the_figure_comes_from():
    fr = region_intensity("fr")
    assert fr.g_per_kwh == pytest.approx(67.39)
    assert "France" in fr.label and "2021" in fr.label and "Our World in Data" in fr.label
    assert region_intensity("aws:us-east-1").g_per_kwh == pytest.approx(367.8)


def test_unknown_region_suggests_close_codes():
    with pytest.raises(PowertrainError, match="unknown region 'aws:us-east-9'.*aws:us-east-1"):
        region_intensity("aws:us-east-9")


def test_constant_intensity_carbon_is_energy_times_pue_times_intensity():
    grams = operational_grams(run(energy_j=3.6e6), None, user_intensity(400), pue=1.5)
    assert grams == pytest.approx(1.0 * 1.5 * 400)  # 1 kWh


def test_time_resolved_intensity_is_integrated_over_the_power_timeline(tmp_path):
    path = tmp_path / "grid.csv"
    path.write_text("timestamp,g_per_kwh\n2026-01-01T12:00:00Z,100\n2026-01-01T12:30:00Z,500\n")
    series = csv_intensity(path)
    # 1 kWh in the first half hour (at 100 g/kWh), 3 kWh in the second (at 500 g/kWh).
    timeline = {
        "header": {"started_at_unix": T0},
        "t_s": [0, 1800, 3600],
        "energy_j": {"cpu": [0, 3.6e6, 4 * 3.6e6]},
    }
    grams = operational_grams(run(energy_j=4 * 3.6e6), timeline, series, pue=1.0)
    assert grams == pytest.approx(1 * 100 + 3 * 500)
    # Without a timeline, the energy is spread evenly over the run: half in each period.
    assert operational_grams(run(energy_j=4 * 3.6e6), None, series, pue=1.0) == pytest.approx(
        2 * 100 + 2 * 500
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,value\n2026-01-01T00:00:00Z,1\n", "columns timestamp,g_per_kwh"),
        ("timestamp,g_per_kwh\nyesterday,100\n", "line 2"),
        ("timestamp,g_per_kwh\n2026-01-01T00:00:00Z,-5\n", "negative"),
    ],
)
def test_malformed_intensity_csv(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(PowertrainError, match=message):
        csv_intensity(path)


def test_energy_before_the_series_begins_is_an_error(tmp_path):
    path = tmp_path / "late.csv"
    path.write_text("timestamp,g_per_kwh\n2027-01-01T00:00:00Z,100\n")
    with pytest.raises(PowertrainError, match="starts at"):
        operational_grams(run(), None, csv_intensity(path), pue=1.0)


def test_pue_presets_and_bad_values():
    assert resolve_pue(None)[0] == 1.0
    assert resolve_pue("average") == (1.58, resolve_pue("average")[1])
    assert resolve_pue("1.2") == (1.2, "given by the user")
    for bad in ("-1", "0.9", "warm"):
        with pytest.raises(PowertrainError):
            resolve_pue(bad)
    with pytest.raises(PowertrainError):
        user_intensity(-1)


def test_embodied_emissions_are_amortised_by_the_runs_share_of_the_service_life():
    hardware = {"host": "h", "memory_gb": 384, "gpu_model": "NVIDIA A100-SXM4-80GB", "gpu_count": 8}
    parts = {p.device.split(" (")[0]: p for p in hardware_parts(hardware)}
    assert parts["NVIDIA A100"].kg_co2e == pytest.approx(8 * 318)
    assert parts["memory"].kg_co2e == pytest.approx(533, rel=1e-3)
    year = embodied_for(hardware, SECONDS_PER_YEAR, lifetime_years=4)
    assert year.grams == pytest.approx((1000 + 533 + 8 * 318) * 1000 / 4, rel=1e-3)
    other = {
        p.device.split(" (")[0]: p
        for p in hardware_parts({"gpu_model": "NVIDIA H100", "gpu_count": 1})
    }
    assert other["GPU card"].kg_co2e == 150  # no published figure for this model: the generic card
    with pytest.raises(PowertrainError):
        embodied_for(hardware, 10, lifetime_years=0)


def test_a_shared_host_is_charged_only_its_share_of_the_machine():
    hardware = {"host": "vm", "memory_gb": 24}
    whole = embodied_for(hardware, 3600)
    slice_ = embodied_for(hardware, 3600, share=2 / 128)
    assert slice_.grams == pytest.approx(whole.grams * 2 / 128)
    assert "whole machine" in whole.describe() and "given by the user" in slice_.describe()
    for bad in (0, 1.5, -0.1):
        with pytest.raises(PowertrainError, match="hardware-share"):
            embodied_for(hardware, 3600, share=bad)


def test_dynamic_energy_subtracts_the_idle_baseline():
    f = footprint(
        run(energy_j=5000, duration_s=100),
        None,
        user_intensity(100),
        1.0,
        "x",
        idle={"power_w": {"cpu": 20.0}},
    )
    assert f.dynamic_energy_j == pytest.approx(5000 - 2000)
    assert f.total_g == pytest.approx(f.operational_g + f.embodied.grams)
