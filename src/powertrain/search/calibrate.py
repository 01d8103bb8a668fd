"""Prediction that says when it does not know: the fitted curves' errors measured on the study's own
finished runs, and the prediction corrected and widened by them (split-conformal calibration).

For the runs it is calibrated on, each predicted from its first K evaluations as the run at hand is:

- the ratio of what it really needed to what was predicted: the calibrated estimate is the
  prediction x the median ratio, its 80 % interval the prediction x the split-conformal ends of the
  ratios. Where the curves see no way to the target, the ratio of what runs needed to what they had
  spent after K evaluations stands in. With fewer than :data:`MIN_RUNS` calibration runs there is no
  interval: it does not know.
- the fitted probability of reaching the target and whether the run did: the calibrated
  probability for a run whose fitted probability is p is the share of calibration runs at or below p
  that reached the target, counted conservatively (Laplace: (reached + 1) / (runs + 2)), so a stop
  at 5 % needs at least 19 calibration runs as hopeless as this one that all missed.

On the Zeus traces the fitted curves alone were 28-54 % off after a quarter of the run, and their
stated 80 % interval held the truth in 40 % of runs (docs/search.md); the calibration is what makes the
interval's coverage hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from powertrain.records import EvalPoint
from powertrain.search.predict import PRIOR_C, LivePredictedMiss, Prediction, predict

MIN_RUNS = 8  # calibration runs needed before an interval is stated
MAX_RUNS = 40  # calibration runs used at most (each is one prediction per K)
COVERAGE = 0.8


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class CalibrationRun:
    points: list[EvalPoint]
    reached_index: int | None  # index of the evaluation that reached the target, or None


@dataclass(frozen=True)
class Calibrated:
    energy_to_target_j: float | None
    low_j: float | None  # None: too few calibration runs to state an interval
    high_j: float | None
    p_reach: float | None  # None: too few calibration runs as hopeless as this one
    runs: int  # calibration runs behind it


class Calibration:
    """Errors of the prediction after K evaluations over ``runs`` (at most :data:`MAX_RUNS`, evenly
    spread), computed once per K; ``exclude`` a run (the same object) to keep it out of its own
    calibration."""

    def __init__(self, runs: list[CalibrationRun], target: float, limit: float, prior_c=PRIOR_C):
        step = max(1, math.ceil(len(runs) / MAX_RUNS))
        self.runs = runs[::step]
        self.target, self.limit, self.prior_c = target, limit, prior_c
        self._by_k: dict[int, list[tuple]] = {}

    def _table(self, k: int) -> list[tuple]:
        """(run, truth / prediction or None, truth / energy so far or None, fitted p_reach,
        reached) of every calibration run still going after k evaluations."""
        if k not in self._by_k:
            rows = []
            for run in self.runs:
                end = run.reached_index if run.reached_index is not None else len(run.points) - 1
                if end < k:
                    continue
                pred = predict(run.points[:k], self.target, self.limit, self.prior_c)
                ratio = so_far = None
                if run.reached_index is not None:
                    truth = run.points[run.reached_index].total_energy_j
                    so_far = truth / max(run.points[k - 1].total_energy_j, 1e-12)
                    if pred.energy_to_target_j:
                        ratio = truth / pred.energy_to_target_j
                rows.append((run, ratio, so_far, pred.p_reach, run.reached_index is not None))
            self._by_k[k] = rows
        return self._by_k[k]

    def apply(self, pred: Prediction, points: list[EvalPoint], exclude=frozenset()) -> Calibrated:
        """``pred`` (made from ``points``, the run's first evaluations) calibrated; ``exclude``:
        runs (the same objects) kept out, e.g. the run itself and its twins under a cost axis."""
        rows = [r for r in self._table(len(points)) if r[0] not in exclude]
        base, column = pred.energy_to_target_j, 1
        if base is None:  # the curves see no way there: what runs like it needed beyond this point
            base, column = points[-1].total_energy_j, 2
        ratios = np.array([r[column] for r in rows if r[column] is not None])
        centre = low = high = None
        if len(ratios):
            centre = base * float(np.median(ratios))
        if len(ratios) >= MIN_RUNS:
            low, high = (base * q for q in _conformal(ratios, COVERAGE))
        return Calibrated(centre, low, high, self._p_reach(rows, pred.p_reach), len(rows))

    @staticmethod
    def _p_reach(rows, p: float) -> float | None:
        alike = [reached for *_, q, reached in rows if q <= p + 1e-9]
        if not alike:
            return None
        return (sum(alike) + 1) / (len(alike) + 2)


def _conformal(values: np.ndarray, coverage: float) -> tuple[float, float]:
    """The split-conformal interval's ends: the order statistics that hold a new value with at least
    ``coverage`` (a sample's own 10th-90th percentiles hold less than 80 % of new values)."""
    v, n = np.sort(values), len(values)
    tail = (1 - coverage) / 2
    lo = max(math.floor((n + 1) * tail), 1)
    hi = min(math.ceil((n + 1) * (1 - tail)), n)
    return float(v[lo - 1]), float(v[hi - 1])


class CalibratedMiss(LivePredictedMiss):
    """``predict_stop`` in a study with finished runs: it stops a run only on the calibrated
    probability (the study's finished runs that looked as hopeless at the same evaluation, counted
    conservatively), and not at all where too few runs tell (it does not know)."""

    def __init__(self, target, max_epochs, runs: list[CalibrationRun], threshold=0.05, **kw):
        super().__init__(target, max_epochs, threshold, **kw)
        self.runs, self.calibration = runs, None

    def p_reach(self, prediction: Prediction) -> float | None:
        if self.calibration is None:
            self.calibration = Calibration(self.runs, self.target, self.max_progress, self.prior_c)
        return self.calibration.apply(prediction, self.points).p_reach


def calibration_runs(curves: list[list[EvalPoint]], target: float) -> list[CalibrationRun]:
    """Finished runs' points as calibration runs (reached where an evaluation met ``target``)."""
    out = []
    for points in curves:
        hit = next((i for i, p in enumerate(points) if p.val_accuracy >= target), None)
        out.append(CalibrationRun(points, hit))
    return out
