"""A run's pricing window (``RunSpec.window``, ``Limits.window``): a run with no evaluation yet pauses
once it has trained a share of the steps to its first evaluation, with no point, its state saved mid
epoch; continued from its checkpoint it trains exactly as an uninterrupted run (CPU, one thread). A
window that would not end before the first evaluation changes nothing."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from powertrain.records import CENSORED, Verdict
from powertrain.search.sink import DeferringSink, Tagged
from powertrain.search.space import Trial
from powertrain.store import open_store
from powertrain.study.artifacts import model_path
from powertrain.study.execute import StoreSink, execute_run
from powertrain.study.plan import plan
from powertrain.study.resume import StudyPlace, paused_spent, run_checkpoint, spec_sha256
from powertrain.train.limits import Limits
from powertrain.train.stopping import PAUSED_NOTE
from tests.unit.test_resume import Sink, curve, env_for, study


def test_the_first_evaluation_and_the_window_step_follow_the_schedule():
    every = Limits({}, 3, eval_every_steps=40, window=0.1)
    assert every.first_due(20) == 40  # across epochs: every 40 steps
    pause = every.window_pause(20)
    at, stop = pause.at, pause.stop(pause.at)
    assert at == 4 and pause.warmup == 0 and stop.verdict is Verdict.RUNG_PAUSE and stop.pauses
    words = "priced over its first 4 of the 40 steps to its first evaluation"
    assert stop.reason == f"{words} {PAUSED_NOTE}"
    per_epoch = Limits({}, 3, evals_per_epoch=3, window=0.5)
    assert per_epoch.first_due(20) == 7  # ceil(20 / 3)
    assert per_epoch.window_pause(20).at == 4  # ceil(3.5)
    assert Limits({}, 3, eval_every_steps=40, window=1e-9).window_pause(20).at == 1  # at least one
    assert Limits({}, 3, eval_every_steps=40).window_pause(20) is None  # no window
    # A window that reaches the first evaluation: none (the evaluation pauses it through the budget).
    assert Limits({}, 3, evals_per_epoch=3, window=0.9).window_pause(20) is None  # ceil(6.3) = 7
    assert Limits({}, 3, eval_every_steps=1, window=0.1).window_pause(20) is None


def test_the_window_is_neither_the_run_key_nor_the_checkpoints_spec():
    (spec,) = plan(study(), [])
    windowed = dataclasses.replace(spec, window=0.1)
    assert windowed.run_key == spec.run_key and spec_sha256(windowed) == spec_sha256(spec)


@pytest.mark.parametrize(
    ("task", "train", "window", "paused_at"),
    [
        ({}, {}, 0.5, 4),  # 3 evaluations an epoch of 20 steps: the first after step 7
        ({"eval_every_steps": 30}, {"optimizer": "adam"}, 0.1, 3),  # the first in the 2nd epoch
        ({"eval_every_steps": 30}, {}, 0.8, 24),  # paused in the second epoch
    ],
)
def test_a_run_paused_in_its_window_resumes_exactly_as_an_uninterrupted_one(
    tmp_path, task, train, window, paused_at
):
    s = dataclasses.replace(study(task, **train), save_models=True)  # the final weights kept
    (spec,) = plan(s, [])
    whole = Sink()
    _, uninterrupted = _execute(spec, s, tmp_path / "whole", whole)

    sink = Sink()
    env, first = _execute(dataclasses.replace(spec, window=window), s, tmp_path, sink)
    assert first.status == CENSORED and first.verdict is Verdict.RUNG_PAUSE
    assert first.stop_reason.startswith(f"priced over its first {paused_at} of the")
    assert first.steps == paused_at and first.final_val_accuracy is None
    assert first.test_accuracy is None and first.total_energy_j > 0
    assert sink.records[1]["points"] == []  # no evaluation in the window
    spent = paused_spent(spec, env)
    assert spent is not None and spent.points == [] and run_checkpoint(spec, env).path.is_file()
    assert spent.total_energy_j == pytest.approx(first.total_energy_j)

    # Continued (the search hands the spec out again without a window; the record goes on).
    resumed = execute_run(spec, env_for(s, tmp_path), sink, run_id=1, resume=True)
    points = sink.records[1]["points"]
    assert curve(points) == curve(whole.records[1]["points"])  # same batches, draws and losses
    assert resumed.steps == uninterrupted.steps
    assert resumed.final_val_accuracy == uninterrupted.final_val_accuracy
    assert resumed.test_accuracy == uninterrupted.test_accuracy is not None
    assert points[0].total_energy_j > first.total_energy_j  # the window's energy counted in
    weights = [
        torch.load(model_path(d, s.name, spec.run_key)) for d in (tmp_path / "whole", tmp_path)
    ]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # to the bit
    assert not list(tmp_path.rglob("checkpoints/*"))  # the checkpoint removed at the end


def test_a_window_still_set_on_the_continued_attempt_does_not_pause_it_again(tmp_path):
    s = study()
    (spec,) = plan(s, [])
    windowed = dataclasses.replace(spec, window=0.5)
    sink = Sink()
    _execute(windowed, s, tmp_path, sink)
    resumed = execute_run(windowed, env_for(s, tmp_path), sink, run_id=1, resume=True)
    assert len(sink.records[1]["points"]) == 9 and resumed.verdict is Verdict.MAX_EPOCHS


def test_a_window_that_reaches_the_first_evaluation_changes_nothing(tmp_path):
    s = study()
    (spec,) = plan(s, [])
    plain, windowed = Sink(), Sink()
    _, before = _execute(spec, s, tmp_path / "plain", plain)
    _, after = _execute(dataclasses.replace(spec, window=0.9), s, tmp_path / "w", windowed)
    assert curve(windowed.records[1]["points"]) == curve(plain.records[1]["points"])
    assert (after.verdict, after.steps) == (before.verdict, before.steps)
    assert before.verdict is Verdict.MAX_EPOCHS and before.steps == 60


def _execute(spec, s, folder, sink):
    env = env_for(s, folder)
    return env, execute_run(spec, env, sink)


def test_the_searchs_sink_stores_a_window_pause_at_once_and_resumes_it_from_its_checkpoint(
    tmp_path,
):
    """A pause goes into the store as it pauses (a search killed later keeps it); continuing it
    begins a record from its checkpoint's points, which replaces the pause when it finishes."""
    s = study()
    (spec,) = plan(s, [])
    windowed = dataclasses.replace(spec, window=0.5)
    env = env_for(s, tmp_path)
    with open_store(tmp_path / "r.db") as store:
        store.save_study(s.name, s.to_dict())
        sink = DeferringSink(StoreSink(store), StudyPlace(s, tmp_path))
        tagged = [Tagged(lambda point: None)]  # no search handler fires: the loop pauses itself
        trial = Trial("lr", spec.seed)
        assert sink.start(windowed, trial, tagged) is None  # a new run
        first = execute_run(windowed, env, sink)
        assert first.verdict is Verdict.RUNG_PAUSE and spec.run_key in sink.paused
        (pause,) = store.runs()
        assert pause.outcome.verdict is Verdict.RUNG_PAUSE  # finished in the store at once
        assert pause.outcome.stop_reason.endswith("(not promoted)")
        trial.ended(first, sink.points[spec.run_key])
        assert trial.paused and trial.points == [] and trial.window_progress == 4

        run_id = sink.start(spec, trial, tagged)  # continued: from its checkpoint
        assert run_id != pause.id and trial.earlier_j == 0 and spec.run_key not in sink.paused
        trial.again()
        done = execute_run(spec, env, sink, run_id=run_id, resume=True)
        (record,) = store.runs()  # the pause replaced, once the continued run finished
        assert record.id == run_id and record.outcome.verdict is done.verdict is Verdict.MAX_EPOCHS
        assert len(store.eval_points(record.id)) == 9 and len(trial.points) == 9


