"""Backtest the prediction on a finished study: for every run, predict from its first K evaluations and
compare with the energy-to-target it measured; and how well it tells the runs that will be censored."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from powertrain.errors import PowertrainError
from powertrain.search.calibrate import MIN_RUNS, Calibration, CalibrationRun
from powertrain.search.cost_axes import curve_key, undeclared
from powertrain.search.predict import (
    linear_accuracy_j,
    linear_rule_j,
    predict,
    progress,
    shape_prior,
)
from powertrain.search.simulate import StudyCurves, load_curves

if TYPE_CHECKING:  # annotations only: simulation reads a store, never depends on one
    from powertrain.store.base import ResultStore

QUARTER = "quarter"
STOP_THRESHOLD = 0.05  # predict_stop's default (study.search_config.PredictStopConfig)


@dataclass
class Backtest:
    study: str
    machine: str
    method: str
    target: float
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per K
    warnings: list[str] = field(default_factory=list)  # what may make the figures flatter

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__


def backtest(
    store: ResultStore,
    study: str,
    after_evals: list[int | str] | None = None,
    machine: str | None = None,
    target: float | None = None,
) -> Backtest:

    data = load_curves(store, study, machine)
    target = target if target is not None else _target(store, study)
    ks = after_evals or [1, 2, 4, QUARTER]
    for k in ks:
        if k != QUARTER and (not isinstance(k, int) or k < 1):
            raise PowertrainError(f"--after-evals takes whole numbers >= 1 or 'quarter', not {k!r}")
    limit = _limit(data)
    result = Backtest(data.study, data.machine, data.method, target)
    # a cost axis not declared: its twins calibrate each other, and the coverage flatters
    result.warnings = undeclared(data.curves, data.cost_axes, f"study {data.study}")
    runs = {  # runs that share a curve under the study's cost axes are one calibration curve
        (setup, seed): CalibrationRun(
            c.points, c.reached_index, curve_key(setup, seed, data.cost_axes)
        )
        for (setup, seed), c in data.curves.items()
    }
    prior_c = shape_prior([c.points for c in data.curves.values() if c.points])
    calibration = Calibration(list(runs.values()), target, limit, prior_c)
    for k in ks:
        result.rows.append(_row(data, k, target, limit, (calibration, runs)))
    return result


def _target(store: ResultStore, study: str) -> float:
    config = next((s["config"] for s in store.studies() if s["name"] == study), {})
    target = (config.get("task") or {}).get("target_accuracy")
    if target is None:
        raise PowertrainError(f"study {study!r} records no target accuracy; pass --target")
    return float(target)


def _limit(data: StudyCurves) -> float:
    """The runs' limit in progress units: the longest run recorded (censored runs ran to it)."""
    return max(progress(c.points)[-1] for c in data.curves.values() if c.points)


def _row(data: StudyCurves, k, target: float, limit: float, calibrated) -> dict[str, Any]:
    """One K's figures. Calibration (``calibrated``: the study's ``Calibration`` and each run's
    ``CalibrationRun``) is leave-one-out: a run's curve (itself and its twins under the cost axes)
    never calibrates it."""
    calibration, runs = calibrated
    keys = [key for key, c in data.curves.items() if c.points]
    live_calibrated = len({r.curve_key for r in runs.values()}) > MIN_RUNS  # besides its own
    fit_err, rule_err, lin_err, flagged = [], [], [], {"censored": [], "reached": []}
    missed_stopped, curves, widths = [], set(), []
    held, stopped, cal_err, cal_held, cal_stopped, stated = [], [], [], [], [], []
    for key in keys:
        curve = data.curves[key]
        n = len(curve.points) if curve.reached_index is None else curve.reached_index + 1
        kk = max(1, math.ceil(n / 4)) if k == QUARTER else k
        if kk >= n:
            continue  # reached (or ended) within K evaluations: nothing left to predict
        own = runs[key].curve_key  # its twins under a cost axis are the same curve: left out too
        others = [c.points for o, c in data.curves.items() if runs[o].curve_key != own and c.points]
        seen = curve.points[:kk]
        pred = predict(seen, target, limit, prior_c=shape_prior(others))
        flagged["reached" if curve.reached_index is not None else "censored"].append(
            pred.p_reach < 0.5
        )
        cal = calibration.apply(pred, seen, exclude={runs[key]})
        would_stop = _would_stop(cal.p_reach, pred.p_reach, live_calibrated)
        if curve.reached_index is None:
            missed_stopped.append(would_stop)
            continue
        truth = curve.points[curve.reached_index].total_energy_j
        held.append(pred.low_j is not None and _holds(pred.low_j, pred.high_j, truth))
        stopped.append(pred.p_reach < STOP_THRESHOLD)
        cal_err.append(_ape(cal.energy_to_target_j, truth))
        curves.add(runs[key].curve_key)
        stated.append(cal.low_j is not None)
        if cal.low_j is not None:
            cal_held.append(_holds(cal.low_j, cal.high_j, truth))
            widths.append(cal.high_j / max(cal.low_j, 1e-12))
        cal_stopped.append(would_stop)
        fit_err.append(_ape(pred.energy_to_target_j, truth))
        rule_err.append(_ape(linear_rule_j(seen, limit), truth))
        lin_err.append(_ape(linear_accuracy_j(seen, target), truth))
    return {
        "after_evals": k,
        "runs_predicted": len(fit_err),
        "curves_predicted": len(curves),  # distinct learning curves among them (twins count once)
        "mdape_fit": _median(fit_err),
        "mdape_linear_rule": _median(rule_err),
        "mdape_linear_accuracy": _median(lin_err),
        "censored_runs": len(flagged["censored"]),
        "censored_flagged": _share(flagged["censored"]),
        "reached_flagged": _share(flagged["reached"]),
        "interval_coverage_fit": _share(held),  # the fitted curves' own 80 % interval held it
        "reached_stopped_fit": _share(stopped),  # the fitted p_reach would have stopped them
        "mdape": _median(cal_err),  # calibrated on the study's other runs
        "interval_stated": _share(stated),  # runs given an interval (else: "does not know")
        "interval_coverage": _share(cal_held),  # of those, the 80 % interval held the truth
        "interval_width": _median(widths),  # its high end over its low end, median
        "reached_stopped": _share(cal_stopped),  # predict_stop would have stopped them (as live)
        "censored_stopped": _share(missed_stopped),  # ... and of the runs that never reached it
    }


def _would_stop(calibrated_p: float | None, fitted_p: float, calibrated: bool) -> bool:
    """Whether ``predict_stop`` would stop the run: on the calibrated probability where the study
    has the curves to calibrate on (none stated: it does not stop), else on the fitted one."""
    if not calibrated:
        return fitted_p < STOP_THRESHOLD
    return calibrated_p is not None and calibrated_p < STOP_THRESHOLD


def _holds(low_j: float, high_j: float, truth_j: float) -> bool:
    """Whether an interval holds the truth, its ends allowed a rounding's width: on traces whose
    energy per epoch is constant, an interval can close exactly on the truth, and a product of
    floats one unit off must not count as a miss."""
    slack = 1e-9
    return low_j * (1 - slack) <= truth_j <= high_j * (1 + slack)


def _ape(predicted: float | None, truth: float) -> float:
    """Absolute percentage error; a prediction of "never" counts as 100 %."""
    return 1.0 if predicted is None else abs(predicted - truth) / truth


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _share(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None
