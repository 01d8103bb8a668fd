"""A pricing window's warm-up is not priced (as Zeus profiles a power limit over 40 iterations after
10 of warm-up): a run paused after step W of its window is priced by the energy of steps (W // 5, W],
read at the end of those steps, before its checkpoint is saved; what it spent in all stays its
whole reading. Here the energy is a counter that the step function and the checkpoint's save advance
(the digits MLP on the CPU, one run a value), so every figure is known exactly."""

from __future__ import annotations

import dataclasses
import itertools
import json
import sqlite3

import pytest
import torch

from powertrain.data.registry import load_dataset
from powertrain.meters.base import Component
from powertrain.models.registry import build_model
from powertrain.monitor import Monitor
from powertrain.records import CENSORED, EvalPoint, RunOutcome, Verdict
from powertrain.search.cost_axes import WINDOW_J, Priced, price
from powertrain.search.live import search_handlers
from powertrain.search.simulate import setup_key
from powertrain.search.space import History, Space, Start, Trial
from powertrain.search.strategies import Grid
from powertrain.store.sqlite import SqliteStore
from powertrain.testing.store_contract import begin
from powertrain.train.checkpoint import Checkpoint, Spent
from powertrain.train.config import TrainConfig
from powertrain.train.limits import Limits
from powertrain.train.loop import train_to_target
from powertrain.train.sources import SingleSource
from powertrain.train.steps import classification_step, evaluator
from tests.conftest import FakeClock
from tests.fakes.meters import ConstantPowerMeter

EVERY, WINDOW = 100, 0.1  # the window pauses after step 10; its first 2 are warm-up
WARMUP_STEPS = 2


@dataclasses.dataclass(frozen=True)
class CostlySave(Checkpoint):
    """A checkpoint whose save adds ``save_j`` to the meter's counter ``joules``."""

    joules: list[float] = dataclasses.field(default_factory=lambda: [0.0])
    save_j: float = 0.0

    def save_state(self, state) -> str:
        self.joules[0] += self.save_j
        return super().save_state(state)


class SlowCounter(ConstantPowerMeter):
    """A meter whose reading moves every ``period_s`` (as NVML's counter, every 100 ms)."""

    def __init__(self, period_s: float, joules: list[float]) -> None:
        super().__init__(Component.CPU, 1.0, lambda: joules[0])
        self.period_s = period_s

    def update_period_s(self) -> float:
        return self.period_s


def window_run(
    tmp_path,
    warm_j: float,
    step_j: float,
    save_j=0.0,
    window=WINDOW,
    step_s=0.0,
    period_s=0.0,
    handlers=(),
    points=None,
    fault_at=None,
    earlier=None,
) -> RunOutcome:
    """A run of the digits MLP with a pricing window: its first steps cost ``warm_j`` each
    (start-up), the rest ``step_j`` (and ``step_s`` seconds each on the monitor's clock); its
    checkpoint's save ``save_j``; its meter moves every ``period_s``; its evaluations asked of
    ``handlers`` and appended to ``points``; at step ``fault_at`` the meter notes a fault; it goes on
    from ``earlier`` (its checkpoint's summary) where given."""
    joules = [0.0]  # the meter's counter, read as a clock by a 1 W meter: joules
    clock = FakeClock()
    digits = load_dataset("digits")
    task = digits.tasks["digit"]
    inner, steps = classification_step(task), itertools.count(1)

    meter = SlowCounter(period_s, joules)

    def step(model, batch):
        n = next(steps)
        joules[0] += warm_j if n <= WARMUP_STEPS else step_j
        if n == fault_at:
            meter.note_fault(f"a reading at step {n} went back")
        clock.advance(step_s)
        return inner(model, batch)

    checkpoint = CostlySave(
        tmp_path / "run.pt", "run", "sha", earlier, joules=joules, save_j=save_j
    )
    return train_to_target(
        build_model("mlp", digits.input_shape, 10, hidden=(16,)),
        SingleSource(digits.train),
        TrainConfig(learning_rate=0.05, batch_size=32),
        Limits({"digit": 1.0}, max_epochs=5, eval_every_steps=EVERY, window=window),
        Monitor([meter], clock=clock, sample=False),
        step_fn=step,
        evaluate=evaluator({"digit": (digits.val, task, "digit", None)}),
        device=torch.device("cpu"),
        seed=0,
        checkpoint=checkpoint,
        handlers=handlers,
        on_eval=(points if points is not None else []).append,
    )


