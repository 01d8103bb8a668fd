"""Stopping handlers: what ends the training loop, lifted out of it (Ignite's ``EarlyStopping`` is the
model). A handler is called with every ``EvalPoint`` and returns a stop reason, or None to go on; the
loop ends at the first reason. A reason is a ``Stop``: a string (what the run's ``stop_reason`` says)
that also carries the status the run ends with. A plain string ends the run as CENSORED.

The loop, and later the framework callbacks, ``track()``, the ``bound`` search strategy and prediction,
all plug handlers in here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

from powertrain.records import EvalPoint, Status

Handler = Callable[[EvalPoint], "str | None"]


class Stop(str):
    """A stop reason and the status it ends the run with."""

    status: Status

    def __new__(cls, reason: str, status: Status = Status.CENSORED) -> Stop:
        self = super().__new__(cls, reason)
        self.status = Status(status)
        return self


class Pause(Stop):
    """A stop that only pauses the run (CENSORED for now): the loop saves its whole state when it was
    given a checkpoint (``train/checkpoint.py``), so that it can be continued later where it stopped
    (a search's rung budget; a promoted run goes on)."""

    def __new__(cls, reason: str) -> Pause:
        return super().__new__(cls, reason, Status.CENSORED)


def status_of(reason: str) -> Status:
    """The status a stop reason ends a run with (CENSORED for a plain string)."""
    return getattr(reason, "status", Status.CENSORED)


class Diverged:
    """Ends the run when the mean training loss since the last evaluation is NaN or infinite."""

    def __call__(self, point: EvalPoint) -> Stop | None:
        loss = point.train_loss
        if loss is not None and not math.isfinite(loss):
            return Stop(f"loss became {loss} at step {point.step}", Status.DIVERGED)
        return None


class TargetReached:
    """Ends the run when the validation accuracy of every task reaches its target."""

    def __init__(self, targets: Mapping[str, float]) -> None:
        self.targets = dict(targets)

    def reached(self, accuracies: Mapping[str, float]) -> bool:
        return all(accuracies[task] >= target for task, target in self.targets.items())

    def __call__(self, point: EvalPoint) -> Stop | None:
        if self.reached(point.task_accuracies):
            return Stop(f"every target reached at step {point.step}", Status.REACHED)
        return None


class MaxTime:
    """Ends the run (censored) once it has trained for ``max_time_s`` seconds."""

    def __init__(self, max_time_s: float) -> None:
        if not (math.isfinite(max_time_s) and max_time_s > 0):
            raise ValueError(f"max_time_s must be a positive number of seconds, got {max_time_s}")
        self.max_time_s = max_time_s

    def __call__(self, point: EvalPoint) -> Stop | None:
        if point.elapsed_s >= self.max_time_s:
            return Stop(f"max_time_s ({self.max_time_s}) reached", Status.CENSORED)
        return None


class MaxEnergy:
    """Ends the run (censored) once it has spent ``max_energy_j`` joules, all components together."""

    def __init__(self, max_energy_j: float) -> None:
        if not (math.isfinite(max_energy_j) and max_energy_j > 0):
            raise ValueError(
                f"max_energy_j must be a positive number of joules, got {max_energy_j}"
            )
        self.max_energy_j = max_energy_j

    def __call__(self, point: EvalPoint) -> Stop | None:
        if point.total_energy_j >= self.max_energy_j:
            return Stop(f"max_energy_j ({self.max_energy_j}) reached", Status.CENSORED)
        return None


def first_stop(handlers: Iterable[Handler], point: EvalPoint) -> str | None:
    """The first handler's reason to stop at ``point``, or None."""
    for handler in handlers:
        reason = handler(point)
        if reason is not None:
            return reason
    return None
