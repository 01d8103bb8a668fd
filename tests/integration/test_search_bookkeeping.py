"""A live search's bookkeeping as a user meets it: another process holding one of its runs, the
words of its summary, a kill between a pause's checkpoint and its record, and the priced span of a
cost-axis value's run that was trained again from scratch."""

from __future__ import annotations

import psutil
import pytest
import yaml

from powertrain.store import open_store
from powertrain.store.claims import Owner, this_host
from powertrain.study.plan import run_spec
from tests.cli_helpers import powertrain
from tests.integration.test_live_search import STUDY, study

HALVING = {**STUDY, "search": {"strategy": "halving", "eta": 2}}


def held_by_another_process(db, s, spec=None) -> str:
    """One of ``s``'s runs (``spec``, else its first) begun in ``db`` by a live process that is not
    this one (pid 1)."""
    with open_store(db) as store:
        store.save_study(s.name, s.to_dict())
        store.owner = Owner(this_host(), 1, psutil.Process(1).create_time())
        spec = spec or run_spec(s, s.setups()[0], 0)
        store.begin_run(spec, {}, {})
    return spec.run_key


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]])
def test_a_search_refused_a_run_another_process_holds_says_only_why(tmp_path, workers):
    # Before: "skipped: run ... is being trained by process 1" came first, then the refusal.
    path, db = tmp_path / "study.yaml", tmp_path / "r.db"
    path.write_text(yaml.safe_dump(HALVING))
    key = held_by_another_process(db, study())
    run = powertrain("run", str(path), "--db", str(db), *workers, timeout=240)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "skipped" not in run.stderr, run.stderr
    (error,) = [line for line in run.stderr.splitlines() if "error" in line]
    assert key in error and "needs its study to itself" in error


def test_a_search_is_refused_before_it_trains_anything_where_another_holds_one_of_its_runs(
    tmp_path,
):
    # Before: the search trained the runs it came to first, and was refused only at the one
    # another process held (here the last the search would start, if it ever did).
    from powertrain.errors import PowertrainError
    from powertrain.search.run import search_study

    s, db = study(search={"strategy": "halving", "eta": 2}), tmp_path / "r.db"
    held_by_another_process(db, s, run_spec(s, s.setups()[-1], s.seeds[-1]))
    with open_store(db) as store:
        with pytest.raises(PowertrainError, match="its study to itself"):
            search_study(s, store)
        assert len(store.runs(s.name)) == 1  # the other process's: nothing trained


def test_a_search_refused_a_run_another_process_took_meanwhile_leaves_its_checkpoint(
    tmp_path, monkeypatch
):
    # Another process claims the run just before this search does, and has a checkpoint of it:
    # before, the refused search's cleanup removed that checkpoint with its own runs'.
    from powertrain.errors import PowertrainError
    from powertrain.search.run import search_study
    from powertrain.search.sink import DeferringSink
    from powertrain.study.artifacts import checkpoint_path

    s, db, taken = study(search={"strategy": "halving", "eta": 2}), tmp_path / "r.db", []
    real = DeferringSink.start

    def taken_first(self, spec, *args, **kwargs):
        if not taken:
            held_by_another_process(db, s, spec)
            taken.append(checkpoint_path(self.place.artifacts_dir, spec.study, spec.run_key))
            taken[0].parent.mkdir(parents=True, exist_ok=True)
            taken[0].write_bytes(b"the other process's state")
        return real(self, spec, *args, **kwargs)

    monkeypatch.setattr(DeferringSink, "start", taken_first)
    with open_store(db) as store, pytest.raises(PowertrainError, match="its study to itself"):
        search_study(s, store)
    assert taken[0].read_bytes() == b"the other process's state"


def test_the_summary_counts_the_runs_a_search_paused_apart_from_those_it_stopped(tmp_path):
    # Before: halving's paused runs were counted among "stopped by the search" (a pause is not a
    # stop: a later search may continue it from its checkpoint).
    from powertrain.records import Verdict
    from powertrain.render.search import _live_html as live_cost_html
    from powertrain.search.run import search_study

    with open_store(tmp_path / "r.db") as store:
        cost = search_study(study(search={"strategy": "halving", "eta": 2}), store).cost
        runs = [r for r in store.runs("tiny-search") if r.outcome.verdict.by_search]
        html = live_cost_html(store.search_costs()["tiny-search"])
    paused = [r for r in runs if r.outcome.verdict is Verdict.RUNG_PAUSE]
    assert paused  # rung 0 paused every setup; those not promoted stay paused
    assert cost.runs_paused == len(paused) and cost.runs_stopped == len(runs) - len(paused)
    words = f"{len(runs) - len(paused)} stopped by the search, kept as censored lower bounds; "
    words += f"{len(paused)} paused, not stopped: a later search may take them on"
    assert words in cost.lines()[1] and words in html