def test_the_loop_prices_the_steps_after_the_warm_up_and_before_the_save(tmp_path):
    outcome = window_run(tmp_path, warm_j=50.0, step_j=1.0, save_j=20.0)
    assert outcome.verdict is Verdict.RUNG_PAUSE and outcome.steps == 10
    assert (tmp_path / "run.pt").is_file()  # paused with its checkpoint
    assert outcome.priced_steps == 10 - 10 // 5
    assert outcome.priced_energy_j == pytest.approx(8 * 1.0)  # steps 3 to 10
    # all it spent: the warm-up's and the save's joules too
    assert outcome.total_energy_j == pytest.approx(2 * 50.0 + 8 * 1.0 + 20.0)
    assert outcome.priced_energy_j < outcome.total_energy_j


def test_a_window_too_short_for_its_meters_updates_goes_on_until_it_has_lasted_twenty(tmp_path):
    # A meter moving every 0.25 s: the window's priced part lasts 5 s at least; its 8 steps of
    # 0.25 s do not, 20 do (steps 3 to 22), well before the first evaluation (100).
    outcome = window_run(tmp_path, warm_j=50.0, step_j=1.0, step_s=0.25, period_s=0.25)
    assert outcome.verdict is Verdict.RUNG_PAUSE and outcome.steps == 2 + 20
    assert outcome.stop_reason.startswith("priced over its first 22 of the 100 steps")
    assert outcome.priced_steps == 20  # its warm-up is still the first fifth of the 10 planned
    assert outcome.priced_energy_j == pytest.approx(20 * 1.0)
    # a meter read at every step: the 10 steps planned
    assert window_run(tmp_path / "every", 50.0, 1.0, step_s=0.25, period_s=0.0).steps == 10


def test_a_window_the_first_evaluation_comes_before_is_priced_there_by_the_searchs_budget(tmp_path):
    # A meter moving every 2 s: the priced part would last 40 s, 160 steps of 0.25 s; the first
    # evaluation (step 100) comes first, and the search's budget pauses the run there.
    budget = search_handlers(Start("s", 0, WINDOW_J, WINDOW), lambda point: None)
    points: list = []
    outcome = window_run(
        tmp_path, 50.0, 1.0, step_s=0.25, period_s=2.0, handlers=budget, points=points
    )
    assert outcome.verdict is Verdict.RUNG_PAUSE and outcome.steps == EVERY
    assert len(points) == 1 and "halving" not in outcome.stop_reason  # a pricing, not a rung
    assert outcome.stop_reason.startswith("priced at its first evaluation")
    assert (outcome.priced_steps, outcome.priced_energy_j) == (None, None)  # no window span
    trial = Trial("s", 0)
    trial.ended(outcome, points)
    assert trial.window_progress is None  # priced at its first evaluation instead
    assert price(trial) == pytest.approx((2 * 50.0 + 98 * 1.0) / EVERY)


def test_a_run_evaluated_before_its_window_lasted_long_enough_never_pauses_in_it(tmp_path):
    # No budget (the loop on its own): the window ends at the first evaluation; the run trains on
    # as one without a window, never pausing after it has evaluated.
    points: list = []
    outcome = window_run(tmp_path, 50.0, 1.0, step_s=0.25, period_s=2.0, points=points)
    plain = window_run(tmp_path / "plain", 50.0, 1.0, step_s=0.25, period_s=2.0, window=None)
    assert outcome.verdict is Verdict.MAX_EPOCHS and outcome.stop_reason == plain.stop_reason
    assert outcome.steps == plain.steps and len(points) > 1
    assert (outcome.priced_steps, outcome.priced_energy_j) == (None, None)


def test_a_run_that_does_not_pause_in_its_window_carries_no_span(tmp_path):
    outcome = window_run(tmp_path, warm_j=50.0, step_j=1.0, window=None)
    assert outcome.verdict is Verdict.MAX_EPOCHS and outcome.steps > 10
    assert (outcome.priced_steps, outcome.priced_energy_j) == (None, None)


def test_the_value_priced_first_pays_the_warm_up_and_is_still_picked_when_cheaper(tmp_path):
    # 200 W is priced first: the process's start-up lands on it; per step it is the cheaper
    runs = {
        200.0: window_run(tmp_path / "200", warm_j=30.0, step_j=1.0),
        300.0: window_run(tmp_path / "300", warm_j=1.3, step_j=1.3),
    }
    keys = {w: setup_key({"learning_rate": 0.1, "gpu_power_limit_w": w}) for w in runs}
    history = History(Space(tuple(keys.values()), {k: (0,) for k in keys.values()}))
    priced = Priced(Grid())
    assert len(priced.next_runs(history)) == 2  # each value priced over its window
    for watts, outcome in runs.items():
        trial = history.trials[(keys[watts], 0)] = Trial(keys[watts], 0)
        trial.ended(outcome, [])
        assert trial.paused and trial.energy_j == outcome.total_energy_j  # all it spent counts
        assert trial.window_progress == 8 and trial.window_energy_j == outcome.priced_energy_j
    # the whole reading (warm-up and all, as before) would price 200 W dearer: (60 + 8) / 10
    whole = {w: o.total_energy_j / o.steps for w, o in runs.items()}
    assert whole[200.0] > whole[300.0]
    assert priced.next_runs(history)  # priced: the grid goes on over the cheapest value only
    assert priced.view.space.setups == (keys[200.0],)
    assert priced.prices == {
        keys[200.0]: pytest.approx(1.0),
        keys[300.0]: pytest.approx(1.3),
    }
    assert price(history.trials[(keys[200.0], 0)]) == pytest.approx(1.0)


