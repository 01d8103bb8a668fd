"""Optuna's own pruners (MedianPruner, PercentilePruner, ...) compare a trial's intermediate values in
the study's direction. A study minimizing energy-to-target is told the validation error (1 -
accuracy) at each evaluation, so that a MedianPruner there prunes the least accurate trials, not the
most accurate; a study maximizing is told the accuracy."""

from __future__ import annotations

import optuna
import pytest

from powertrain import track
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from tests.fakes.meters import ConstantPowerMeter

COURSES = {0: [0.5, 0.6, 0.7], 1: [0.8, 0.85, 0.88], 2: [0.2, 0.25, 0.3]}


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_a_median_pruner_prunes_the_least_accurate_trial(tmp_path, clock, direction):
    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )

    def objective(trial: optuna.Trial) -> float:
        course = COURSES[trial.number]
        with track(
            "median",
            {"n": trial.number, "d": direction},
            0,
            0.95,
            db=tmp_path / "r.db",
            detection=meters,
            trial=trial,
        ) as run:
            for step, accuracy in enumerate(course, start=1):
                clock.advance(1.0)
                run.evaluate(val_accuracy=accuracy, step=step)
        return run.points[-1].total_energy_j if direction == "minimize" else course[-1]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    study = optuna.create_study(direction=direction, pruner=pruner)
    study.optimize(objective, n_trials=3)
    states = [t.state for t in study.trials]
    assert states[1] == optuna.trial.TrialState.COMPLETE  # the most accurate goes on
    assert states[2] == optuna.trial.TrialState.PRUNED  # the least accurate is pruned
    told = study.trials[0].intermediate_values[1]
    assert told == pytest.approx(0.5)  # 1 - 0.5 or 0.5: the same either way at 0.5
    told = study.trials[1].intermediate_values[1]
    assert told == pytest.approx(0.2 if direction == "minimize" else 0.8)
    said = study.trials[1].user_attrs["powertrain_intermediate_value"]
    assert ("1 - validation accuracy" in said) == (direction == "minimize")


def test_energy_pruning_and_another_pruner_together(tmp_path, clock):
    from powertrain import open_store
    from powertrain.integrations.optuna import EnergyPruner

    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )

    def objective(trial: optuna.Trial) -> float:
        with track(
            "both",
            {"n": trial.number, "way": trial.study.direction.name},
            0,
            0.95,
            db=tmp_path / "r.db",
            detection=meters,
            trial=trial,
        ) as run:
            for step, accuracy in enumerate(COURSES[trial.number], start=1):
                clock.advance(1.0)
                run.evaluate(val_accuracy=accuracy, step=step)
        return run.points[-1].total_energy_j

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    median = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    study = optuna.create_study(pruner=EnergyPruner(beta=100.0, also=median))
    study.optimize(objective, n_trials=3)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    with open_store(tmp_path / "r.db") as store:
        pruned = store.runs("both")[2]
    assert "optuna trial 2: pruned by Optuna's MedianPruner at step 1" in pruned.outcome.stop_reason


def test_a_study_maximizing_the_energy_its_trials_return_is_refused_before_the_next_trains(
    tmp_path, clock
):
    from powertrain import PowertrainError, open_store

    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )
    trained = []

    def objective(trial: optuna.Trial) -> float:
        with track(
            "wrong-way",
            {"n": trial.number, "way": trial.study.direction.name},
            0,
            0.5,
            db=tmp_path / "r.db",
            detection=meters,
            trial=trial,
        ) as run:
            trained.append(trial.number)
            clock.advance(1.0)
            run.evaluate(val_accuracy=0.6, step=1)
        return run.outcome.energy_to_target_j  # the docs' objective, in a study made to maximize

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    with pytest.raises(
        PowertrainError, match="maximizes, but trial 0 returned its energy-to-target"
    ):
        study.optimize(objective, n_trials=3)
    assert trained == [0]  # the second trial was refused before it trained
    with open_store(tmp_path / "r.db") as store:
        assert len(store.runs("wrong-way")) == 1
    minimizing = optuna.create_study()  # the same objective, the right way: every trial runs
    minimizing.optimize(objective, n_trials=2)
    assert len(minimizing.trials) == 2 and trained == [0, 0, 1]
