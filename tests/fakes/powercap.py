"""Builds powercap trees in a temporary folder, laid out as /sys/class/powercap is.

The class folder holds every zone, sub-zones too, at its top level; each zone has ``name``,
``energy_uj`` and ``max_energy_range_uj`` (``None``: the file is missing), and may state power limits
(``constraint_N_power_limit_uw``, ``constraint_N_max_power_uw``). Intel packages have ``core``, ``uncore`` and ``dram``
sub-zones and may have a ``psys`` zone; AMD Zen has packages with ``core`` sub-zones and no DRAM zone.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_RANGE_UJ = 262_143_328_850  # what Intel client and server parts report


class PowercapTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def zone(
        self,
        dirname: str,
        name: str,
        energy_uj: int = 0,
        max_range_uj: int | None = MAX_RANGE_UJ,
        power_limits_w: tuple[float, ...] = (),
    ) -> Path:
        path = self.root / dirname
        path.mkdir()
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text(f"{energy_uj}\n")
        if max_range_uj is not None:
            (path / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        self.set_power_limits(dirname, *power_limits_w)
        return path

    def set_power_limits(self, dirname: str, *limits_w: float) -> None:
        """Long-term, short-term, ... power limits, as RAPL's constraint files state them."""
        for i, limit_w in enumerate(limits_w):
            file = self.root / dirname / f"constraint_{i}_power_limit_uw"
            file.write_text(f"{round(limit_w * 1e6)}\n")

    def set_energy(self, dirname: str, energy_uj: int) -> None:
        (self.root / dirname / "energy_uj").write_text(f"{energy_uj}\n")

    def make_unreadable(self, dirname: str) -> None:
        os.chmod(self.root / dirname / "energy_uj", 0o000)


def intel_tree(root: Path, packages: int = 1, psys: bool = True) -> PowercapTree:
    tree = PowercapTree(root)
    for p in range(packages):
        tree.zone(f"intel-rapl:{p}", f"package-{p}")
        tree.zone(f"intel-rapl:{p}:0", "core")
        tree.zone(f"intel-rapl:{p}:1", "uncore")
        tree.zone(f"intel-rapl:{p}:2", "dram")
    if psys:
        tree.zone(f"intel-rapl:{packages}", "psys")
    tree.zone("intel-rapl-mmio:0", "package-0")
    return tree


def amd_tree(root: Path, packages: int = 1) -> PowercapTree:
    tree = PowercapTree(root)
    for p in range(packages):
        tree.zone(f"intel-rapl:{p}", f"package-{p}")
        tree.zone(f"intel-rapl:{p}:0", "core")
    return tree