def test_an_outcome_stored_before_the_span_was_kept_loads_and_is_priced_as_then(tmp_path):
    paused = RunOutcome(CENSORED, "priced", 12.0, {"cpu": 12.0}, 1.0, 4, verdict=Verdict.RUNG_PAUSE)
    old = {k: v for k, v in paused.to_dict().items() if not k.startswith("priced_")}
    old.pop("verdict")  # its own column, as the store keeps it
    path = tmp_path / "r.db"
    with SqliteStore(path) as store:
        store.save_study("st", {})
        run_id = begin(store)
        store.finish_run(run_id, paused)
    with sqlite3.connect(path) as db:  # the outcome as an older powertrain wrote it
        db.execute("UPDATE runs SET outcome = ? WHERE id = ?", (json.dumps(old), run_id))
    with SqliteStore(path) as store:
        (run,) = store.runs("st")
    assert run.outcome == paused and run.outcome.priced_steps is None
    trial = Trial("s", 0)
    trial.ended(run.outcome, [])
    assert (trial.window_progress, trial.window_energy_j) == (4.0, 12.0)
    assert price(trial) == pytest.approx(3.0)


def test_a_fault_before_a_pause_stays_with_the_run_it_continues(tmp_path):
    """The run's figure includes what its paused attempt spent, so its outcome keeps what that
    attempt's window noted, marked as from before the pause (a later attempt's own come after)."""
    paused = window_run(tmp_path, warm_j=1.0, step_j=1.0, fault_at=4)
    assert paused.verdict is Verdict.RUNG_PAUSE and paused.faults == [
        "cpu: a reading at step 4 went back"
    ]
    spent = Checkpoint(tmp_path / "run.pt", "run", "sha").spent()
    assert spent.faults == ("before a pause: cpu: a reading at step 4 went back",)
    whole = window_run(tmp_path, 1.0, 1.0, window=None, fault_at=30, earlier=spent)
    assert whole.verdict is not Verdict.RUNG_PAUSE and whole.steps > paused.steps
    assert whole.faults == [
        "before a pause: cpu: a reading at step 4 went back",
        "cpu: a reading at step 30 went back",
    ]


def test_faults_before_two_pauses_are_kept_once_each_with_one_mark(tmp_path):
    """A run paused twice: the second pause's summary holds the first attempt's faults as they
    were saved (not marked again) and its own, marked once; the run's outcome holds each once."""
    first = window_run(tmp_path, warm_j=1.0, step_j=1.0, fault_at=4)
    assert first.verdict is Verdict.RUNG_PAUSE
    spent = Checkpoint(tmp_path / "run.pt", "run", "sha").spent()
    second = window_run(tmp_path, 1.0, 1.0, window=2 * WINDOW, fault_at=2, earlier=spent)
    assert second.verdict is Verdict.RUNG_PAUSE, second.stop_reason
    again = Checkpoint(tmp_path / "run.pt", "run", "sha").spent()
    assert again.faults == (
        "before a pause: cpu: a reading at step 4 went back",
        "before a pause: cpu: a reading at step 2 went back",
    )
    whole = window_run(tmp_path, 1.0, 1.0, window=None, earlier=again)
    assert whole.faults == list(again.faults)


def test_a_run_continued_after_its_window_keeps_the_span_its_window_priced(tmp_path):
    """Its final outcome carries the window's span (through the checkpoint's summary), so that a
    search, live or replayed, prices it on the footing of the values left paused in theirs, not
    from its first evaluation (which also pays the warm-up, the save and the resume)."""
    paused = window_run(tmp_path, warm_j=50.0, step_j=1.0, save_j=20.0)
    spent = Checkpoint(tmp_path / "run.pt", "run", "sha").spent()
    assert spent.priced == (8, pytest.approx(8.0))
    whole = window_run(tmp_path, 1.0, 1.0, window=None, earlier=spent)
    assert whole.verdict is not Verdict.RUNG_PAUSE and whole.steps > paused.steps
    assert (whole.priced_steps, whole.priced_energy_j) == (8, pytest.approx(8.0))