KILLED_AT_THE_FIRST_PAUSE = """
import os, sys
from powertrain.records import Verdict
from powertrain.search.run import search_study
from powertrain.search.sink import DeferringSink
from powertrain.store import open_store
from tests.integration.test_live_search import study

real = DeferringSink.finish

def finish(self, run_id, outcome):  # killed once its checkpoint is saved, before its record is
    continued = self.keys[run_id] in self.continued
    if outcome.verdict is Verdict.RUNG_PAUSE and continued == (sys.argv[2] == "continued"):
        os._exit(9)
    real(self, run_id, outcome)

DeferringSink.finish = finish
with open_store(sys.argv[1]) as store:
    search_study(study(search={"strategy": "halving", "eta": 2}), store)
"""


@pytest.mark.parametrize("pause", ["first", "continued"])
def test_a_search_killed_between_a_pauses_checkpoint_and_its_record_stores_the_pause_when_run_again(
    tmp_path, caplog, pause
):
    # Before: the next search took the run for one killed as it trained, removed its checkpoint
    # and trained it again from scratch; the joules of the paused attempt were in no record.
    import subprocess
    import sys

    from powertrain.search.run import search_study
    from powertrain.study.resume import StudyPlace, paused_spent

    db = tmp_path / "r.db"
    from tests.distributed_helpers import job_env

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AT_THE_FIRST_PAUSE, str(db), pause],
        cwd=tmp_path,
        env=job_env(),  # the checkout's src and tests, wherever pytest was started
        timeout=240,
    )
    assert killed.returncode == 9
    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(db) as store:
        (orphan,) = [r for r in store.runs("tiny-search") if r.outcome is None]
        specs = [run_spec(s, setup, seed) for setup in s.setups() for seed in s.seeds]
        (spec,) = [x for x in specs if x.run_key == orphan.run_key]
        spent = paused_spent(spec, StudyPlace(s, store.artifacts_dir))
        assert spent is not None and spent.points == store.eval_points(orphan.id)
        with caplog.at_level("WARNING", logger="powertrain"):
            again = search_study(s, store)
        runs = store.runs("tiny-search")
        (run,) = [r for r in runs if r.run_key == orphan.run_key]
        points = store.eval_points(run.id)
    assert all(r.outcome is not None for r in runs) and len({r.run_key for r in runs}) == len(runs)
    assert points[: len(spent.points)] == spent.points  # its pause, not trained again
    assert run.outcome.total_energy_j >= spent.total_energy_j
    assert again.cost.superseded_j == 0  # nothing re-run from scratch
    assert any(orphan.run_key in m and "checkpoint" in m for m in caplog.messages)


def test_a_priced_value_trained_again_from_scratch_keeps_its_windows_span(tmp_path, monkeypatch):
    # Its checkpoint out of reach (a Ray cluster's node, a folder emptied): the cheapest power
    # limit's run is trained again from its start. Before, its record had no priced span, so the
    # next search priced it from its first evaluation (warm-up, pause and resume included), its
    # price no longer on the footing of the values left paused in their windows.
    from powertrain.meters.detect import detect_meters
    from powertrain.search import sink as sink_module
    from powertrain.search.run import search_study
    from powertrain.study.config import parse_study
    from tests.integration.test_live_window import EVERY, STUDY, WINDOW, powered_gpu, searches_with

    strategies = searches_with(monkeypatch, "gpu_power_limit_w")
    detection = detect_meters(["nvml"], nvml=powered_gpu(monkeypatch))
    s = parse_study(STUDY)
    with open_store(tmp_path / "r.db") as store:
        with monkeypatch.context() as unreachable:
            unreachable.setattr(sink_module, "paused_spent", lambda spec, place: None)
            first = search_study(s, store, strategy="zeus", detection=detection)
        runs = [r for r in store.runs(s.name) if r.setup["gpu_power_limit_w"] == 300]
        search_study(s, store, strategy="zeus", detection=detection)
    assert first.cost.superseded_j > 0  # the priced attempts, begun again from scratch
    for run in (r for r in runs if r.seed == 0):
        assert run.outcome.priced_steps == EVERY * WINDOW - 1  # its window's, warm-up left out
    before, after = strategies[0].prices, strategies[1].prices
    assert after == pytest.approx(before)  # every value priced as the first search priced it


