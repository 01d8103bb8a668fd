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
        """What the option takes, e.g. ``positive and finite (s)``."""
        clauses = ["a whole number"] if self.integer else []
        low, high = self.minimum, self.maximum
        if low is not None:
            if low == 0:
                clauses.append("positive" if self.exclusive_min else "zero or more")
            else:
                clauses.append(f"more than {low:g}" if self.exclusive_min else f"at least {low:g}")
        if high is not None:
            clauses.append(f"at most {high:g}")
        if not self.integer:
            clauses.append("finite")
        listed = ", ".join(clauses[:-1]) + " and " + clauses[-1] if len(clauses) > 1 else clauses[0]
        return listed + (f" ({self.unit})" if self.unit else "")

    def convert(self, value: Any, param, ctx) -> float | int:
        try:
            return check_number(value, self, _option(param))
        except ValueError as exc:
            raise OptionError(str(exc), ctx, param) from None

    def __repr__(self) -> str:
        return f"Number({self.describe()})"


class OptionError(click.BadParameter):
    """A bad option value whose message names the option; ``main`` prints it as one line."""


def _option(param) -> str:
    opts = getattr(param, "opts", None)
    return opts[0] if opts else "the value"


def check_number(value: Any, kind: Number, what: str) -> float | int:
    """``value`` as a number that fits ``kind``; ValueError saying what was wrong otherwise, e.g.
    ``--interval must be positive and finite (s), got 'nan'``."""
    problem = f"{what} must be {kind.describe()}, got {value!r}"
    try:
        number = float(value) if not isinstance(value, (int, float)) else value
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if isinstance(number, bool) or not math.isfinite(number):
        raise ValueError(problem)
    if kind.integer:
        if float(number) != int(number):
            raise ValueError(problem)
        number = int(number)
    low, high = kind.minimum, kind.maximum
    too_low = low is not None and (number <= low if kind.exclusive_min else number < low)
    if too_low or (high is not None and number > high):
        raise ValueError(problem)
    return number if kind.integer else float(number)


#: The numbers the commands take, one declaration each.
SECONDS = Number("s", minimum=0, exclusive_min=True)
WATTS = Number("W", minimum=0, exclusive_min=True)
G_PER_KWH = Number("g CO2e per kWh", minimum=0)
YEARS = Number("years", minimum=0, exclusive_min=True)
FRACTION = Number("a fraction of the machine", minimum=0, maximum=1, exclusive_min=True)
ACCURACY = Number("a validation accuracy, 0-1", minimum=0, maximum=1, exclusive_min=True)
COUNT = Number("", minimum=0, integer=True)
POSITIVE_COUNT = Number("", minimum=1, integer=True)


class Pue(click.ParamType):
    """A PUE: a preset name, or a finite number >= 1 (facility energy over IT energy)."""

    name = "pue"

    def convert(self, value: Any, param, ctx) -> str | float:
        from powertrain.carbon.pue import MAX_PUE, PRESETS

        if isinstance(value, str) and value in PRESETS:
            return value
        kind = Number("facility energy over IT energy", minimum=1, maximum=MAX_PUE)
        try:
            return check_number(value, kind, _option(param))
        except ValueError as exc:
            raise OptionError(f"{exc}; or one of {', '.join(PRESETS)}", ctx, param) from None


class OutputFile(click.ParamType):
    """A file to write: not a folder, its folder exists and may be written in."""

    name = "file"

    def convert(self, value: Any, param, ctx) -> str:
        path, option = Path(value), _option(param)
        parent = path.parent
        if path.is_dir():
            problem = f"{value} is a folder; give a file name inside it"
        elif not parent.exists():
            problem = f"the folder {parent} does not exist; create it first"
        elif not parent.is_dir():
            problem = f"{parent} is not a folder"
        elif not os.access(parent, os.W_OK | os.X_OK) or (
            path.exists() and not os.access(path, os.W_OK)
        ):
            problem = f"{value} cannot be written: permission denied"
        else:
            return str(value)
        raise OptionError(f"{option}: {problem}", ctx, param)


class StorePath(click.ParamType):
    """A results store: a file (refused at once when it is a folder or its parent is a file), or a
    ``postgresql://`` URL (any other ``scheme://`` refused by name, never made into a file)."""

    name = "path|url"

    def convert(self, value: Any, param, ctx) -> str:
        from powertrain.errors import PowertrainError
        from powertrain.store.location import locate

        option = _option(param)
        if not str(value).strip():  # Path("") is the working folder: "  is a folder" said nothing
            raise OptionError(
                f"{option}: an empty path; name a store file (e.g. runs/powertrain.db) or a "
                "postgresql:// URL",
                ctx,
                param,
            )
        try:
            if locate(str(value)).is_postgres:
                return str(value)
        except PowertrainError as exc:  # its words name --db; say where this value came in
            said = str(exc)
            if said.startswith("--db ") and option != "--db":
                said = option + said[len("--db") :]
            raise OptionError(said, ctx, param) from None
        path = Path(value)
        if path.is_dir():
            raise OptionError(
                f"{option}: {value} is a folder; the results store is a file "
                "(e.g. runs/powertrain.db)",
                ctx,
                param,
            )
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OptionError(
                        f"{option}: {parent} is a file, so {value} cannot be made", ctx, param
                    )
                break
        return str(value)
