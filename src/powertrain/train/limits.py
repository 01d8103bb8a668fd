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
#: A pricing window's priced part (after its warm-up) lasts at least this many of its meters'
#: updates, past its steps if need be: NVML's counter moves every 100 ms, so a span of few of them
#: is priced from a handful of its steps. On an H200 (``benchmarks/device_checks.py``, series: the
#: counter after every step of two 15-s jobs, 130 and 505 W), windows cut from the steady part were
#: off its steady power by at most 3.6 % in 9 of 10 at 2 s (5.5 % the worst), 7.2 % at 1 s (12 %),
#: 23 % at 0.2 s (52 %). 20 updates: 2 s of NVML's counter; nothing for meters read at every step.
MIN_PRICED_UPDATES = 20


@dataclass(frozen=True)
class WindowPause:
    """Where a run with no evaluation yet pauses for its pricing window: after step ``at`` of the
    ``first`` to its first evaluation, once its priced part has lasted ``min_priced_s`` (later, if
    need be; the first evaluation, if it comes first, ends the window instead). The steps after
    ``warmup`` are priced; the first ``warmup`` are not."""

    at: int
    first: int
    min_priced_s: float = 0.0

    @property
    def warmup(self) -> int:
        return self.at // WARMUP_PARTS

    def stop(self, step: int) -> Stop:
        """The pause after ``step``."""
        why = f"priced over its first {step} of the {self.first} steps to its first evaluation"
        return Stop(Verdict.RUNG_PAUSE, f"{why} {PAUSED_NOTE}")


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

    def window_pause(self, steps_per_epoch: int, min_priced_s: float = 0.0) -> WindowPause | None:
        """Where a run with no evaluation yet pauses for its pricing window: after
        ``max(1, ceil(window * first_due))`` steps, its priced part lasting ``min_priced_s`` at
        least; None without a window, or where the window would not end before the first
        evaluation (that evaluation then ends it, through the search's energy budget)."""
        if self.window is None:
            return None
        first = self.first_due(steps_per_epoch)
        at = max(1, math.ceil(self.window * first))
        return WindowPause(at, first, min_priced_s) if at < first else None

    def reached(self, accuracies: dict[str, float]) -> bool:
        return TargetReached(self.targets).reached(accuracies)

    def handlers(self) -> list[Handler]:
        """The stopping handlers these limits stand for: divergence, the targets, the time limit."""
        handlers: list[Handler] = [Diverged(), TargetReached(self.targets)]
        if self.max_time_s is not None:
            handlers.append(MaxTime(self.max_time_s))
        return handlers
