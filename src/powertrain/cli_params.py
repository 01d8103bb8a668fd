"""Click parameter types that check numbers at the edge: finite, in range, the unit in the message.

    @click.option("--interval", type=Number("s", minimum=0, exclusive_min=True))

``float("nan")`` and ``float("inf")`` parse, so click's FLOAT lets them through; a NaN then passes
every ``<`` and ``>`` check after it. ``Number`` refuses them, and anything outside its range, with one
line that names the option, what it takes and the unit.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import click


class Number(click.ParamType):
    """A finite float (or whole number with ``integer=True``) in ``[minimum, maximum]``."""

    name = "number"

    def __init__(
        self,
        unit: str = "",
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_min: bool = False,
        integer: bool = False,
    ) -> None:
        self.unit = unit
        self.minimum, self.maximum = minimum, maximum
        self.exclusive_min = exclusive_min
        self.integer = integer
        self.name = "integer" if integer else "number"

    def describe(self) -> str:
        """What the option takes, e.g. ``a number of s > 0``."""
        kind = "a whole number" if self.integer else "a number"
        unit = f" of {self.unit}" if self.unit else ""
        bounds = []
        if self.minimum is not None:
            bounds.append(f"{'>' if self.exclusive_min else '>='} {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum:g}")
        return f"{kind}{unit}" + (f" {' and '.join(bounds)}" if bounds else "")

    def convert(self, value: Any, param, ctx) -> float | int:
        try:
            number = check_number(value, self, "")
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return number

    def __repr__(self) -> str:
        return f"Number({self.describe()})"


def check_number(value: Any, kind: Number, what: str) -> float | int:
    """``value`` as a number that fits ``kind``; ValueError saying what was wrong otherwise."""
    label = f"{what}: " if what else ""
    try:
        number = float(value) if not isinstance(value, (int, float)) else value
    except (TypeError, ValueError):
        raise ValueError(f"{label}expected {kind.describe()}, got {value!r}") from None
    if isinstance(number, bool) or not math.isfinite(number):
        raise ValueError(f"{label}expected {kind.describe()}, got {value!r}")
    if kind.integer:
        if float(number) != int(number):
            raise ValueError(f"{label}expected {kind.describe()}, got {value!r}")
        number = int(number)
    low, high = kind.minimum, kind.maximum
    too_low = low is not None and (number <= low if kind.exclusive_min else number < low)
    if too_low or (high is not None and number > high):
        raise ValueError(f"{label}expected {kind.describe()}, got {value!r}")
    return number if kind.integer else float(number)


#: The numbers the commands take, one declaration each.
SECONDS = Number("s", minimum=0, exclusive_min=True)
WATTS = Number("W", minimum=0, exclusive_min=True)
G_PER_KWH = Number("g CO2e per kWh", minimum=0)
YEARS = Number("years", minimum=0, exclusive_min=True)
FRACTION = Number("the machine", minimum=0, maximum=1, exclusive_min=True)
COUNT = Number("", minimum=0, integer=True)
POSITIVE_COUNT = Number("", minimum=1, integer=True)


class Pue(click.ParamType):
    """A PUE: a preset name, or a finite number >= 1 (facility energy over IT energy)."""

    name = "pue"

    def convert(self, value: Any, param, ctx) -> str | float:
        from powertrain.carbon.pue import PRESETS

        if isinstance(value, str) and value in PRESETS:
            return value
        kind = Number("facility energy over IT energy", minimum=1)
        try:
            return check_number(value, kind, "")
        except ValueError as exc:
            self.fail(f"{exc}, or one of {', '.join(PRESETS)}", param, ctx)


class OutputFile(click.ParamType):
    """A file to write: not a folder, its folder exists (or is made) and may be written in."""

    name = "file"

    def convert(self, value: Any, param, ctx) -> str:
        path = Path(value)
        if path.is_dir():
            self.fail(f"{value} is a folder; give a file name inside it", param, ctx)
        parent = path.parent
        if not parent.exists():
            self.fail(f"the folder {parent} does not exist; create it first", param, ctx)
        if not parent.is_dir():
            self.fail(f"{parent} is not a folder", param, ctx)
        if not os.access(parent, os.W_OK | os.X_OK) or (
            path.exists() and not os.access(path, os.W_OK)
        ):
            self.fail(f"{value} cannot be written: permission denied", param, ctx)
        return str(value)


class StorePath(click.ParamType):
    """A results store's file: refused at once when it is a folder or its parent is a file."""

    name = "path"

    def convert(self, value: Any, param, ctx) -> str:
        path = Path(value)
        if path.is_dir():
            self.fail(
                f"{value} is a folder; the results store is a file (e.g. runs/powertrain.db)",
                param,
                ctx,
            )
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    self.fail(f"{parent} is a file, so {value} cannot be made", param, ctx)
                break
        return str(value)
