"""Stopping handlers: each sees every evaluation point; the first reason ends the loop."""

from __future__ import annotations

import math

import pytest

from powertrain.records import EvalPoint, Status
from powertrain.train.stopping import (
    Diverged,
    MaxEnergy,
    MaxTime,
    Stop,
    TargetReached,
    first_stop,
    status_of,
)


def at(acc: float, elapsed_s: float = 1.0, loss: float | None = 0.5, energy_j: float = 5.0):
    return EvalPoint(0, 10, 1.0, 100, loss, acc, elapsed_s, {"cpu": energy_j}, {"a": acc})


def test_target_reached_ends_the_run_reached():
    handler = TargetReached({"a": 0.9})
    assert handler(at(0.89)) is None
    stop = handler(at(0.9))
    assert stop == "every target reached at step 10" and status_of(stop) is Status.REACHED


def test_limits_censor_and_divergence_diverges():
    assert status_of(MaxTime(2.0)(at(0.1, elapsed_s=2.5))) is Status.CENSORED
    assert MaxTime(2.0)(at(0.1, elapsed_s=1.0)) is None
    assert status_of(MaxEnergy(4.0)(at(0.1))) is Status.CENSORED
    assert status_of(Diverged()(at(0.1, loss=math.nan))) is Status.DIVERGED
    assert Diverged()(at(0.1, loss=None)) is None


def test_the_first_reason_wins_and_a_plain_string_censors():
    point = at(0.95, elapsed_s=9.0)
    assert status_of(first_stop([TargetReached({"a": 0.9}), MaxTime(1.0)], point)) is Status.REACHED
    assert first_stop([lambda p: None], point) is None
    assert status_of(first_stop([lambda p: "my own reason"], point)) is Status.CENSORED
    assert isinstance(Stop("x", Status.DIVERGED), str)


def test_limits_are_checked_at_the_edge():
    with pytest.raises(ValueError, match="seconds"):
        MaxTime(-1.0)
    with pytest.raises(ValueError, match="joules"):
        MaxEnergy(math.inf)
