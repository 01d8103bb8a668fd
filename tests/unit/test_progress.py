"""What `powertrain run` prints while it runs, without a terminal (as in CI logs)."""

from __future__ import annotations

import io

from powertrain.progress import ProgressReporter, print_run_summary
from powertrain.records import EvalPoint, RunOutcome, Stage, Verdict
from powertrain.study.config import parse_study
from tests.conftest import FakeClock

STUDY = parse_study(
    {
        "name": "s",
        "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.9, "max_epochs": 4},
        "grid": {"learning_rate": [0.01, 0.1]},
        "seeds": [0, 1],
    }
)
METHOD = "ESTIMATE (cpu estimate, ram estimate)"


def point(epoch: float, acc: float, energy_j: float) -> EvalPoint:
    return EvalPoint(0, 10, epoch, 100, 0.5, acc, 1.0, {"cpu": energy_j})


def outcome(energy_j: float, reached: bool, duration_s: float = 10.0) -> RunOutcome:
    return RunOutcome(
        "reached" if reached else "censored",
        "target reached" if reached else "max_epochs (5) reached",
        energy_j,
        {"cpu": energy_j},
        duration_s,
        50,
        final_val_accuracy=0.91 if reached else 0.8,
        energy_to_target_j=energy_j if reached else None,
        verdict=Verdict.TARGET if reached else Verdict.MAX_EPOCHS,
    )


def test_plain_output_says_the_method_once_and_estimates_the_time_left_from_the_runs_done():
    out, clock = io.StringIO(), FakeClock()
    reporter = ProgressReporter(out, method=METHOD, clock=clock, plain_every_s=5)
    setups = STUDY.setups()
    reporter.study_started(STUDY, total=4, to_run=3)
    reporter.run_started(setups[0], 1)
    clock.advance(6)
    reporter.eval_point(point(0.5, 0.7, 12.0))
    clock.advance(14)
    reporter.run_finished(setups[0], 1, outcome(30.0, True), METHOD)
    reporter.run_started(setups[1], 0)
    clock.advance(5)
    reporter.eval_point(point(1.25, 0.85, 8.0))
    reporter.close()
    text = out.getvalue()
    assert "\x1b" not in text  # no colour or cursor codes in a log
    assert text.count("ESTIMATE") == 1 and "energy: ESTIMATE" in text.splitlines()[1]
    assert "resuming: 1 finished runs skipped" in text
    assert "learning_rate=0.01 seed=1: epoch 0.50/4, val_acc 0.700/0.9, 12.0 J" in text
    assert "[1/3] reached   learning_rate=0.01 seed=1: 30.0 J to target" in text
    # two runs left at 20 s each, 5 s into the current one: 35 s
    assert "learning_rate=0.1 seed=0: epoch 1.25/4, val_acc 0.850/0.9, 8.0 J" in text
    assert "study 38 J so far, ~35 s left" in text


def test_time_left_is_unknown_before_a_run_finishes_and_zero_after_the_last():
    clock = FakeClock()
    reporter = ProgressReporter(io.StringIO(), method=METHOD, clock=clock)
    reporter.study_started(STUDY, total=1, to_run=1)
    setup = STUDY.setups()[0]
    reporter.run_started(setup, 0)
    assert reporter.time_left_s() is None
    clock.advance(10)
    reporter.run_finished(setup, 0, outcome(5.0, False), METHOD)
    assert reporter.time_left_s() == 0.0


def test_without_a_method_up_front_it_is_said_at_the_first_finished_run_only():
    out = io.StringIO()
    reporter = ProgressReporter(out, clock=FakeClock())
    reporter.study_started(STUDY, total=4, to_run=4)
    for setup, seed in STUDY.runs()[:2]:
        reporter.run_started(setup, seed)
        reporter.run_finished(setup, seed, outcome(5.0, False), METHOD)
    text = out.getvalue()
    assert text.count(METHOD) == 1
    assert (
        "target not reached (ran to max_epochs: max_epochs (5) reached); 5.0 J spent, val_acc 0.800"
        in text
    )


def test_the_summary_names_the_next_command():
    out = io.StringIO()
    print_run_summary([], 3, 1, "runs/x.db", "s", file=out)
    assert out.getvalue().splitlines() == [
        "3 runs done, 1 already finished; results in runs/x.db",
        "next: powertrain report --db runs/x.db --study s",
    ]


def test_on_a_terminal_it_draws_bars_and_leaves_only_the_lines():
    out = io.StringIO()
    reporter = ProgressReporter(out, method=METHOD, live=True, clock=FakeClock())
    reporter.console.force_terminal = True
    reporter.study_started(STUDY, total=4, to_run=4)
    setup = STUDY.setups()[0]
    reporter.run_started(setup, 0)
    reporter.eval_point(point(1.0, 0.8, 3.0))
    reporter.run_finished(setup, 0, outcome(4.0, True), METHOD)
    reporter.close()
    assert reporter.progress is None
    assert "reached   learning_rate=0.01 seed=0: 4.0 J to target" in out.getvalue()


def test_a_pretraining_stage_is_shown_but_not_counted_among_the_grids_runs():
    from dataclasses import replace

    out, clock = io.StringIO(), FakeClock()
    reporter = ProgressReporter(out, method=METHOD, clock=clock)
    reporter.study_started(STUDY, total=4, to_run=4)
    stage = replace(STUDY.setups()[0], varied={"dataset": "digits"}, stage=Stage.PRETRAIN)
    reporter.run_started(stage, 0)
    clock.advance(30)
    reporter.run_finished(stage, 0, outcome(9.0, False), METHOD)
    assert reporter.done == 0 and reporter.time_left_s() is None
    assert "pretrain dataset=digits seed=0: target not reached" in out.getvalue()


def test_each_run_keeps_one_number_when_a_search_pauses_it_and_goes_on_with_it_later():
    # A search starts A, pauses it (told when the search ends, if not continued), starts B, then
    # continues A: "[1/4]" is A's number throughout, B is run 2, and no number names two runs.
    out = io.StringIO()
    reporter = ProgressReporter(out, method=METHOD, clock=FakeClock())
    reporter.study_started(STUDY, total=4, to_run=4)
    (a, _), (b, _) = STUDY.runs()[0], STUDY.runs()[2]
    reporter.run_started(a, 0)
    reporter.run_started(b, 0)  # A paused: nothing told yet
    reporter.run_finished(b, 0, outcome(5.0, False), METHOD)
    reporter.run_started(a, 0)  # A goes on
    reporter.run_finished(a, 0, outcome(4.0, True), METHOD)
    reporter.run_started(b, 1)
    lines = out.getvalue().splitlines()
    numbers = [line.split("]")[0] + "]" for line in lines if line.startswith("[")]
    assert numbers == ["[1/4]", "[2/4]", "[2/4]", "[1/4]", "[1/4]", "[3/4]"]
    assert "[1/4] learning_rate=0.01 seed=0: started again" in lines
    assert reporter.done == 2
