"""A sweep's pruning set up wrongly: each mistake is one PowertrainError when the pruner (or the run)
is made, never an AttributeError or a RecursionError inside ``study.optimize``, and never a setting
taken silently for another (``rungs="no"`` turning the rungs on)."""

from __future__ import annotations

import logging
import math

import optuna
import pytest

from powertrain import PowertrainError
from powertrain.integrations.optuna import EnergyPruner
from powertrain.integrations.ray_tune import EnergyStopper
from powertrain.records import CENSORED
from tests.unit import test_track

store, meters, tracked = test_track.store, test_track.meters, test_track.tracked  # fixtures


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"beta": "1.5"}, "beta must be a number, got '1.5'"),
        ({"beta": True}, "beta must be a number, got True"),
        ({"eta": None}, "eta must be a number, got None"),
        ({"min_budget_j": "5"}, "min_budget_j must be a number"),
        ({"min_budget_j": True}, "min_budget_j must be a number"),
        ({"rungs": "no"}, "rungs must be True or False, got 'no'"),
    ],
)
@pytest.mark.parametrize("make", [EnergyPruner, lambda **kw: EnergyStopper("r.db", **kw)])
def test_a_pruners_setting_of_the_wrong_type_is_refused(make, settings, said):
    with pytest.raises(PowertrainError, match=said):
        make(**settings)


@pytest.mark.parametrize(
    ("also", "said"),
    [
        ("median", "takes one Optuna pruner.*got str"),
        ([optuna.pruners.MedianPruner()], "got list"),
        (optuna.pruners.MedianPruner, r"got ABCMeta \(a class: make one"),
    ],
)
def test_energy_pruner_also_takes_one_optuna_pruner(also, said):
    with pytest.raises(PowertrainError, match=said):
        EnergyPruner(also=also)
    median = optuna.pruners.MedianPruner()
    assert EnergyPruner(also=median).also is median
    inner = EnergyPruner()
    assert EnergyPruner(also=inner).also is inner


def test_a_pruner_that_would_ask_itself_is_refused_not_a_recursion_in_the_sweep():
    pruner = EnergyPruner()
    with pytest.raises(PowertrainError, match="cannot be the pruner itself"):
        pruner.__init__(also=pruner)
    outer = EnergyPruner(also=pruner)
    with pytest.raises(PowertrainError, match="cannot be the pruner itself"):
        pruner.__init__(also=outer)  # a chain back to itself


def test_an_optuna_study_passed_as_the_trial_is_refused_before_the_run_begins(store, meters):
    study = optuna.create_study()
    with pytest.raises(PowertrainError, match="the trial Optuna passes to your objective.*Study"):
        tracked(store, meters, trial=study)
    assert store.runs("mine") == [] and study.user_attrs == {}
    fixed = optuna.trial.FixedTrial({"lr": 0.1})  # re-running the best params: a trial, tracked
    with tracked(store, meters, trial=fixed) as run:
        run.evaluate(val_accuracy=0.5)
    assert run.outcome.status == CENSORED and fixed.user_attrs["powertrain_run_id"] == 1


@pytest.mark.parametrize(
    ("report", "said"),
    [
        ({"energy_j": None, "val_accuracy": 0.5}, "energy_j=None"),  # a TypeError ended tuner.fit
        ({"energy_j": "30", "val_accuracy": 0.5}, "energy_j='30'"),
        ({"energy_j": 30.0, "val_accuracy": 50.0}, "val_accuracy=50.0"),  # a percentage
        ({"energy_j": 30.0, "val_accuracy": "x"}, "val_accuracy='x'"),
        ({"energy_j": math.nan, "val_accuracy": 0.5}, "energy_j=nan"),
        ({"energy_j": 30.0, "val_acc": 0.5}, "no val_accuracy"),  # never judged, without a word
        ({"val_accuracy": 0.5, "joules": 30.0}, "no energy_j"),
    ],
)
def test_a_report_the_energy_stopper_cannot_read_is_warned_about_never_fails_the_tuning(
    caplog, report, said
):
    stopper = EnergyStopper(db=":memory:", rungs=True, min_budget_j=10.0)
    assert not stopper("fast", {"energy_j": 10.0, "val_accuracy": 0.95, "energy_to_target_j": 10.0})
    with caplog.at_level(logging.WARNING, logger="powertrain.integrations.ray_tune"):
        assert not stopper("odd", report)  # neither judged nor an exception out of the stopper
        assert not stopper("odd", report)
    [warning] = [r.getMessage() for r in caplog.records]  # once a trial
    assert f"trial odd reported {said};" in warning and "fraction in [0, 1]" in warning
    assert "odd" not in stopper.curves  # nothing read wrongly into the rule's courses
    assert stopper("odd", {"energy_j": 30.0, "val_accuracy": 0.2})  # a figure again: judged


@pytest.mark.parametrize("db", [5, ["runs.db"], {"path": "runs.db"}])
def test_an_energy_stopper_store_of_the_wrong_kind_is_refused_when_made(db):
    with pytest.raises(PowertrainError, match="EnergyStopper\\(db=...\\) takes the store track"):
        EnergyStopper(db=db)
