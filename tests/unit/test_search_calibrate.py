"""The calibrated prediction (the runs alike, split-conformal) on made-up curves shaped like the Zeus
traces: accuracy recorded as the best 0.05 level reached so far, runs of one shape at many speeds."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from powertrain.records import EvalPoint
from powertrain.search.calibrate import (
    MIN_ALIKE,
    Calibration,
    CalibrationRun,
    calibration_runs,
)
from powertrain.search.predict import predict

TARGET = 0.6


def staircase(speed: float, joules_per_eval: float, rng, evals=400) -> list[EvalPoint]:
    """1 - accuracy falls as a power law of epochs x ``speed`` with noise; recorded as the best 0.05
    level reached so far, until the target."""
    points, best = [], 0.0
    for i in range(evals):
        raw = 1 - 0.95 * ((i + 1) * speed) ** -0.3 + rng.normal(0, 0.02)
        best = max(best, math.floor(raw / 0.05) * 0.05)
        energy = joules_per_eval * (i + 1)
        points.append(EvalPoint(i, i + 1, i + 1, 0, 1.0, best, i + 1.0, {"gpu": energy}))
        if best >= TARGET - 1e-9:
            break
    return points


def study(n: int, seed: int) -> list[list[EvalPoint]]:
    """Runs whose speed varies fivefold (lognormal) and whose energy per epoch varies too."""
    rng = np.random.default_rng(seed)
    return [
        staircase(0.4 * math.exp(rng.normal(0, 0.6)), rng.uniform(50, 150), rng) for _ in range(n)
    ]


def after_a_quarter(calibration: Calibration, runs: list[list[EvalPoint]]):
    """(absolute percentage errors, interval held) after a quarter of each run that reached."""
    errors, held = [], []
    for points in runs:
        k = math.ceil(len(points) / 4)
        if points[-1].val_accuracy < TARGET or k >= len(points):
            continue
        seen = points[:k]
        cal = calibration.apply(predict(seen, TARGET, 400.0), seen)
        truth = points[-1].total_energy_j
        centre = cal.energy_to_target_j
        errors.append(1.0 if centre is None else abs(centre - truth) / truth)
        held.append(cal.low_j is not None and cal.low_j <= truth <= cal.high_j)
    return errors, held


def test_after_a_quarter_the_runs_alike_know_what_is_left_and_their_interval_holds():
    calibration = Calibration(calibration_runs(study(60, seed=0), TARGET), TARGET, 400.0)
    errors, held = after_a_quarter(calibration, study(60, seed=1))
    assert len(errors) >= 50
    # the study's runs after as many evaluations are at every stage of theirs: a ratio pooled over
    # them was off by about half; the runs that stood where this one stands say what is left
    assert np.median(errors) < 0.15
    assert 0.7 <= np.mean(held) <= 0.95


def test_a_curve_shared_by_runs_under_a_cost_axis_counts_once():
    curves = study(4, seed=2)
    twins = [  # each curve under five power limits: energy per epoch scaled, accuracy the same
        CalibrationRun(
            [replace(p, energy_j={"gpu": p.total_energy_j * w}) for p in c],
            len(c) - 1,
            curve=i,
        )
        for i, c in enumerate(curves)
        for w in (0.8, 0.9, 1.0, 1.1, 1.2)
    ]
    seen = study(1, seed=3)[0][:3]
    cal = Calibration(twins, TARGET, 400.0).apply(predict(seen, TARGET, 400.0), seen)
    assert cal.runs == 4 and cal.low_j is None  # 20 runs, 4 curves: too few to state an interval
    assert cal.energy_to_target_j is not None  # a central estimate it still gives
    apart = [CalibrationRun(r.points, r.reached_index) for r in twins]  # as if 20 curves
    assert Calibration(apart, TARGET, 400.0).apply(predict(seen, TARGET, 400.0), seen).low_j


def test_a_run_never_calibrates_itself_nor_its_twins():
    runs = [CalibrationRun(c, len(c) - 1, curve=i % 9) for i, c in enumerate(study(18, seed=4))]
    calibration = Calibration(runs, TARGET, 400.0)
    seen = runs[0].points[:2]
    pred = predict(seen, TARGET, 400.0)
    assert calibration.apply(pred, seen).runs == MIN_ALIKE  # nine curves: an interval
    kept = calibration.apply(pred, seen, exclude={runs[0]})  # its curve out (both of its runs)
    assert kept.runs == MIN_ALIKE - 1 and kept.low_j is None


def test_a_run_already_at_the_target_needs_what_it_spent():
    runs = calibration_runs(study(12, seed=5), TARGET)
    points = runs[0].points
    cal = Calibration(runs, TARGET, 400.0).apply(predict(points, TARGET, 400.0), points)
    assert cal.energy_to_target_j == cal.low_j == cal.high_j == points[-1].total_energy_j


def test_a_diverged_evaluation_is_no_state_and_a_diverged_run_gets_no_estimate():
    runs = calibration_runs(study(12, seed=6), TARGET)
    broken = runs[0].points[:2] + [replace(runs[0].points[2], val_accuracy=math.nan)]
    runs.append(CalibrationRun(broken + runs[0].points[3:], runs[0].reached_index, curve="nan"))
    calibration = Calibration(runs, TARGET, 400.0)
    seen = study(1, seed=7)[0][:3]
    cal = calibration.apply(predict(seen, TARGET, 400.0), seen)
    assert cal.low_j is not None and math.isfinite(cal.energy_to_target_j)
    diverged = seen[:2] + [replace(seen[2], val_accuracy=math.nan)]
    cal = calibration.apply(predict(seen, TARGET, 400.0), diverged)
    assert cal.energy_to_target_j is None and cal.low_j is None  # it does not know


def test_live_predict_stop_counts_a_curve_shared_under_a_power_limit_once():
    """What ``powertrain run`` with ``predict_stop`` calibrates on: 5 curves under 4 power limits
    are 5 curves, too few to calibrate on (it was 20, enough to stop on 5 curves of evidence)."""
    from powertrain.search.calibrate import CalibratedMiss
    from powertrain.search.run import predicted_stops, search_config
    from powertrain.store.memory import MemoryStore
    from powertrain.study.config import parse_study
    from tests.fakes.curves import add_run

    search = {"strategy": "grid", "predict_stop": {"threshold": 0.05}}
    study = parse_study(
        {
            "name": "limits",
            "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.86},
            "grid": {"learning_rate": [0.1], "gpu_power_limit_w": [250, 300]},
            "search": search,
        }
    )
    config = search_config(study, None)

    def handlers(curves: int):
        store = MemoryStore()
        for seed in range(curves):
            for limit_w in (200, 250, 300, 350):
                setup = {"learning_rate": 0.1, "gpu_power_limit_w": limit_w}
                add_run(store, "limits", setup, seed, 0.0002 * (seed + 1), limit_w / 100)
        [handler] = predicted_stops(study, store, config)(None)
        return handler

    assert not isinstance(handlers(5), CalibratedMiss)  # 5 curves: not calibrated on
    calibrated = handlers(8)
    assert isinstance(calibrated, CalibratedMiss)
    assert len(calibrated.runs) == 32 and len({r.curve_key for r in calibrated.runs}) == 8


def test_the_backtest_reports_the_stops_predict_stop_would_make_live_in_a_small_study(tmp_path):
    """Under 8 other finished curves ``predict_stop`` decides on the fitted probability live: the
    backtest's figure is that one (it reported the calibrated rule's "0 %", which would not run)."""
    from powertrain.search.backtest import backtest
    from powertrain.search.importer import import_csv
    from powertrain.store.sqlite import SqliteStore

    csv = tmp_path / "tiny.csv"
    rows = ["seed,epoch,energy_j,val_accuracy,lr"]
    for seed, accuracies in ((0, (0.2, 0.5, 0.9)), (1, (0.2, 0.3, 0.4))):
        rows += [f"{seed},{e},{10 * e},{a},0.1" for e, a in enumerate(accuracies, 1)]
    csv.write_text("\n".join(rows) + "\n")
    import_csv(csv, "tiny", 0.9, tmp_path / "r.db")
    with SqliteStore(tmp_path / "r.db") as store:
        [row] = backtest(store, "tiny", [1]).rows
    assert row["reached_stopped_fit"] == 1.0  # the fitted curves give up on the run that reached
    assert row["reached_stopped"] == row["reached_stopped_fit"]