def test_a_window_pause_not_continued_stays_stored_and_its_checkpoint_is_said_at_the_end(
    tmp_path, caplog
):
    s = study()
    (spec,) = plan(s, [])
    with open_store(tmp_path / "r.db") as store:
        store.save_study(s.name, s.to_dict())
        sink = DeferringSink(StoreSink(store), StudyPlace(s, tmp_path))
        trial = Trial("lr", spec.seed)
        sink.start(spec, trial, [])
        paused = execute_run(dataclasses.replace(spec, window=0.5), env_for(s, tmp_path), sink)
        trial.ended(paused, [])
        checkpoint = run_checkpoint(spec, env_for(s, tmp_path))
        assert store.runs()[0].outcome.verdict is Verdict.RUNG_PAUSE and checkpoint.path.is_file()
        trial.window_progress = None  # a pause with no point that is not its window's: afresh
        assert sink.start(spec, trial, []) is None and trial.energy_j == 0
        with caplog.at_level("INFO", logger="powertrain.search.sink"):
            sink.flush()
        (record,) = store.runs()
    [said] = [r.getMessage() for r in caplog.records if "keep their checkpoints" in r.getMessage()]
    on_disk = (checkpoint.path, checkpoint.summary_path)  # its state and the summary beside it
    size_kb = sum(p.stat().st_size for p in on_disk) / 1e3  # the tiny model's: under 100 kB
    assert said.startswith(f"1 paused runs keep their checkpoints ({size_kb:.0f} kB) in ")
    assert str(checkpoint.path.parent) in said and "delete them to reclaim the disk" in said
    assert record.outcome.verdict is Verdict.RUNG_PAUSE and record.outcome.steps == 4
    assert record.outcome.stop_reason.endswith("to its first evaluation (not promoted)")
    assert (
        paused_spent(spec, StudyPlace(s, tmp_path)).points == []
    )  # kept: a later search may go on


