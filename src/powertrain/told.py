"""The line a script prints to tell ``powertrain run`` an evaluation, ``POWERTRAIN {json}``, and
``tell()``, which prints it. Imported by users' scripts: standard library only. Every value is
checked at the call, so a line ``tell()`` prints is one that ``command.parse_line`` reads back."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

from powertrain.errors import PowertrainError

PREFIX = "POWERTRAIN "
#: Keys a POWERTRAIN line may carry besides the metric, and the EvalPoint fields they fill.
OPTIONAL_KEYS = {"step": int, "epoch": float, "samples_seen": int, "train_loss": float}


def tell(step: int | None = None, **metrics: float) -> None:
    """Report one evaluation to powertrain from a script it runs: prints ``POWERTRAIN {json}`` and
    flushes. ``tell(step=120, val_acc=0.87)``; optional: epoch, samples_seen, train_loss (a NaN or
    infinite train_loss says the training diverged). A value the line could not carry as given is
    refused here, at the call, not later by the line's reader."""
    if not metrics:
        raise PowertrainError("tell() needs a metric, e.g. powertrain.tell(step=120, val_acc=0.87)")
    told = {} if step is None else {"step": step}
    payload: dict[str, Any] = {}
    for name, value in {**told, **metrics}.items():
        if OPTIONAL_KEYS.get(name) is int:
            payload[name] = _told_count(name, value)
        else:
            payload[name] = _told_number(name, value)
    print(PREFIX + json.dumps(payload), flush=True)


def _told_count(name: str, value: Any) -> int:
    """A step or a number of samples: a whole number, 0 or more (``3.0`` is 3; ``2.7`` is refused)."""
    whole = None
    if not isinstance(value, bool):
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            number = float(value)
            if number.is_integer():
                whole = int(number)
    if whole is None or whole < 0:
        raise PowertrainError(
            f"tell(): {name}={value!r} is not a whole number, 0 or more; pass e.g. {name}=120"
        )
    return whole


def _told_number(name: str, value: Any) -> float:
    """A metric: a finite number (not a bool); a non-finite train_loss says the run diverged."""
    number = None
    if not isinstance(value, (bool, str, bytes)):
        with contextlib.suppress(TypeError, ValueError):
            number = float(value)
    if number is None:
        raise PowertrainError(
            f"tell(): {name}={value!r} is not a number; pass a float, e.g. {name}=0.87"
        )
    if not math.isfinite(number) and name != "train_loss":
        raise PowertrainError(
            f"tell(): {name}={value!r} is not a finite number; pass a finite float, e.g. "
            f"{name}=0.87 (a NaN train_loss is how a script says its training diverged)"
        )
    return number
