"""Reading a hardware energy counter between two reads: a wrap, a reset, or a bad reading.

A counter that goes down has either wrapped past its range (RAPL's ``max_energy_range_uj``), been reset
(a driver reload, a firmware restart), or answered something that cannot be true. A wrap is taken only
when the range is known and the energy the wrap implies fits in the time since the last read at the
zone's largest power (physics: in ``elapsed_s`` a zone cannot use more than that). Any other drop is a
fault, whatever the bound would allow: a counter read after a reset is not known to have restarted at
zero (nor to have been reset at the read before), so the interval's energy is unknown; it is left out,
and noted. A jump upwards beyond what the zone can draw is a bad reading, left out and noted too. Every
case but a plain step or a wrap comes back with a note, which the meter keeps as a fault on the figure
(``Meter.note_fault``): the figure is then a lower bound, and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Reads are timestamped a little apart from the counter's own update (RAPL every ~1 ms, NVML every
#: few tens of ms), and a counter may lag: this much time at full power is always allowed.
SLACK_S = 1.0
#: Power above the zone's stated maximum that a counter may show over a short interval (turbo, spikes).
POWER_MARGIN = 2.0


@dataclass(frozen=True)
class CounterSpec:
    """What is known about one counter: its name, units per joule, range and power bound."""

    label: str  # e.g. "intel-rapl:0 (package-0)"
    units_per_j: float  # 1e6 for microjoules, 1e3 for millijoules
    max_power_w: float  # the most the zone can draw (its limit, or a generous bound)
    range_units: int = 0  # where the counter wraps to zero; 0: it does not, or it is unknown

    def bound_units(self, elapsed_s: float) -> float:
        """The most the counter can advance in ``elapsed_s``: time (with slack) x power x margin."""
        seconds = max(elapsed_s, 0.0) + SLACK_S
        return seconds * self.max_power_w * POWER_MARGIN * self.units_per_j


@dataclass(frozen=True)
class Step:
    """What one read adds: ``delta_units`` (never negative) and a note when it was not a plain step."""

    delta_units: int | float
    note: str | None = None
    wrapped: bool = False


def counter_step(spec: CounterSpec, last: int, now: int, elapsed_s: float) -> Step:
    """The energy between two reads of a counter, told apart from resets and bad readings."""
    bound = spec.bound_units(elapsed_s)
    if now >= last:
        delta = now - last
        if delta <= bound:
            return Step(delta)
        return Step(
            0,
            f"{spec.label}: counter jumped by {_j(spec, delta)} in {elapsed_s:.3g} s, more than the "
            f"zone can draw ({_w(spec)}); a bad reading, that interval not counted",
        )
    if spec.range_units > 0 and last <= spec.range_units:
        wrapped = spec.range_units - last + now
        if wrapped <= bound:
            return Step(wrapped, wrapped=True)
    what = (
        f"{spec.label}: counter went from {_j(spec, last)} to {_j(spec, now)} in {elapsed_s:.3g} s"
    )
    if spec.range_units <= 0:
        why = "its range is unknown, so it cannot have wrapped"
    else:
        why = (
            f"not a wrap (that would be {_j(spec, spec.range_units - last + now)}, "
            f"more than the zone can draw at {_w(spec)})"
        )
    # A reset (a driver reload, a firmware restart) need not restart at zero, and a bad reading looks
    # the same: what was used in the interval is unknown, whatever the bound would allow.
    return Step(
        0,
        f"{what}: {why}; a reset or a bad reading, and a counter need not restart at zero, so "
        f"the energy of that interval is unknown and not counted",
    )


def _j(spec: CounterSpec, units: float) -> str:
    return f"{units / spec.units_per_j:,.3f} J"


def _w(spec: CounterSpec) -> str:
    return f"{spec.max_power_w:g} W x {POWER_MARGIN:g}"


def finite_power_w(value: float | None) -> float | None:
    """A power figure if it is finite and positive, else None."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None
