"""CPU package and DRAM energy from Linux powercap (RAPL), Intel and AMD.

The powercap tree (``/sys/class/powercap``) has one top-level zone per package (``intel-rapl:N``,
named ``package-N``), sometimes a ``psys`` zone (the whole SoC: package and DRAM together) and on some
servers a top-level ``dram`` zone. Sub-zones (``intel-rapl:N:M``) are ``core`` and ``uncore``, which the
package already contains, and ``dram``, which it does not. So we add packages for the CPU, ``dram``
zones for RAM, and skip ``core``, ``uncore`` and ``psys`` to count nothing twice. AMD Zen uses the same
``intel-rapl`` names and has no DRAM zone. ``intel-rapl-mmio`` zones repeat the package and are skipped.

``energy_uj`` counts up to ``max_energy_range_uj`` and wraps to zero; each read adds the difference,
adding the range back when the counter went down by what a wrap explains (no more energy than the zone
can draw in the time between reads, from its power limits in the ``constraint_*_power_limit_uw`` /
``*_max_power_uw`` files, or a generous bound). Any other drop is a reset or a bad reading: the
interval is left out and noted as a fault on the figure (``counters.py``). A zone that states no range
(``max_energy_range_uj`` missing, unreadable or 0) is not used as a counter: a wrap there could not be
told apart from a reset. Read at least once per wrap period (minutes at full load) - the monitor's
sampler does.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from powertrain.meters.base import Component, Meter, MeterError, Method, Provenance
from powertrain.meters.counters import CounterSpec, counter_step, finite_power_w

ROOT_ENV = "POWERTRAIN_POWERCAP_ROOT"
DEFAULT_ROOT = Path("/sys/class/powercap")
_ZONE_DIR = re.compile(r"^(?:intel|amd)-rapl:(\d+)(?::(\d+))?$")
#: When a zone states no power limit: more than any one CPU package or DRAM zone draws today.
GENEROUS_MAX_POWER_W = 1000.0
_POWER_FILE = re.compile(r"^(?:constraint_\d+_(?:power_limit|max_power)|max_power(?:_range)?)_uw$")


def powercap_root(root: str | os.PathLike | None = None) -> Path:
    """The powercap root: the argument, else ``$POWERTRAIN_POWERCAP_ROOT``, else ``/sys/class/powercap``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


@dataclass(frozen=True)
class RaplZone:
    path: Path
    name: str
    max_energy_range_uj: int  # 0: missing or unreadable; RaplMeter refuses such a zone
    max_power_w: float = GENEROUS_MAX_POWER_W
    power_source: str = "no power limit stated; a generous bound"

    def spec(self) -> CounterSpec:
        return CounterSpec(
            f"{self.path.name} ({self.name})", 1e6, self.max_power_w, self.max_energy_range_uj
        )

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
        max_range = _read_text(path / "max_energy_range_uj") or ""
        max_range_uj = int(max_range) if max_range.isdigit() else 0
        power = _max_power_w(path)
        zone = RaplZone(path, name, max_range_uj)
        if power is not None:
            zone = RaplZone(path, name, max_range_uj, power[0], power[1])
        zones.setdefault(component, []).append(zone)
    return zones


def _max_power_w(path: Path) -> tuple[float, str] | None:
    """The largest power a zone states (its limits and maxima), and from which file; None if none."""
    best: tuple[float, str] | None = None
    try:
        names = sorted(p.name for p in path.iterdir() if _POWER_FILE.match(p.name))
    except OSError:
        return None
    for name in names:
        text = _read_text(path / name) or ""
        power_w = finite_power_w(int(text) / 1e6) if text.isdigit() else None
        if power_w is not None and (best is None or power_w > best[0]):
            best = (power_w, name)
    return best


def _zone_sort_key(dirname: str) -> tuple[int, int]:
    match = _ZONE_DIR.match(dirname)
    assert match
    return int(match.group(1)), int(match.group(2) or -1)


class RaplMeter(Meter):
    """The sum of one component's RAPL zones, with wraparound handled per zone."""

    name = "rapl"

    def __init__(
        self, component: Component, root: str | os.PathLike | None = None, clock=time.monotonic
    ) -> None:
        super().__init__(component)
        self.root = powercap_root(root)
        self.zones = find_zones(self.root).get(component, [])
        if not self.zones:
            wanted = "package" if component is Component.CPU else "dram"
            raise MeterError(f"no RAPL {wanted} zone under {self.root}")
        unknown = [f"{z.path.name} ({z.name})" for z in self.zones if z.max_energy_range_uj <= 0]
        if unknown:
            raise MeterError(
                f"RAPL zone {', '.join(unknown)} states no max_energy_range_uj (missing, unreadable or "
                "0): a wrap of its counter could not be told apart from a reset, so it is not used "
                "as a counter"
            )
        self._specs = [zone.spec() for zone in self.zones]
        self._clock = clock
        self._last_uj = [zone.read_energy_uj() for zone in self.zones]
        self._last_s = clock()
        self._total_uj = 0
        self.wraps = 0

    def _read_energy_j(self) -> float:
        now_s = self._clock()
        for i, zone in enumerate(self.zones):
            now_uj = zone.read_energy_uj()
            step = counter_step(self._specs[i], self._last_uj[i], now_uj, now_s - self._last_s)
            self.wraps += step.wrapped
            if step.note:
                self.note_fault(step.note)
            self._total_uj += step.delta_units
            self._last_uj[i] = now_uj
        self._last_s = now_s
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
                "max_power_w": {
                    z.path.name: f"{z.max_power_w:g} W ({z.power_source})" for z in self.zones
                },
            },
        )
