"""What a search strategy is: one piece of decision logic used alike by simulation and live search.

- ``next_runs(history) -> list[Start]``: which (setup, seed) to start or continue next; empty when the
  search is done (the driver then confirms the pick).
- ``stop(history, trial, point) -> Stop | None``: after each evaluation of a running trial, whether to
  stop it now (a ``Stop`` whose verdict says it was the search: ``Verdict.SEARCH_BOUND``), or None.
  ``handler(history, trial)`` turns it into a stopping handler (``handler(point) -> Stop | None``) for
  the training loop.
- ``candidates(history) -> list[str]``: the setups it would pick, best first.

The strategies themselves are in ``strategies.py`` (and ``optuna_strategy.py``); the pieces they share
(the bound, the settings' checks) are here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from powertrain.errors import PowertrainError
from powertrain.records import EvalPoint, Verdict
from powertrain.search.space import History, Start, Trial
from powertrain.train.stopping import Stop


class Strategy:
    name = "strategy"
    confirm = True  # whether the pick is confirmed on the setup's seeds after the search
    finalists = 1  # how many of its best candidates are confirmed, the lowest mean then picked
    tuned_on: tuple[str, ...] = ("paper-grid",)  # studies its default settings were chosen on

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def next_runs(self, history: History) -> list[Start]:
        raise NotImplementedError

    def stop(self, history: History, trial: Trial, point: EvalPoint) -> Stop | None:
        return None

    def handler(self, history: History, trial: Trial) -> Callable[[EvalPoint], Stop | None]:
        return lambda point: self.stop(history, trial, point)

    def seed_order(self, history: History, setup: str) -> tuple[int, ...]:
        """The setup's seeds in the order the search ran them: the confirmation takes its first."""
        return history.space.seeds[setup]

    def candidates(self, history: History) -> list[str]:
        """Setups every seed of which reached the target, by mean energy-to-target; then setups with
        some seed that reached it, by the mean over those seeds."""
        complete = {
            s: m for s in history.space.setups if (m := history.setup_mean_j(s)) is not None
        }
        partial = {
            s: sum(v) / len(v) for s, v in history.reached_by_setup().items() if s not in complete
        }
        return sorted(complete, key=complete.get) + sorted(partial, key=partial.get)


def joules(energy_j: float) -> str:
    """``12.0 J``; below 1 J three significant figures (``0.0412 J``), not ``0.0 J``."""
    return f"{energy_j:.1f} J" if abs(energy_j) >= 1 else f"{energy_j:.3g} J"


def bound_stop(energy_j: float, limit_j: float, beta: float, what: str) -> Stop | None:
    """Stop a run whose energy passed ``beta`` x ``what`` (``limit_j``, the bound)."""
    if energy_j > limit_j:
        reason = f"bound: {joules(energy_j)} passed {beta:g} x {what} ({joules(limit_j / beta)})"
        return Stop(Verdict.SEARCH_BOUND, reason)
    return None


def best_run_stop(history: History, point: EvalPoint, beta: float | None) -> Stop | None:
    """Zeus's rule: stop a run once its energy passes ``beta`` x the best energy-to-target so far."""
    best = history.best_run_j()
    if beta is None or best is None:
        return None
    return bound_stop(point.total_energy_j, beta * best, beta, "the best run's")


def next_seed(history: History, setup: str) -> int | None:
    """The setup's first seed not started yet, or None."""
    return next((s for s in history.space.seeds[setup] if history.trial(setup, s) is None), None)


def count_setting(name: str, value: float, most: int = 100) -> int:
    """A setting that counts something: a whole number from 1 to ``most``."""
    if not (isinstance(value, int | float) and value == int(value) and 1 <= value <= most):
        raise PowertrainError(f"{name} must be a whole number from 1 to {most}, got {value}")
    return int(value)


def at_least_one(name: str, value: float) -> float:
    """A factor such as ``beta``: finite, at least 1."""
    if not (math.isfinite(value) and value >= 1):
        raise PowertrainError(f"{name} must be a finite number >= 1, got {value}")
    return float(value)