def test_a_search_interrupted_between_a_pauses_checkpoint_and_its_record_stores_the_pause(
    tmp_path, monkeypatch
):
    # Ctrl-C in that instant: before, the search's cleanup removed the checkpoint of the run (not
    # stored as paused), and the next search trained it again from scratch.
    from powertrain.records import Verdict
    from powertrain.search.run import search_study
    from powertrain.search.sink import DeferringSink

    real, caught = DeferringSink.finish, []

    def interrupted(self, run_id, outcome):
        if outcome.verdict is Verdict.RUNG_PAUSE and not caught:
            caught.append((self.keys[run_id], self.store.eval_points(run_id)))
            raise KeyboardInterrupt
        real(self, run_id, outcome)

    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        with monkeypatch.context() as patch:
            patch.setattr(DeferringSink, "finish", interrupted)
            with pytest.raises(KeyboardInterrupt):
                search_study(s, store)
        ((key, points),) = caught
        (paused,) = [r for r in store.runs(s.name) if r.run_key == key]
        assert paused.outcome.verdict is Verdict.RUNG_PAUSE  # stored as it stopped
        assert store.eval_points(paused.id) == points and paused.outcome.total_energy_j > 0
        again = search_study(s, store)
        (run,) = [r for r in store.runs(s.name) if r.run_key == key]
        assert store.eval_points(run.id)[: len(points)] == points  # not trained again
    assert again.cost.superseded_j == 0


def test_a_killed_attempt_is_not_stored_from_another_stores_checkpoint(tmp_path, monkeypatch):
    # Two stores in one folder share its artifacts folder. Store a's attempt at a run, killed in
    # its pricing window before any point, was stored as a pause from store b's checkpoint of the
    # same run (no point either: nothing told them apart), with b's joules.
    from powertrain.records import Verdict
    from powertrain.search.killed import store_killed_pause
    from powertrain.search.run import search_study
    from powertrain.store.location import store_artifacts_dir
    from powertrain.study.artifacts import checkpoint_path
    from powertrain.study.config import parse_study
    from powertrain.study.resume import StudyPlace
    from tests.integration.test_live_window import STUDY as WINDOWED
    from tests.integration.test_live_window import searches_with

    searches_with(monkeypatch, "batch_size")  # priced over a window, the dearer left paused
    grid = {"learning_rate": [0.3], "batch_size": [16, 32]}
    s = parse_study({**WINDOWED, "grid": grid, "meters": {"backends": ["estimate"]}})
    with open_store(tmp_path / "b.db") as other:
        search_study(s, other, strategy="zeus")
        (pause,) = [r for r in other.runs(s.name) if r.outcome.verdict is Verdict.RUNG_PAUSE]
    (spec,) = [run_spec(s, x, 0) for x in s.setups() if run_spec(s, x, 0).run_key == pause.run_key]
    path = checkpoint_path(store_artifacts_dir(tmp_path / "b.db"), s.name, spec.run_key)
    kept = path.read_bytes()
    with open_store(tmp_path / "a.db") as store:  # its attempt, killed (a process now gone)
        store.save_study(s.name, s.to_dict())
        store.owner = Owner(this_host(), psutil.Process().pid, 0.0)
        store.begin_run(spec, {}, {})
    with open_store(tmp_path / "a.db") as store:
        (killed,) = store.runs(s.name)
        place = StudyPlace(s, store.artifacts_dir)
        assert store_killed_pause(store, spec, place, killed, None) is None
        assert store.runs(s.name)[0].outcome is None  # left to be begun afresh
    assert path.read_bytes() == kept  # b's, untouched


def test_a_search_run_again_says_what_the_runs_a_killed_search_left_training_had_spent(
    tmp_path, monkeypatch, caplog
):
    # A run killed as it trained is begun afresh: what its attempt had spent is in no record and
    # in no search's cost. Before, nothing said so.
    from powertrain.search.run import search_study
    from powertrain.search.sink import DeferringSink

    real, caught = DeferringSink.eval_point, []

    def killed_at_its_second_point(self, run_id, point):
        real(self, run_id, point)
        if point.index == 1 and not caught:
            caught.append((self.keys[run_id], point.total_energy_j))
            raise KeyboardInterrupt

    s = study(search={"strategy": "halving", "eta": 2})
    with open_store(tmp_path / "r.db") as store:
        with monkeypatch.context() as patch:
            patch.setattr(DeferringSink, "eval_point", killed_at_its_second_point)
            patch.setattr(DeferringSink, "flush", lambda self: None)  # killed: no cleanup
            with pytest.raises(KeyboardInterrupt):
                search_study(s, store)
        with caplog.at_level("INFO", logger="powertrain"):
            search_study(s, store)
    ((key, energy_j),) = caught
    (line,) = [m for m in caplog.messages if "in no record" in m]
    assert "1 run a killed search left training" in line and f"{energy_j:.3g} J" in line
