"""Prediction that says when it does not know: a run's energy-to-target from the study's finished runs
that stood where it stands, and an interval whose stated coverage is measured, not assumed.

The estimate (localised split-conformal): a run after K evaluations stands at a *state*, its
validation accuracy and log K. Each finished run that reached the target is looked at in the state
of its own history nearest to that one (both coordinates scaled by their spread over the calibration
runs' states, equal weights), and the nearest :data:`NEIGHBOURS` share of them (at least
:data:`MIN_ALIKE`) are the runs alike. Each says how many times what it had spent at that state it
needed in the end; the estimate is the run's energy so far x the median of those ratios, its 80 %
interval the energy so far x their split-conformal ends. A calibration run tied between several
states (accuracy that stayed on one level) counts once, spread over them. Matching on where a run
stands rather than on the evaluation count alone makes the ratio the same for a fast and a slow run
of one shape (the study's runs at the same evaluation count are at every stage of theirs, and
pooling them gave intervals a factor of 15 wide). With fewer than :data:`MIN_ALIKE` finished runs
that reached the target there is no interval: it does not know.

A *curve* counts once: runs that share one (the same setup and seed under a declared cost axis, such
as the GPU power limit, which changes the energy per step and never the accuracy) are one calibration
run, and none of them calibrates a run of that curve.

``predict_stop`` (:class:`CalibratedMiss`, once a study has :data:`MIN_RUNS` finished runs) decides
on the fitted probability of reaching the target
(:func:`powertrain.search.predict.predict`), calibrated: the calibrated probability for a run whose
fitted probability is p is the share of calibration curves at or below p after as many evaluations
that reached the target, counted conservatively (Laplace: (reached + 1) / (runs + 2)), so a stop at
5 % needs at least 19 distinct curves as hopeless as this one that all missed.

Figures (docs/search.md, backtests on the Zeus traces and the project's grids): after a quarter of
the run the fitted curves alone were 23-100 % off (median), the runs alike 12-14 % on the studies the
settings were chosen on (CIFAR-100, paper-grid) and 7-27 % on the five others, the 80 % interval
holding in 74-89 % of runs.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from powertrain.records import EvalPoint
from powertrain.search.predict import PRIOR_C, LivePredictedMiss, Prediction, predict

MIN_ALIKE = 9  # runs alike needed before an interval is stated (from 9 the conformal 80 % exists)
NEIGHBOURS = 0.25  # share of the calibration curves that are "alike" (at least MIN_ALIKE)
MIN_RUNS = 8  # finished curves before predict_stop decides on the calibrated probability
MAX_RUNS = 40  # curves in the probability table at most (each is a curve fit per K)
COVERAGE = 0.8


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class CalibrationRun:
    points: list[EvalPoint]
    reached_index: int | None  # index of the evaluation that reached the target, or None
    curve: Hashable | None = None  # runs with one curve (twins under a cost axis) share it

    @property
    def curve_key(self) -> Hashable:
        return self if self.curve is None else self.curve


@dataclass(frozen=True)
class Calibrated:
    energy_to_target_j: float | None
    low_j: float | None  # None: too few calibration runs to state an interval
    high_j: float | None
    p_reach: float | None  # None: too few calibration runs as hopeless as this one
    runs: int  # calibration curves behind the estimate


@dataclass(frozen=True, eq=False)
class _History:
    """A calibration curve that reached the target, as states: accuracy and log K at each evaluation
    before the target, and what it needed in the end over what it had spent there."""

    key: Hashable
    accuracy: np.ndarray
    log_k: np.ndarray
    ratio: np.ndarray

    @classmethod
    def of(cls, run: CalibrationRun) -> _History | None:
        end = run.reached_index
        if end is None or end < 1:
            return None
        spent = np.array([p.total_energy_j for p in run.points[:end]], dtype=float)
        accuracy = np.array([p.val_accuracy for p in run.points[:end]], dtype=float)
        # a diverged evaluation (accuracy not a number) or one with nothing spent yet: no state
        ok = np.isfinite(accuracy) & (spent > 0)
        if not ok.any():
            return None
        truth = run.points[end].total_energy_j
        log_k = np.log(np.arange(1, end + 1))
        return cls(run.curve_key, accuracy[ok], log_k[ok], truth / spent[ok])


class Calibration:
    """What the study's finished ``runs`` say about a run after K evaluations; ``exclude`` a run (the
    same object) to keep its curve out of its own calibration."""

    def __init__(self, runs: list[CalibrationRun], target: float, limit: float, prior_c=PRIOR_C):
        first: dict = {}
        for run in runs:
            first.setdefault(run.curve_key, run)
        curves = list(first.values())  # a curve counts once
        step = max(1, math.ceil(len(curves) / MAX_RUNS))
        self.runs = curves[::step]  # the probability table's
        self.histories = [h for h in map(_History.of, curves) if h is not None]
        self.target, self.limit, self.prior_c = target, limit, prior_c
        self._by_k: dict[int, list[tuple]] = {}

    def _table(self, k: int) -> list[tuple]:
        """(curve, fitted p_reach, reached) of every table run still going after k evaluations."""
        if k not in self._by_k:
            rows = []
            for run in self.runs:
                end = run.reached_index if run.reached_index is not None else len(run.points) - 1
                if end >= k:
                    pred = predict(run.points[:k], self.target, self.limit, self.prior_c)
                    rows.append((run.curve_key, pred.p_reach, run.reached_index is not None))
            self._by_k[k] = rows
        return self._by_k[k]

    def apply(self, pred: Prediction, points: list[EvalPoint], exclude=frozenset()) -> Calibrated:
        """The run's energy-to-target from ``points`` (its first evaluations) and the runs alike;
        ``pred`` (the fitted curves' prediction from the same points) gives the stop's probability.
        ``exclude``: runs (the same objects) whose curves are kept out, e.g. the run itself."""
        out = {run.curve_key for run in exclude}
        so_far, accuracy = points[-1].total_energy_j, points[-1].val_accuracy
        if accuracy >= self.target:
            return Calibrated(so_far, so_far, so_far, 1.0, 0)
        histories = [h for h in self.histories if h.key not in out]
        if not math.isfinite(accuracy) or so_far <= 0:
            histories = []  # no state to match: it does not know
        centre, low, high, alike = _alike(histories, accuracy, len(points))
        rows = [r for r in self._table(len(points)) if r[0] not in out]
        return Calibrated(
            None if centre is None else so_far * centre,
            None if low is None else so_far * low,
            None if high is None else so_far * high,
            _p_reach(rows, pred.p_reach),
            alike,
        )


def _alike(histories: list[_History], accuracy: float, k: int):
    """(median ratio, conformal low, high, runs alike) of the histories nearest the state
    (``accuracy``, log ``k``); no interval from fewer than MIN_ALIKE, nothing from none."""
    if not histories:
        return None, None, None, 0
    all_acc = np.concatenate([h.accuracy for h in histories])
    all_log_k = np.concatenate([h.log_k for h in histories])
    scale_acc, scale_k = max(float(all_acc.std()), 1e-9), max(float(all_log_k.std()), 1e-9)
    nearest = []  # (distance, that history's ratios at its nearest states)
    for h in histories:
        d = ((h.accuracy - accuracy) / scale_acc) ** 2 + ((h.log_k - math.log(k)) / scale_k) ** 2
        nearest.append((float(d.min()), h.ratio[d <= d.min() + 1e-12]))
    nearest.sort(key=lambda t: t[0])
    alike = nearest[: max(MIN_ALIKE, round(NEIGHBOURS * len(nearest)))]
    ratios = np.concatenate([r for _, r in alike])
    weights = np.concatenate([np.full(len(r), 1 / len(r)) for _, r in alike])
    n = len(alike)
    (centre,) = _ranked(ratios, weights, [n / 2])
    if n < MIN_ALIKE:
        return centre, None, None, n
    low, high = _ranked(ratios, weights, _conformal_ranks(n, COVERAGE))
    return centre, low, high, n


def _conformal_ranks(n: int, coverage: float) -> tuple[int, int]:
    """The split-conformal interval's ends as ranks among ``n`` calibration values: the order
    statistics that hold a new value with at least ``coverage`` (a sample's own 10th-90th
    percentiles hold less than 80 % of new values)."""
    tail = (1 - coverage) / 2
    return max(math.floor((n + 1) * tail), 1), min(math.ceil((n + 1) * (1 - tail)), n)


def _ranked(values: np.ndarray, weights: np.ndarray, ranks) -> list[float]:
    """The value at each rank (counted in weight: a run spread over tied states counts once)."""
    order = np.argsort(values, kind="stable")
    v, cum = values[order], np.cumsum(weights[order])
    return [float(v[min(np.searchsorted(cum, r - 1e-9), len(v) - 1)]) for r in ranks]


def _p_reach(rows, p: float) -> float | None:
    alike = [reached for _, q, reached in rows if q <= p + 1e-9]
    if not alike:
        return None
    return (sum(alike) + 1) / (len(alike) + 2)


class CalibratedMiss(LivePredictedMiss):
    """``predict_stop`` in a study with finished runs: it stops a run only on the calibrated
    probability (the study's finished curves that looked as hopeless at the same evaluation, counted
    conservatively), and not at all where too few runs tell (it does not know)."""

    def __init__(self, target, max_epochs, runs: list[CalibrationRun], threshold=0.05, **kw):
        super().__init__(target, max_epochs, threshold, **kw)
        self.runs, self.calibration = runs, None

    def p_reach(self, prediction: Prediction) -> float | None:
        if self.calibration is None:
            self.calibration = Calibration(self.runs, self.target, self.max_progress, self.prior_c)
        return self.calibration.apply(prediction, self.points).p_reach


def calibration_runs(
    curves: list[list[EvalPoint]], target: float, keys: list[Hashable] | None = None
) -> list[CalibrationRun]:
    """Finished runs' points as calibration runs (reached where an evaluation met ``target``);
    ``keys``: each run's curve (runs that share one under a cost axis share a key), else its own."""
    out = []
    for points, key in zip(curves, keys or [None] * len(curves), strict=True):
        hit = next((i for i, p in enumerate(points) if p.val_accuracy >= target), None)
        out.append(CalibrationRun(points, hit, key))
    return out
