"""Stopping handlers: each sees every evaluation point; the first reason ends the loop."""

from __future__ import annotations

import math

import pytest

from powertrain.records import EvalPoint, Status, Verdict
from powertrain.train.stopping import (
    Diverged,
    MaxEnergy,
    MaxTime,
    Stop,
    TargetReached,
    first_stop,
)


def at(acc: float, elapsed_s: float = 1.0, loss: float | None = 0.5, energy_j: float = 5.0):
    return EvalPoint(0, 10, 1.0, 100, loss, acc, elapsed_s, {"cpu": energy_j}, {"a": acc})


def test_target_reached_ends_the_run_reached():
    handler = TargetReached({"a": 0.9})
    assert handler(at(0.89)) is None
    stop = handler(at(0.9))
    assert stop == Stop(Verdict.TARGET, "every target reached at step 10")
    assert stop.status is Status.REACHED and str(stop) == stop.reason


def test_limits_censor_and_divergence_diverges():
    stop = MaxTime(2.0)(at(0.1, elapsed_s=2.5))
    assert (stop.verdict, stop.status) == (Verdict.MAX_TIME, Status.CENSORED)
    assert MaxTime(2.0)(at(0.1, elapsed_s=1.0)) is None
    assert MaxEnergy(4.0)(at(0.1)).verdict is Verdict.MAX_ENERGY
    assert Diverged()(at(0.1, loss=math.nan)).status is Status.DIVERGED
    assert Diverged()(at(0.1, loss=None)) is None


def test_the_first_reason_wins_and_a_plain_string_is_the_callers_handler():
    point = at(0.95, elapsed_s=9.0)
    assert first_stop([TargetReached({"a": 0.9}), MaxTime(1.0)], point).status is Status.REACHED
    assert first_stop([lambda p: None], point) is None
    mine = first_stop([lambda p: "my own reason"], point)
    assert mine == Stop(Verdict.HANDLER, "my own reason") and mine.status is Status.CENSORED
    assert not isinstance(Stop(Verdict.DIVERGED, "x"), str)  # a verdict, not a string


def test_a_verdict_gives_the_status_and_only_the_searchs_say_a_search_stopped_the_run():
    assert Verdict.TARGET.status is Status.REACHED and Verdict.FAILED.status is Status.FAILED
    assert Verdict.RUNG_PAUSE.status is Status.CENSORED and Stop(Verdict.RUNG_PAUSE, "").pauses
    searched = {v for v in Verdict if v.by_search}
    assert searched == {
        Verdict.SEARCH_BOUND,
        Verdict.RUNG_PAUSE,
        Verdict.PREDICTED_MISS,
        Verdict.CONFIRMATION,
    }
    assert all(v.words for v in Verdict)


def test_limits_are_checked_at_the_edge():
    with pytest.raises(ValueError, match="seconds"):
        MaxTime(-1.0)
    with pytest.raises(ValueError, match="joules"):
        MaxEnergy(math.inf)


def test_a_handler_the_caller_adds_ends_the_loop_with_its_reason():
    import time

    import torch

    from powertrain.data.registry import load_dataset
    from powertrain.meters.base import Component
    from powertrain.models.registry import build_model
    from powertrain.monitor import Monitor
    from powertrain.train.config import TrainConfig
    from powertrain.train.loop import Limits, train_to_target
    from powertrain.train.sources import SingleSource
    from powertrain.train.steps import classification_step, evaluator
    from tests.fakes.meters import ConstantPowerMeter

    digits = load_dataset("digits")
    task = digits.tasks["digit"]
    seen: list[EvalPoint] = []

    def third_evaluation(point: EvalPoint) -> Stop | None:
        seen.append(point)
        return Stop(Verdict.HANDLER, "asked to stop") if len(seen) == 3 else None

    outcome = train_to_target(
        build_model("mlp", digits.input_shape, 10, hidden=(16,)),
        SingleSource(digits.train),
        TrainConfig(learning_rate=0.01, batch_size=32),
        Limits({"digit": 1.0}, max_epochs=5, eval_every_steps=2),
        Monitor([ConstantPowerMeter(Component.CPU, 50.0, time.monotonic)]),
        step_fn=classification_step(task),
        evaluate=evaluator({"digit": (digits.val, task, "digit", None)}),
        device=torch.device("cpu"),
        seed=0,
        handlers=[third_evaluation],
    )
    assert (outcome.status, outcome.stop_reason, outcome.steps) == (
        Status.CENSORED,
        "asked to stop",
        6,
    )