def test_a_summary_saved_before_faults_were_kept_still_resumes(tmp_path):
    """A checkpoint an older powertrain paused has no "faults" in its summary: it still loads, with
    none, and the run goes on from it."""
    window_run(tmp_path, warm_j=1.0, step_j=1.0)
    checkpoint = Checkpoint(tmp_path / "run.pt", "run", "sha")
    summary = json.loads(checkpoint.summary_path.read_text())
    del summary["faults"], summary["priced"]
    checkpoint.summary_path.write_text(json.dumps(summary))
    spent = checkpoint.spent()
    assert spent is not None and spent.faults == ()
    whole = window_run(tmp_path, 1.0, 1.0, window=None, earlier=spent)
    assert whole.verdict is not Verdict.RUNG_PAUSE and whole.faults == []
    assert whole.priced_steps is None  # its span was not kept then


SUMMARIES_OF_THE_WRONG_SHAPE = {
    "faults as one text": {"faults": "cpu: a reading went back"},
    "faults not text": {"faults": [1, {"fault": "cpu: a reading went back"}]},
    "faults as an object": {"faults": {"cpu": "a reading went back"}},
    "energy as a list": {"energy_j": [1.0]},
    "energy not a number": {"energy_j": {"cpu": float("nan")}},
    "energy below zero": {"energy_j": {"cpu": -1.0}},
    "duration endless": {"duration_s": float("inf")},
    "priced span not a pair": {"priced": [8]},
    "priced span of no steps": {"priced": [0, 1.0]},
    "priced span as text": {"priced": "8 steps"},
}
POINT = {
    "index": 0,
    "step": 10,
    "epoch": 0.5,
    "samples_seen": 640,
    "train_loss": 1.2,
    "val_accuracy": 0.8,
    "elapsed_s": 1.0,
    "energy_j": {"cpu": 2.0},
    "task_accuracies": {"digits": 0.8},
}
POINTS_OF_THE_WRONG_SHAPE = {
    "a point's energy as a list": {"energy_j": [2.0]},
    "a point's energy as text": {"energy_j": {"cpu": "2.0"}},
    "a point's step as text": {"step": "10"},
    "a point's accuracy null": {"val_accuracy": None},
    "a point's loss as a flag": {"train_loss": True},
    "a point's accuracies as a list": {"task_accuracies": [0.8]},
}
SUMMARIES_OF_THE_WRONG_SHAPE |= {
    name: {"points": [{**POINT, **change}]} for name, change in POINTS_OF_THE_WRONG_SHAPE.items()
}


@pytest.mark.parametrize(
    "change", SUMMARIES_OF_THE_WRONG_SHAPE.values(), ids=list(SUMMARIES_OF_THE_WRONG_SHAPE)
)
def test_a_summary_of_the_wrong_shape_is_not_resumed(tmp_path, caplog, change):
    """A damaged or hand-edited summary is not resumed (one log line, and the run starts afresh):
    its faults are not split into letters or read from what is not text, nor does it end in a
    traceback."""
    checkpoint = Checkpoint(tmp_path / "run.pt", "run", "sha")
    checkpoint.save_state({})
    checkpoint.save_spent(Spent({"cpu": 1.0}, 1.0, [], ("cpu: a reading went back",)))
    summary = json.loads(checkpoint.summary_path.read_text())
    checkpoint.summary_path.write_text(json.dumps({**summary, **change}))
    assert checkpoint.spent() is None
    assert "cannot be read" in caplog.text and not checkpoint.path.exists()


NOT_JSON_OBJECTS = {
    "a list": "[]",
    "a text": '"run"',
    "a number": "3",
    "null": "null",
    "nested too deep": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("text", NOT_JSON_OBJECTS.values(), ids=list(NOT_JSON_OBJECTS))
def test_a_summary_that_is_not_a_json_object_is_not_resumed(tmp_path, caplog, text):
    checkpoint = Checkpoint(tmp_path / "run.pt", "run", "sha")
    checkpoint.save_state({})
    checkpoint.summary_path.write_text(text)
    assert checkpoint.spent() is None
    assert "cannot be read" in caplog.text and not checkpoint.path.exists()


def test_a_summary_of_the_right_shape_is_resumed_with_its_points(tmp_path):
    checkpoint = Checkpoint(tmp_path / "run.pt", "run", "sha")
    checkpoint.save_state({})
    checkpoint.save_spent(Spent({"cpu": 2.0}, 1.0, [EvalPoint(**POINT)]))
    spent = checkpoint.spent()
    assert spent is not None and spent.points == [EvalPoint(**POINT)]
    assert spent.points[0].total_energy_j == 2.0
