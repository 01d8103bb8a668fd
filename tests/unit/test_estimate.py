from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.meters.base import Method
from powertrain.meters.cpu_table import lookup_cpu_profile
from powertrain.meters.estimate import (
    RAM_WATTS_PER_GB,
    EstimateCpuMeter,
    EstimateRamMeter,
    ProcessTree,
)
from tests.fakes.meters import ScriptedTree


def test_cpu_table_matches_a_known_model():
    profile = lookup_cpu_profile("AMD EPYC 7763 64-Core Processor")
    assert profile.model == "AMD EPYC 7763"
    assert profile.watts_per_cpu_s == pytest.approx(280 / 128)
    assert "AMD" in profile.source


def test_unknown_cpu_falls_back_to_the_table_median_and_says_so():
    profile = lookup_cpu_profile("Imaginary CPU 9000")
    assert "no table row matches" in profile.source
    assert 0.5 < profile.watts_per_cpu_s < 20


def test_users_own_tdp_wins():
    profile = lookup_cpu_profile("AMD EPYC 7763", tdp_w=100, threads=4)
    assert profile.watts_per_cpu_s == 25 and profile.source == "given by the user"
    with pytest.raises(PowertrainError):
        lookup_cpu_profile(tdp_w=-5)


def test_same_cpu_seconds_give_the_same_estimate_with_every_assumption_written_down():
    results = []
    for _ in range(2):
        tree = ScriptedTree(cpu_time_s=10.0)
        meter = EstimateCpuMeter(lookup_cpu_profile("AMD EPYC 7763"), tree=tree)
        tree.cpu_s = 14.0
        results.append(meter.energy_j())
    assert results[0] == results[1] == pytest.approx(4.0 * 280 / 128)
    details = meter.provenance.details
    assert meter.provenance.method is Method.ESTIMATE and meter.provenance.estimated
    assert {"model", "tdp_w", "threads", "watts_per_cpu_s", "source", "matched"} <= set(details)


def test_ram_estimate_integrates_resident_memory_over_time(clock):
    tree = ScriptedTree(rss_bytes=int(8e9))
    meter = EstimateRamMeter(tree=tree, clock=clock)
    clock.advance(10.0)
    assert meter.energy_j() == pytest.approx(8 * RAM_WATTS_PER_GB * 10)
    assert meter.provenance.estimated


def test_process_tree_counts_children_and_never_goes_down():
    import subprocess
    import sys

    tree = ProcessTree()
    before = tree.cpu_time_s()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    after = tree.cpu_time_s()
    assert after - before > 0.1  # the child's CPU time, counted once it was waited for
    assert tree.cpu_time_s() >= after
