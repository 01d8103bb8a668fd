from __future__ import annotations

import time

import pytest
import torch

from powertrain.data.registry import load_dataset
from powertrain.meters.base import Component
from powertrain.models.registry import build_model
from powertrain.monitor import Monitor
from powertrain.records import CENSORED, DIVERGED, FAILED, REACHED
from powertrain.train.config import TrainConfig
from powertrain.train.loop import Limits, train_to_target
from powertrain.train.sources import SingleSource
from powertrain.train.steps import classification_step, evaluator
from tests.fakes.meters import ConstantPowerMeter


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def run(
    digits, cfg=TrainConfig(learning_rate=0.1, batch_size=32), limits=None, step_fn=None, seed=0
):
    task = digits.tasks["digit"]
    points = []
    torch.manual_seed(seed)
    model = build_model("mlp", digits.input_shape, 10, hidden=(32,))
    monitor = Monitor([ConstantPowerMeter(Component.CPU, 50.0, time.monotonic)])
    outcome = train_to_target(
        model,
        SingleSource(digits.train),
        cfg,
        limits or Limits({"digit": 0.9}, max_epochs=5, eval_every_steps=5),
        monitor,
        step_fn=step_fn or classification_step(task),
        evaluate=evaluator({"digit": (digits.val, task, "digit", None)}),
        test_evaluate=evaluator({"digit": (digits.test, task, "digit", None)}),
        device=torch.device("cpu"),
        seed=seed,
        on_eval=points.append,
    )
    return outcome, points


def test_stops_at_the_first_evaluation_that_reaches_the_target(digits):
    outcome, points = run(digits)
    assert outcome.status == REACHED
    assert points[-1].val_accuracy >= 0.9 and all(p.val_accuracy < 0.9 for p in points[:-1])
    assert outcome.energy_to_target_j == pytest.approx(points[-1].total_energy_j)
    assert (
        outcome.time_to_target_s == points[-1].elapsed_s
        and outcome.steps_to_target == points[-1].step
    )
    assert [p.step for p in points] == list(range(5, 5 * len(points) + 1, 5))
    energies = [p.total_energy_j for p in points]
    assert energies == sorted(energies) and energies[0] > 0  # cumulative
    assert outcome.total_energy_j >= energies[-1]
    assert outcome.test_accuracy is not None and outcome.test_accuracy > 0.8


def test_runs_that_never_reach_the_target_are_censored_and_keep_their_energy(digits):
    outcome, points = run(digits, limits=Limits({"digit": 0.999}, max_epochs=2))
    assert outcome.status == CENSORED and "max_epochs" in outcome.stop_reason
    assert outcome.energy_to_target_j is None and outcome.total_energy_j > 0
    assert len(points) == 2 and points[-1].epoch == pytest.approx(2.0)  # one evaluation per epoch


def test_evaluations_per_epoch_are_evenly_spaced(digits):
    _, points = run(digits, limits=Limits({"digit": 0.999}, max_epochs=1, evals_per_epoch=4))
    assert [p.epoch for p in points] == pytest.approx([0.25, 0.25 * 2, 0.75, 1.0], abs=0.03)


def test_a_time_limit_censors(digits):
    outcome, _ = run(
        digits, limits=Limits({"digit": 0.999}, max_epochs=100, eval_every_steps=2, max_time_s=0.2)
    )
    assert outcome.status == CENSORED and "max_time_s" in outcome.stop_reason


def test_a_diverging_run_stops_and_is_recorded_with_its_energy(digits):
    task = digits.tasks["digit"]
    normal = classification_step(task)
    calls = {"n": 0}

    def exploding(model, batch):
        calls["n"] += 1
        loss = normal(model, batch)
        return loss * float("inf") if calls["n"] > 12 else loss

    outcome, _ = run(
        digits,
        limits=Limits({"digit": 0.999}, max_epochs=5, eval_every_steps=50),
        step_fn=exploding,
    )
    assert outcome.status == DIVERGED and outcome.total_energy_j > 0
    assert outcome.steps == 20  # caught at the next loss check, not at the evaluation


def test_an_exception_in_user_code_fails_the_run_with_what_it_spent(digits):
    def broken(model, batch):
        raise RuntimeError("shape mismatch in my model")

    outcome, _ = run(digits, step_fn=broken)
    assert outcome.status == FAILED and "shape mismatch in my model" in outcome.error
    assert outcome.total_energy_j >= 0 and outcome.test_accuracy is None


def test_the_same_seed_gives_the_same_run(digits):
    a, pa = run(digits, seed=3)
    b, pb = run(digits, seed=3)
    assert [p.val_accuracy for p in pa] == [p.val_accuracy for p in pb]
    assert a.steps == b.steps
