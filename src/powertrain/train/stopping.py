"""Stopping handlers: what ends the training loop, lifted out of it (Ignite's ``EarlyStopping`` is the
model). A handler is called with every ``EvalPoint`` and returns a ``Stop``, or None to go on; the loop
ends at the first. A ``Stop`` is a typed ``Verdict`` (why: it gives the status the run ends with and is
stored in its own column) and its reason in words (the run's ``stop_reason``). A handler of the caller's
may return a plain string instead: it ends the run CENSORED, ``Verdict.HANDLER``.

The loop, and later the framework callbacks, ``track()``, the ``bound`` search strategy and prediction,
all plug handlers in here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from powertrain.records import EvalPoint, Status, Verdict

Handler = Callable[[EvalPoint], "Stop | str | None"]


#: In the reason of a run a search paused: continued if the search promotes it, which the search's
#: end rewrites to "(not promoted)" where it did not.
PAUSED_NOTE = "(paused; continued if promoted)"


@dataclass(frozen=True)
class Stop:
    """Why the loop stops (``verdict``) and the details in words (``reason``)."""

    verdict: Verdict
    reason: str

    @property
    def status(self) -> Status:
        return self.verdict.status

    @property
    def pauses(self) -> bool:
        """Whether it only pauses the run (a search's rung budget; CENSORED for now): the loop saves
        its whole state when it was given a checkpoint (``train/checkpoint.py``), so that a promoted
        run goes on where it stopped."""
        return self.verdict is Verdict.RUNG_PAUSE

    def __str__(self) -> str:
        return self.reason


def as_stop(reason: Stop | str) -> Stop:
    """A handler's answer as a ``Stop`` (a plain string of the caller's: ``Verdict.HANDLER``)."""
    return reason if isinstance(reason, Stop) else Stop(Verdict.HANDLER, str(reason))


def status_of(reason: Stop | str) -> Status:
    """The status a handler's answer ends a run with."""
    return as_stop(reason).status


class Diverged:
    """Ends the run when the mean training loss since the last evaluation is NaN or infinite."""

    def __call__(self, point: EvalPoint) -> Stop | None:
        loss = point.train_loss
        if loss is not None and not math.isfinite(loss):
            return Stop(Verdict.DIVERGED, f"loss became {loss} at step {point.step}")
        return None


class TargetReached:
    """Ends the run when the validation accuracy of every task reaches its target."""

    def __init__(self, targets: Mapping[str, float]) -> None:
        self.targets = dict(targets)

    def reached(self, accuracies: Mapping[str, float]) -> bool:
        return all(accuracies[task] >= target for task, target in self.targets.items())

    def __call__(self, point: EvalPoint) -> Stop | None:
        if self.reached(point.task_accuracies):
            return Stop(Verdict.TARGET, f"every target reached at step {point.step}")
        return None


class MaxTime:
    """Ends the run (censored) once it has trained for ``max_time_s`` seconds."""

    def __init__(self, max_time_s: float) -> None:
        if not (math.isfinite(max_time_s) and max_time_s > 0):
            raise ValueError(f"max_time_s must be a positive number of seconds, got {max_time_s}")
        self.max_time_s = max_time_s

    def __call__(self, point: EvalPoint) -> Stop | None:
        if point.elapsed_s >= self.max_time_s:
            return Stop(Verdict.MAX_TIME, f"max_time_s ({self.max_time_s}) reached")
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
            return Stop(Verdict.MAX_ENERGY, f"max_energy_j ({self.max_energy_j}) reached")
        return None


def first_stop(handlers: Iterable[Handler], point: EvalPoint) -> Stop | None:
    """The first handler's reason to stop at ``point``, or None."""
    for handler in handlers:
        reason = handler(point)
        if reason is not None:
            return as_stop(reason)
    return None
