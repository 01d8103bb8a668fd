"""``study.optimize(n_jobs=2)``: two trials tracked at once in one process, whose meters each read
the whole process (and its devices), so each run's energy counts the other's too. The trials say so
(a user attribute and one warning), rather than passing the figures off as each trial's own."""

from __future__ import annotations

import logging
import threading

import optuna

from powertrain import track
from powertrain.integrations.optuna import OVERLAP_ATTR
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from tests.fakes.meters import ConstantPowerMeter


def test_trials_tracked_at_once_in_one_process_say_their_energy_overlaps(
    tmp_path, clock, caplog, monkeypatch
):
    from powertrain.integrations import optuna as integration

    # the warning is said once per process: an earlier test in this worker may have had it
    monkeypatch.setattr(integration._Overlaps, "warned", False)
    monkeypatch.setattr(logging.getLogger("powertrain"), "propagate", True)  # a CLI test's setup
    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.COUNTER)}
    )
    both_in = threading.Barrier(2, timeout=60)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 0.5, log=True)
        with track(
            "parallel", {"lr": lr}, 0, 0.9, db=tmp_path / "r.db", detection=meters, trial=trial
        ) as run:
            both_in.wait()  # both runs are in progress now
            clock.advance(1.0)
            run.evaluate(val_accuracy=0.95, step=1)
        return run.outcome.energy_to_target_j

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    with caplog.at_level(logging.WARNING):
        study.optimize(objective, n_trials=2, n_jobs=2)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    for t in study.trials:
        assert "counts the others' too" in t.user_attrs[OVERLAP_ATTR]
    # one warning; its record reached the capture twice once in CI (two handlers on the way)
    [warning] = {
        r.getMessage() for r in caplog.records if "at once in this process" in r.getMessage()
    }
    assert "n_jobs" in warning and "trials 0, 1 are tracked at once" in warning

    # one trial at a time afterwards: nothing overlaps
    study.optimize(_one(tmp_path, meters, clock), n_trials=1)
    assert OVERLAP_ATTR not in study.trials[-1].user_attrs


def _one(tmp_path, meters, clock):
    def objective(trial: optuna.Trial) -> float:
        with track(
            "alone",
            {"n": trial.number},
            0,
            0.9,
            db=tmp_path / "r.db",
            detection=meters,
            trial=trial,
        ) as run:
            clock.advance(1.0)
            run.evaluate(val_accuracy=0.95, step=1)
        return run.outcome.energy_to_target_j

    return objective


def test_a_fixed_trial_rerunning_the_best_params_is_tracked_without_a_study(tmp_path, clock):
    """``objective(optuna.trial.FixedTrial(study.best_params))``: the usual re-run of the best."""
    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )
    trial = optuna.trial.FixedTrial({"lr": 0.1})
    lr = trial.suggest_float("lr", 1e-3, 0.5, log=True)
    with track(
        "best", {"lr": lr}, 0, 0.9, db=tmp_path / "r.db", detection=meters, trial=trial
    ) as run:
        clock.advance(1.0)
        assert run.evaluate(val_accuracy=0.95, step=1)
    assert run.outcome.energy_to_target_j > 0
    assert trial.user_attrs["powertrain_energy_to_target_j"] == run.outcome.energy_to_target_j


def test_a_hook_whose_run_never_ended_is_not_taken_for_a_trial_under_way():
    """A trial's hook begun and dropped without its run's end (its process went on without it):
    a later trial, alone, is not labelled as tracked beside it."""
    import gc

    from powertrain.integrations.optuna import OptunaTrial
    from powertrain.loggers.base import RunInfo

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    info = RunInfo("s", "k", 1, {}, {}, 0, {})
    leaked = OptunaTrial(study.ask())
    leaked.run_begun(info)
    del leaked
    gc.collect()
    alone = OptunaTrial(study.ask())
    alone.run_begun(info)
    assert OVERLAP_ATTR not in alone.trial.user_attrs
    alone.close()
