from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from powertrain.meters.base import Component, MeterError, Method
from powertrain.meters.detect import detect_meters
from powertrain.meters.rapl import RaplMeter, find_zones
from tests.fakes.powercap import PowercapTree, amd_tree, intel_tree


def test_intel_layout_counts_packages_for_cpu_and_dram_for_ram_without_double_counting(tmp_path):
    tree = intel_tree(tmp_path, packages=2)
    zones = find_zones(tmp_path)
    assert [z.name for z in zones[Component.CPU]] == ["package-0", "package-1"]
    assert [z.name for z in zones[Component.RAM]] == ["dram", "dram"]

    cpu, ram = RaplMeter(Component.CPU, root=tmp_path), RaplMeter(Component.RAM, root=tmp_path)
    for name in ("intel-rapl:0", "intel-rapl:1"):
        tree.set_energy(name, 5_000_000)
    for name in ("intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:2", "intel-rapl-mmio:0"):
        tree.set_energy(name, 99_000_000)  # core, uncore, psys, mmio: must not be added
    tree.set_energy("intel-rapl:0:2", 1_000_000)
    assert cpu.energy_j() == pytest.approx(10.0)
    assert ram.energy_j() == pytest.approx(1.0)
    assert cpu.provenance.method is Method.COUNTER and not cpu.provenance.estimated


def test_amd_layout_has_packages_and_no_dram(tmp_path):
    amd_tree(tmp_path, packages=1)
    zones = find_zones(tmp_path)
    assert [z.name for z in zones[Component.CPU]] == ["package-0"]
    assert Component.RAM not in zones
    with pytest.raises(MeterError, match="no RAPL dram zone"):
        RaplMeter(Component.RAM, root=tmp_path)


def test_subzones_nested_inside_their_package_folder_are_found(tmp_path):
    tree = PowercapTree(tmp_path)
    package = tree.zone("intel-rapl:0", "package-0")
    PowercapTree(package).zone("intel-rapl:0:0", "dram")
    assert [z.name for z in find_zones(tmp_path)[Component.RAM]] == ["dram"]


def test_wraparound_during_a_window_adds_the_range_back(tmp_path):
    tree = amd_tree(tmp_path)
    max_uj = 1_000_000_000
    (tmp_path / "intel-rapl:0" / "max_energy_range_uj").write_text(f"{max_uj}\n")
    tree.set_energy("intel-rapl:0", max_uj - 2_000_000)
    meter = RaplMeter(Component.CPU, root=tmp_path)
    tree.set_energy("intel-rapl:0", 3_000_000)  # went past the top and wrapped
    assert meter.energy_j() == pytest.approx(5.0)
    assert meter.wraps == 1
    tree.set_energy("intel-rapl:0", 4_000_000)
    assert meter.energy_j() == pytest.approx(6.0)


def test_root_comes_from_the_environment(tmp_path, monkeypatch):
    amd_tree(tmp_path)
    monkeypatch.setenv("POWERTRAIN_POWERCAP_ROOT", str(tmp_path))
    detection = detect_meters(["rapl"])
    assert detection.meters[Component.CPU].provenance.details["root"] == str(tmp_path)


def _error_as_nobody(root: Path) -> str:
    """Open the meter in a forked child that dropped root, as most users run; return its error."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        message = "no error"
        try:
            os.setgid(65534)
            os.setuid(65534)
            RaplMeter(Component.CPU, root=root)
        except MeterError as exc:
            message = str(exc)
        finally:
            os.write(write_end, message.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    return message


def test_unreadable_counter_says_how_to_fix_it():
    root = Path(tempfile.mkdtemp())
    try:
        os.chmod(root, 0o755)
        tree = amd_tree(root / "powercap")
        os.chmod(root / "powercap" / "intel-rapl:0" / "energy_uj", 0o400)  # as since Linux 5.10
        if os.geteuid() == 0:  # root reads anything
            message = _error_as_nobody(tree.root)
        else:
            with pytest.raises(MeterError) as info:
                RaplMeter(Component.CPU, root=tree.root)
            message = str(info.value)
        assert "permission denied" in message
        assert "root" in message and "chmod" in message
    finally:
        shutil.rmtree(root)


def test_detection_explains_a_missing_powercap_tree(tmp_path):
    detection = detect_meters(["rapl", "estimate"], powercap_root=tmp_path / "absent")
    assert detection.meters[Component.CPU].name == "estimate"
    reasons = {(u.backend, u.component): u.reason for u in detection.unavailable}
    assert "no RAPL package zone" in reasons[("rapl", Component.CPU)]
