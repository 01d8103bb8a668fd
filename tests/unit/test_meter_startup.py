"""Starting a measurement does only the work that can change: entry points are read once per path and
without importlib.metadata, a machine without an NVIDIA driver is told so without importing pynvml,
and the CPU table is matched without compiling its patterns. (The time it takes is measured in
benchmarks/meter_startup.py; these check the behaviour.)"""

from __future__ import annotations

import subprocess
import sys

from powertrain import entry_points as ep
from powertrain.meters.cpu_table import lookup_cpu_profile
from powertrain.meters.nvml import library_missing
from tests.unit.test_registry import plugin  # noqa: F401 - fixture


def test_detection_in_a_fresh_process_imports_neither_metadata_nor_an_absent_driver():
    code = (
        "import sys\n"
        "from powertrain.meters.detect import detect_meters\n"
        "detect_meters().close()\n"
        "print('importlib.metadata' in sys.modules, 'pynvml' in sys.modules, 'statistics' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    metadata, pynvml, statistics = out.stdout.split()
    assert metadata == "False"
    assert pynvml == str(library_missing() is None)  # imported only where the library loads
    assert statistics == "False"


def test_the_scan_finds_what_importlib_metadata_finds_for_powertrain_groups(plugin):  # noqa: F811
    from importlib.metadata import distributions

    groups = ("powertrain.meters", "powertrain.models", "powertrain.datasets")
    theirs = {
        (e.group, e.name, e.value, d.metadata["Name"])
        for d in distributions()
        for e in d.entry_points
        if e.group in groups
    }
    ours = {(p.group, p.name, p.value, p.package) for g in groups for p in ep.entry_points(g)}
    assert ours == theirs and any(p[3] == "fake-powertrain-plugin" for p in ours)


def test_entry_points_are_read_once_per_path(plugin, monkeypatch):  # noqa: F811
    ep._scan.cache_clear()
    ep.entry_points("powertrain.meters")
    ep.entry_points("powertrain.models")
    assert ep._scan.cache_info().misses == 1
    monkeypatch.syspath_prepend(str(plugin / "elsewhere"))
    ep.entry_points("powertrain.meters")
    assert ep._scan.cache_info().misses == 2  # a changed path is read afresh


def test_an_extra_and_a_dotted_attribute_load(tmp_path, monkeypatch):
    (tmp_path / "dotted_plugin.py").write_text("class Box:\n    class Inner:\n        x = 7\n")
    info = tmp_path / "dotted_plugin-0.1.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text(
        "[console_scripts]\nx = y:z\n\n[powertrain.meters]\nbox = dotted_plugin:Box.Inner [gpu]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    [point] = ep.entry_points("powertrain.meters")
    assert (
        point.package == "dotted_plugin" and point.load().x == 7
    )  # no METADATA: the folder's name


def test_the_cpu_table_matches_literal_rows_and_its_pattern_row_alike():
    assert lookup_cpu_profile("AMD EPYC 7763 64-Core Processor").model == "AMD EPYC 7763"
    assert lookup_cpu_profile("amd epyc 7763").model == "AMD EPYC 7763"  # case ignored
    assert "hypervisor" in lookup_cpu_profile("AMD EPYC").model  # the ^...$ row
    assert lookup_cpu_profile("AMD EPYC Processor").source.startswith("no table row")
