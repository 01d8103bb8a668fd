"""track(): a user's own loop recorded as `powertrain run` records runs (scripted meters, memory store)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from powertrain import PowertrainError, track
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.records import CENSORED, DIVERGED, FAILED, REACHED, RUNNING
from powertrain.store.memory import MemoryStore
from tests.fakes.meters import ConstantPowerMeter


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def meters(clock):
    """10 W of CPU (estimated): every clock.advance(1) costs 10 J."""
    return Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )


def tracked(store, meters, **kw):
    kw = {"study": "mine", "setup": {"lr": 0.1}, "seed": 0, "target": 0.9, **kw}
    return track(**{"db": store, "detection": meters, "device": "cpu", **kw})


def test_reached_run_records_points_with_cumulative_energy(store, meters, clock):
    with tracked(store, meters) as run:
        for acc in (0.5, 0.8, 0.95, 0.99):
            clock.advance(1.0)
            if run.evaluate(val_accuracy=acc, step=10 * (run.points.__len__() + 1), train_loss=0.3):
                break
        clock.advance(1.0)  # after the target: counted in the total, not in energy-to-target
    [record] = store.runs("mine")
    assert record.status == REACHED and record.setup == {"lr": 0.1}
    o = record.outcome
    assert o.energy_to_target_j == pytest.approx(30.0) and o.total_energy_j == pytest.approx(40.0)
    assert o.steps_to_target == 30 and o.final_val_accuracy == 0.95
    points = store.eval_points(record.id)
    assert [p.step for p in points] == [10, 20, 30]
    assert [p.total_energy_j for p in points] == pytest.approx([10.0, 20.0, 30.0])
    assert record.provenance["cpu"]["method"] == "estimate" and record.estimated
    assert store.timeline(record.id)["energy_j"]["cpu"]  # the power timeline, as study runs keep


def test_leaving_the_block_without_reaching_is_censored(store, meters, clock):
    with tracked(store, meters) as run:
        clock.advance(2.0)
        assert run.evaluate(val_accuracy=0.4) is False
    [record] = store.runs("mine")
    assert record.status == CENSORED and "without reaching" in record.outcome.stop_reason
    assert record.outcome.energy_to_target_j is None
    assert record.outcome.total_energy_j == pytest.approx(20.0)


def test_a_fault_noted_during_the_block_is_stored_with_the_run(store, meters, clock):
    with tracked(store, meters) as run:
        clock.advance(1.0)
        meters.meters[Component.CPU].note_fault("counter reset, counted from its new zero")
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.4)
    [record] = store.runs("mine")
    assert record.outcome.faults == ["cpu: counter reset, counted from its new zero"]


def test_an_exception_fails_the_run_keeps_its_energy_and_goes_on_up(store, meters, clock):
    with pytest.raises(ZeroDivisionError), tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.3)
        clock.advance(3.0)
        1 / 0  # noqa: B018
    [record] = store.runs("mine")
    assert record.status == FAILED and "ZeroDivisionError" in record.outcome.error
    assert record.outcome.total_energy_j == pytest.approx(30.0)


def test_keyboard_interrupt_leaves_the_run_unfinished_and_it_is_begun_afresh(store, meters):
    with pytest.raises(KeyboardInterrupt), tracked(store, meters):
        raise KeyboardInterrupt
    assert [r.status for r in store.runs("mine")] == [RUNNING]
    with tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.95)
    assert [r.status for r in store.runs("mine")] == [REACHED]


def test_diverged_when_told_or_on_a_non_finite_loss(store, meters):
    with tracked(store, meters, seed=1) as run:
        assert run.evaluate(val_accuracy=0.2, train_loss=math.nan) is True
    with tracked(store, meters, seed=2) as run:
        run.diverged("gradient norm exploded")
        assert run.should_stop
    one, two = store.runs("mine")
    assert one.status == two.status == DIVERGED
    assert "nan" in one.outcome.stop_reason and two.outcome.stop_reason == "gradient norm exploded"


def test_several_tasks_stop_when_every_target_is_reached(store, meters, clock):
    with tracked(store, meters, target={"a": 0.9, "b": 0.8}) as run:
        clock.advance(1.0)
        assert not run.evaluate(val_accuracy={"a": 0.95, "b": 0.7})
        clock.advance(1.0)
        assert run.evaluate(val_accuracy={"a": 0.92, "b": 0.85})
        with pytest.raises(PowertrainError, match="one accuracy per task"):
            run.evaluate(val_accuracy=0.9)
        with pytest.raises(PowertrainError, match="names tasks"):
            run.evaluate(val_accuracy={"a": 0.9})
    [record] = store.runs("mine")
    assert record.status == REACHED and record.outcome.energy_to_target_j == pytest.approx(20.0)
    last = store.eval_points(record.id)[-1]
    assert last.task_accuracies == {"a": 0.92, "b": 0.85}
    assert last.val_accuracy == pytest.approx(0.885)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 90}, "fraction, not a percentage"),
        ({"target": math.nan}, r"\(0, 1\]"),
        ({"target": {}}, "at least one task"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"study": " "}, "study must be a non-empty name"),
        ({"setup": {"lr": object()}}, "setup value 'lr' is <object"),
        ({"setup": {"act": len}}, "setup value 'act' is <built-in function len>"),
        ({"train": {"sched": {"f": print}}}, "train value 'sched'"),
        ({"setup": {"": 0.1}}, "setup names must be non-empty strings, got ''"),
        ({"setup": {1: 0.1}}, "setup names must be non-empty strings, got 1"),
        ({"if_finished": "maybe"}, "if_finished"),
        ({"handlers": 5}, "handlers must be a list of callables"),
        ({"handlers": [5]}, "handlers must be callables .* got 5"),
        ({"handlers": "stop"}, "handlers must be a list of callables"),
        ({"db": 5}, "db must be a path to a results file or a results store, got 5"),
        ({"device": "quantum"}, "device 'quantum' is not a torch device"),
        ({"device": object()}, "device <object .* is not a torch device"),
        ({"trial": np.array([1, 2])}, "trial must be an Optuna trial or 'ray'.*ndarray"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(store, meters, kwargs, message):
    with pytest.raises(PowertrainError, match=message):
        tracked(store, meters, **kwargs)
    assert store.runs() == []


def test_numpy_scalars_in_a_setup_are_kept_as_the_numbers_they_hold(store, meters):
    setup = {
        "lr": np.float32(0.5),
        "batch": np.int64(32),
        "wide": np.bool_(True),
        "widths": [np.int32(8), 16],
    }
    with tracked(store, meters, setup=setup) as run:
        run.evaluate(val_accuracy=0.95)
    [record] = store.runs("mine")
    assert record.setup == {"lr": 0.5, "batch": 32, "wide": True, "widths": [8, 16]}
    assert [type(v) for v in record.setup.values()] == [float, int, bool, list]
    assert [type(v) for v in record.setup["widths"]] == [int, int]


@pytest.mark.parametrize("accuracy", [math.inf, math.nan, -0.1, 1.5, "high", None])
def test_bad_accuracies_are_refused_at_the_edge(store, meters, accuracy):
    with tracked(store, meters) as run:
        with pytest.raises(PowertrainError, match="val_accuracy"):
            run.evaluate(val_accuracy=accuracy)
        with pytest.raises(PowertrainError, match="step must not be negative"):
            run.evaluate(val_accuracy=0.5, step=-1)


def test_a_finished_run_is_refused_or_skipped(store, meters):
    with tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.95)
    with pytest.raises(PowertrainError, match="already finished: reached.*if_finished='skip'"):
        tracked(store, meters).__enter__()
    with tracked(store, meters, if_finished="skip") as run:
        assert run.skipped and run.evaluate(val_accuracy=0.1) is True
        assert run.outcome.status == REACHED
    assert len(store.runs("mine")) == 1
    with tracked(store, meters, seed=1) as run:  # another seed is another run
        run.evaluate(val_accuracy=0.95)
    assert len(store.runs("mine")) == 2


def test_a_failed_run_is_run_again_with_retry_failed(store, meters):
    with pytest.raises(RuntimeError), tracked(store, meters):
        raise RuntimeError("bug")
    with pytest.raises(PowertrainError, match="retry_failed=True"):
        tracked(store, meters).__enter__()
    with tracked(store, meters, retry_failed=True) as run:
        run.evaluate(val_accuracy=0.95)
    assert [r.status for r in store.runs("mine")] == [REACHED]


def test_a_study_keeps_one_target_and_file_studies_stay_apart(store, meters):
    with tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.95)
    with pytest.raises(PowertrainError, match="one target"):
        tracked(store, meters, target=0.8, seed=3).__enter__()
    store.save_study("paper", {"name": "paper", "task": {"dataset": "digits"}})
    with pytest.raises(PowertrainError, match="powertrain run"):
        tracked(store, meters, study="paper").__enter__()


def test_a_user_handler_ends_the_run_censored(store, meters, clock):
    budget = lambda p: "energy budget spent" if p.total_energy_j >= 20 else None  # noqa: E731
    with tracked(store, meters, handlers=[budget]) as run:
        clock.advance(1.0)
        assert not run.evaluate(val_accuracy=0.5)
        clock.advance(1.0)
        assert run.evaluate(val_accuracy=0.6)
    [record] = store.runs("mine")
    assert record.status == CENSORED and record.outcome.stop_reason == "energy budget spent"


def test_test_accuracy_is_kept_and_an_ended_run_refuses_more(store, meters):
    with tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.95)
        run.test(0.93)
    assert store.runs("mine")[0].outcome.test_accuracy == 0.93
    with pytest.raises(PowertrainError, match="already ended"):
        run.evaluate(val_accuracy=0.5)


def test_a_retry_of_a_failed_run_counts_the_failed_attempts_joules(store, meters, clock):
    """``retry_failed=True`` in a later launch: the joules the failed attempt spent were spent on
    this run, as a restart's or a requeue's are; the run's energy adds them, a note says how much
    came from which attempt, and the sum of an estimate stays labelled an estimate."""
    with pytest.raises(RuntimeError), tracked(store, meters) as run:
        clock.advance(3.0)
        run.evaluate(val_accuracy=0.5)
        clock.advance(1.0)
        raise RuntimeError("out of memory")
    [failed] = store.runs("mine")
    failed_j = failed.outcome.total_energy_j
    assert failed_j == pytest.approx(40.0)
    with tracked(store, meters, retry_failed=True) as run:
        clock.advance(2.0)
        run.evaluate(val_accuracy=0.95)
    [record] = store.runs("mine")
    o = record.outcome
    assert record.status == REACHED and o.total_energy_j == pytest.approx(failed_j + 20.0)
    assert o.energy_to_target_j == pytest.approx(20.0)  # this attempt's own points
    [note] = [f for f in o.faults if "earlier attempt" in f]
    assert f"run {failed.id}" in note and "40.0 J" in note and "out of memory" in note
    assert "retry_failed=True began it again" in note  # what began it again
    assert record.provenance["cpu"]["estimated"] and record.estimated
