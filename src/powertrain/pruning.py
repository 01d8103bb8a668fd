"""Pruning inside a sweep tool (Optuna, Ray Tune) by energy, with the search strategies' own rule.

``EnergyRule`` is the decision, the same for every tool: a run is stopped once its energy passes
``beta`` x the best energy-to-target so far (``search.strategy.bound_stop``, as Zeus's, halving's and
Thompson's strategies stop a run: ``Verdict.SEARCH_BOUND``); with ``rungs=True`` also halving's rungs by energy: at each rung (``min_budget_j`` x
``eta``^r joules; ``min_budget_j`` defaults to the median energy of the runs' first evaluations) a run
goes on only while its validation accuracy at that energy (``strategies.accuracy_at``) is among the best
1/``eta`` of the runs that got there (runs that reached the target count first).

``TrialHook`` is what ``track(..., trial=...)`` plugs into the run: an observer of its points (to report
them to the tool) and a stopping handler (to ask the tool's pruner). A ``Pruned`` stop ends the run
censored with its reason in the store, and ``run.evaluate`` then raises the tool's own exception.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from powertrain.errors import PowertrainError
from powertrain.loggers.observe import RunObserver
from powertrain.records import EvalPoint, Verdict
from powertrain.search.strategies import accuracy_at
from powertrain.search.strategy import bound_stop, joules
from powertrain.train.stopping import Stop

#: One run's course: (cumulative energy in J, validation accuracy) at each evaluation.
Curve = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Pruned(Stop):
    """A stop decided by a sweep's pruner; ``error`` is the tool's exception ``evaluate`` raises."""

    error: BaseException | None = field(default=None, compare=False)


class TrialHook(RunObserver):
    """What a sweep tool's trial adds to a tracked run: it hears every point as the store records it,
    and as a stopping handler returns a ``Pruned`` stop when the tool says so."""

    def __call__(self, point: EvalPoint) -> Stop | None:
        return None

    def retries_failed(self, store, study: str, run_key: str) -> bool:
        """Whether this run is the tool's own retry of an attempt that failed (Ray Tune's
        ``max_failures``): that attempt is then replaced, not refused, as a restarted torchrun
        launch's is (``tracking/attempts.py``)."""
        return False


@dataclass(frozen=True)
class EnergyRule:
    beta: float = 1.0
    rungs: bool = False
    eta: float = 3.0
    min_budget_j: float | None = None

    def __post_init__(self) -> None:
        for name in ("beta", "eta", "min_budget_j"):
            value = getattr(self, name)
            if (value is not None or name != "min_budget_j") and not _real(value):
                raise PowertrainError(f"{name} must be a number, got {value!r}")
        if not isinstance(self.rungs, bool):
            raise PowertrainError(f"rungs must be True or False, got {self.rungs!r}")
        if not (math.isfinite(self.beta) and self.beta >= 1):
            raise PowertrainError(f"beta must be a finite number >= 1, got {self.beta}")
        if not (math.isfinite(self.eta) and self.eta > 1):
            raise PowertrainError(f"eta must be > 1, got {self.eta}")
        if self.min_budget_j is not None and not (
            math.isfinite(self.min_budget_j) and self.min_budget_j > 0
        ):
            raise PowertrainError(f"min_budget_j must be > 0 J, got {self.min_budget_j}")

    def stop(
        self, curve: Curve, best_j: float | None, others: Sequence[tuple[Curve, bool]] = ()
    ) -> Stop | None:
        """Why a run whose course so far is ``curve`` stops now, or None. ``best_j``: the best
        energy-to-target of the other runs so far; ``others``: their courses, each with whether it
        reached the target (only the rungs look at them)."""
        if not curve:
            return None
        if best_j is not None:
            stop = bound_stop(curve[-1][0], self.beta * best_j, self.beta, "the best run's")
            if stop is not None:
                return stop
        reason = self._rung_reason(curve, others) if self.rungs else None
        return None if reason is None else Stop(Verdict.HANDLER, reason)

    def budgets_j(self, curve: Curve, others: Sequence[tuple[Curve, bool]]) -> list[float]:
        """The rungs this run's energy has passed, lowest first."""
        first = self.min_budget_j
        if first is None:
            firsts = [c[0][0] for c, _ in others if c] + [curve[0][0]]
            first = statistics.median(firsts)
        budgets, budget = [], first
        while budget <= curve[-1][0] and budget > 0:
            budgets.append(budget)
            budget *= self.eta
        return budgets

    def _rung_reason(self, curve: Curve, others: Sequence[tuple[Curve, bool]]) -> str | None:
        budgets = self.budgets_j(curve, others)
        if not budgets:
            return None
        rung, budget_j = len(budgets) - 1, budgets[-1]
        there = [(c, reached) for c, reached in others if c and (reached or c[-1][0] >= budget_j)]
        if len(there) + 1 < self.eta:
            return None  # too few runs at this rung to halve them
        mine = accuracy_at(_points(curve), budget_j)
        ahead = sum(reached or accuracy_at(_points(c), budget_j) > mine for c, reached in there)
        keep = math.ceil((len(there) + 1) / self.eta)
        if ahead < keep:
            return None
        return (
            f"rung {rung} ({joules(budget_j)}): accuracy {mine:.4f} there is not among the best "
            f"{keep} of {len(there) + 1} runs"
        )


def _real(value: object) -> bool:
    """A real number (numpy's too), not a bool: ``beta=True`` is a slip, not 1."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _points(curve: Curve) -> list[EvalPoint]:
    """A course as the evaluation points the strategies' functions read."""
    return [
        EvalPoint(i, i, float(i), 0, None, accuracy, 0.0, {"total": energy_j})
        for i, (energy_j, accuracy) in enumerate(curve)
    ]
