"""Stopping handlers: what ends a tracked run, shared by ``track()`` and the framework callbacks.

The contract (the same as the built-in loop's, issue 9): a handler is called with each ``EvalPoint`` and
returns a stop reason (a sentence) or None to go on. Its ``status`` attribute says how a run it stops
ends (REACHED, DIVERGED; a handler without one ends the run as CENSORED, like a limit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from powertrain.records import DIVERGED, REACHED, EvalPoint


class TargetReached:
    """Stops at the first evaluation where every task's accuracy reaches its target."""

    status = REACHED

    def __init__(self, targets: Mapping[str, float]) -> None:
        self.targets = dict(targets)

    def __call__(self, point: EvalPoint) -> str | None:
        if all(point.task_accuracies[task] >= t for task, t in self.targets.items()):
            return f"every target reached at step {point.step}"
        return None


class NonFiniteLoss:
    """Stops when the training loss passed with an evaluation is NaN or infinite."""

    status = DIVERGED

    def __call__(self, point: EvalPoint) -> str | None:
        loss = point.train_loss
        if loss is not None and not math.isfinite(loss):
            return f"loss became {loss} at step {point.step}"
        return None
