"""The limits a run trains under: the targets, the epochs, the time, the evaluation schedule (when the
loop evaluates), and a search's pricing window (when a run with no evaluation yet pauses); and the
stopping handlers they stand for (``train/stopping.py``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from powertrain.records import Verdict
from powertrain.train.stopping import (
    PAUSED_NOTE,
    Diverged,
    Handler,
    MaxTime,
    Stop,
    TargetReached,
)

#: The share of a pricing window that is warm-up, not priced (its first steps pay the allocator,
#: autotuning, the data loader's start and a process's one-time start-up): one in five, as Zeus
#: profiles a power limit over 40 iterations after 10 of warm-up.
WARMUP_PARTS = 5


@dataclass(frozen=True)
class WindowPause:
    """Where a run with no evaluation yet pauses for its pricing window (after step ``at``), and
    the pause. The steps after ``warmup`` up to ``at`` are priced; the first ``warmup`` are not."""

    at: int
    stop: Stop

    @property
    def warmup(self) -> int:
        return self.at // WARMUP_PARTS


@dataclass(frozen=True)
class Limits:
    targets: dict[str, float]  # validation accuracy to reach, per task
    max_epochs: int
    eval_every_steps: int | None = (
        None  # None: ``evals_per_epoch`` evenly spaced evaluations per epoch
    )
    max_time_s: float | None = None
    evals_per_epoch: int = 1
    #: Pause the run, before its first evaluation, once it has trained this share of the steps to
    #: it (a search pricing a cost axis over a window, as Zeus profiles a power limit); None: never.
    window: float | None = None

    def _due_in_epoch(self, steps_per_epoch: int) -> list[int]:
        # After step_in_epoch = ceil(k * steps_per_epoch / evals_per_epoch), k = 1 ... n.
        n = self.evals_per_epoch
        return [math.ceil(k * steps_per_epoch / n) for k in range(1, n + 1)]

    def schedule(self, steps_per_epoch: int):
        """A test ``(step, step_in_epoch) -> evaluate now?``, worked out once per run."""
        if self.eval_every_steps:
            every = self.eval_every_steps
            return lambda step, step_in_epoch: step % every == 0
        due = frozenset(self._due_in_epoch(steps_per_epoch))
        return lambda step, step_in_epoch: step_in_epoch in due

    def first_due(self, steps_per_epoch: int) -> int:
        """The step of a run's first evaluation, by :meth:`schedule`'s rule."""
        if self.eval_every_steps:
            return self.eval_every_steps
        return min(self._due_in_epoch(steps_per_epoch))

    def window_pause(self, steps_per_epoch: int) -> WindowPause | None:
        """Where a run with no evaluation yet pauses for its pricing window: after
        ``max(1, ceil(window * first_due))`` steps; None without a window, or where the
        window would not end before the first evaluation (that evaluation then ends it, through
        the search's energy budget)."""
        if self.window is None:
            return None
        first = self.first_due(steps_per_epoch)
        at = max(1, math.ceil(self.window * first))
        if at >= first:
            return None
        why = f"priced over its first {at} of the {first} steps to its first evaluation"
        return WindowPause(at, Stop(Verdict.RUNG_PAUSE, f"{why} {PAUSED_NOTE}"))

    def reached(self, accuracies: dict[str, float]) -> bool:
        return TargetReached(self.targets).reached(accuracies)

    def handlers(self) -> list[Handler]:
        """The stopping handlers these limits stand for: divergence, the targets, the time limit."""
        handlers: list[Handler] = [Diverged(), TargetReached(self.targets)]
        if self.max_time_s is not None:
            handlers.append(MaxTime(self.max_time_s))
        return handlers