def two_searches_each_pausing_one_run(tmp_path, caplog, before_second_flush=None):
    """An earlier search paused one run and kept its checkpoint; a later one pauses another
    (``before_second_flush(first_spec, place)`` runs just before it says what is kept). The line it
    said on the kept checkpoints, and both runs' checkpoints."""
    from powertrain.study.config import parse_study

    s = parse_study({**study().to_dict(), "seeds": [3, 4]})
    first, second = plan(s, [])
    env, place = env_for(s, tmp_path), StudyPlace(s, tmp_path)
    with open_store(tmp_path / "r.db") as store:
        store.save_study(s.name, s.to_dict())
        for spec in (first, second):  # one search each, every run paused in its window
            sink = DeferringSink(StoreSink(store), place)
            sink.start(spec, Trial("lr", spec.seed), [])
            execute_run(dataclasses.replace(spec, window=0.5), env, sink)
            if spec is second and before_second_flush is not None:
                before_second_flush(first, place)
            with caplog.at_level("INFO", logger="powertrain.search.sink"):
                caplog.clear()
                sink.flush()
    [said] = [r.getMessage() for r in caplog.records if "keep their checkpoints" in r.getMessage()]
    return said, [run_checkpoint(spec, place) for spec in (first, second)]


def test_the_kept_checkpoints_line_counts_the_pauses_an_earlier_search_left(tmp_path, caplog):
    """Both checkpoints are on disk till a search takes them on, and the line says so: two runs,
    and the size of both (each with its summary), not this search's alone."""
    said, kept = two_searches_each_pausing_one_run(tmp_path, caplog)
    size_kb = sum(p.stat().st_size for c in kept for p in (c.path, c.summary_path)) / 1e3
    assert said.startswith(
        f"2 paused runs (1 paused by an earlier search) keep their checkpoints ({size_kb:.0f} kB) in "
    )


def test_the_kept_checkpoints_line_counts_a_new_state_a_killed_save_left_beside_one(
    tmp_path, caplog
):
    """A run continuing a stored pause, killed as it paused again, leaves its new state beside
    the one its summary names (``<key>.next.pt``, settled when the checkpoint is next read): it
    takes the disk till then, so the line's size counts it, not the older state's alone."""

    def killed_save(first, place) -> None:  # its new state (200 kB), beside the first's
        run_checkpoint(first, place).save_state({"w": torch.zeros(50_000)})

    said, kept = two_searches_each_pausing_one_run(tmp_path, caplog, killed_save)
    on_disk = [p for c in kept for p in (c.path, c.next_path, c.summary_path) if p.exists()]
    size_mb = sum(p.stat().st_size for p in on_disk) / 1e6
    assert size_mb > 0.2
    assert said.startswith(
        f"2 paused runs (1 paused by an earlier search) keep their checkpoints ({size_mb:.1f} MB) in "
    )
