"""CPU package and DRAM energy from Linux powercap (RAPL), Intel and AMD.

The powercap tree (``/sys/class/powercap``) has one top-level zone per package (``intel-rapl:N``,
named ``package-N``), sometimes a ``psys`` zone (the whole SoC: package and DRAM together) and on some
servers a top-level ``dram`` zone. Sub-zones (``intel-rapl:N:M``) are ``core`` and ``uncore``, which the
package already contains, and ``dram``, which it does not. So we add packages for the CPU, ``dram``
zones for RAM, and skip ``core``, ``uncore`` and ``psys`` to count nothing twice. AMD Zen uses the same
``intel-rapl`` names and has no DRAM zone. ``intel-rapl-mmio`` zones repeat the package and are skipped.

``energy_uj`` counts up to ``max_energy_range_uj`` and wraps to zero; each read adds the difference,
adding the range back when the counter went down. Read at least once per wrap period (minutes at full
load) - the monitor's sampler does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from powertrain.meters.base import Component, Meter, MeterError, Method, Provenance

ROOT_ENV = "POWERTRAIN_POWERCAP_ROOT"
DEFAULT_ROOT = Path("/sys/class/powercap")
_ZONE_DIR = re.compile(r"^(?:intel|amd)-rapl:(\d+)(?::(\d+))?$")
_SKIPPED = ("core", "uncore", "psys")  # contained in the package, or containing it


def powercap_root(root: str | os.PathLike | None = None) -> Path:
    """The powercap root: the argument, else ``$POWERTRAIN_POWERCAP_ROOT``, else ``/sys/class/powercap``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


@dataclass(frozen=True)
class RaplZone:
    path: Path
    name: str
    max_energy_range_uj: int

    def read_energy_uj(self) -> int:
        file = self.path / "energy_uj"
        try:
            return int(file.read_text().strip())
        except PermissionError:
            raise MeterError(
                f"cannot read {file}: permission denied. Since Linux 5.10 RAPL counters are readable by "
                f"root only. Run as root, or allow reads until the next reboot with "
                f"`sudo chmod o+r {file.parent.parent}/*rapl:*/energy_uj`, "
                f"or choose another meter (--meter estimate)."
            ) from None
        except (OSError, ValueError) as exc:
            raise MeterError(f"cannot read RAPL counter {file}: {exc}") from None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def find_zones(root: str | os.PathLike | None = None) -> dict[Component, list[RaplZone]]:
    """The zones to add up, per component, without double counting (see the module docstring)."""
    base = powercap_root(root)
    if not base.is_dir():
        return {}
    # Sub-zones appear both at the root (as links) and inside their parent's folder.
    dirs: dict[str, Path] = {}
    for path in [*base.iterdir(), *(p for d in base.iterdir() if d.is_dir() for p in d.iterdir())]:
        if _ZONE_DIR.match(path.name) and path.is_dir():
            dirs.setdefault(path.name, path)
    zones: dict[Component, list[RaplZone]] = {}
    for dirname in sorted(dirs, key=_zone_sort_key):
        path = dirs[dirname]
        name = _read_text(path / "name") or ""
        if name.startswith("package"):
            component = Component.CPU
        elif name == "dram":
            component = Component.RAM
        else:  # core, uncore, psys, or a name we do not know: never guess what it contains
            continue
        max_range = _read_text(path / "max_energy_range_uj")
        if max_range is None or not max_range.isdigit():
            continue
        zones.setdefault(component, []).append(RaplZone(path, name, int(max_range)))
    return zones


def _zone_sort_key(dirname: str) -> tuple[int, int]:
    match = _ZONE_DIR.match(dirname)
    assert match
    return int(match.group(1)), int(match.group(2) or -1)


class RaplMeter(Meter):
    """The sum of one component's RAPL zones, with wraparound handled per zone."""

    name = "rapl"

    def __init__(self, component: Component, root: str | os.PathLike | None = None) -> None:
        super().__init__(component)
        self.root = powercap_root(root)
        self.zones = find_zones(self.root).get(component, [])
        if not self.zones:
            wanted = "package" if component is Component.CPU else "dram"
            raise MeterError(f"no RAPL {wanted} zone under {self.root}")
        self._last_uj = [zone.read_energy_uj() for zone in self.zones]
        self._total_uj = 0
        self.wraps = 0

    def _read_energy_j(self) -> float:
        for i, zone in enumerate(self.zones):
            now_uj = zone.read_energy_uj()
            delta_uj = now_uj - self._last_uj[i]
            if delta_uj < 0:  # the counter wrapped past max_energy_range_uj
                delta_uj += zone.max_energy_range_uj
                self.wraps += 1
            self._total_uj += delta_uj
            self._last_uj[i] = now_uj
        return self._total_uj / 1e6

    @property
    def provenance(self) -> Provenance:
        return Provenance(
            meter=self.name,
            method=Method.COUNTER,
            estimated=False,
            details={
                "root": str(self.root),
                "zones": [f"{z.path.name} ({z.name})" for z in self.zones],
            },
        )
