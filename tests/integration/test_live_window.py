"""A live search prices a GPU power limit over a window shorter than the first evaluation (digits, an
MLP, one thread, the fake NVML of ``test_live_auto`` whose counter runs at a power set by the limit):
each pricing run pauses itself after a tenth of the steps to its first evaluation, with no point; the
cheapest value's run is continued from its checkpoint, as if it had never paused (one record per
(setup, seed), every point once, the same curve as the full grid's run of it); the rest are kept as
paused, not promoted; the pick is the full grid's best. So with ``auto``, and with the test's own
strategy (price every limit of a learning rate over the window, then train both seeds of the
cheapest: the live half alone, whatever a strategy decides). A search killed after pricing keeps its
pauses, and the next one goes on from them, with nothing duplicated, priced again or lost; a search of the same study again feeds
the window-paused runs from the store, and a later search that picks a value the first left paused
continues its runs from their kept checkpoints (re-runs them over their records without one)."""

from __future__ import annotations

import pytest

from powertrain.analysis.analyse import analyse
from powertrain.meters.detect import detect_meters
from powertrain.power_limit import GpuPowerControl
from powertrain.records import CENSORED, REACHED, RUNNING, Verdict
from powertrain.render.build import build_report
from powertrain.search import live
from powertrain.search.cost_axes import WINDOW_J, axes_of, groups_of
from powertrain.search.run import search_study
from powertrain.search.simulate import setup_key, simulate
from powertrain.search.sink import DeferringSink
from powertrain.search.space import Start
from powertrain.search.strategy import Strategy
from powertrain.store import open_store
from powertrain.study.config import parse_study
from powertrain.study.executors.workers import WorkersExecutor
from tests.integration.test_live_auto import GPU_STUDY, PoweredNvml, best_of
from tests.integration.test_live_search import assert_pauses_keep_their_checkpoints

EVERY = 50  # steps to the first evaluation: lr 0.3 reaches the target at the first or second
WINDOW = 0.1  # priced over its first 5 steps
STUDY = {
    **GPU_STUDY,
    "name": "tiny-window",
    "task": {**GPU_STUDY["task"], "eval_every_steps": EVERY, "max_epochs": 8},
}


def powered_gpu(patch: pytest.MonkeyPatch) -> PoweredNvml:
    """The fake GPU, its power control patched in (as ``test_live_auto``'s fixture does)."""
    nvml = PoweredNvml()
    nvml.nvmlInit()
    patch.setattr(GpuPowerControl, "open", classmethod(lambda cls, limits, **kw: cls(nvml, [0])))
    return nvml


@pytest.fixture
def fake_gpu(monkeypatch):
    return powered_gpu(monkeypatch)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The full grid's runs and points, by run key."""
    with (
        pytest.MonkeyPatch.context() as patch,
        open_store(tmp_path_factory.mktemp("grid") / "r.db") as store,
    ):
        nvml = powered_gpu(patch)
        search_study(
            parse_study(STUDY), store, strategy="grid", detection=detect_meters(["nvml"], nvml=nvml)
        )
        runs = store.runs("tiny-window")
        assert best_of(runs, ["learning_rate", "gpu_power_limit_w"]) == (0.3, 300)
        return {r.run_key: (r, store.eval_points(r.id)) for r in runs}


class PriceInWindow(Strategy):
    """For each setup of the other axes: every value of ``axis`` on its first seed over the window,
    then every seed of the cheapest value by energy per step of its window (the paused run
    continued, the others left paused)."""

    name = "zeus"  # the strategy the search is asked for, replaced by this one
    confirm = False

    def __init__(self, axis: str = "gpu_power_limit_w", choose=None) -> None:
        super().__init__()
        self.axis = axis
        # which member of a group goes on, from its prices (None: the cheapest)
        self.choose = choose or (lambda members, prices: min(members, key=prices.get))
        self.picks: dict[str, str] = {}  # a group's first setup -> its cheapest
        self.prices: dict[str, float] = {}  # setup -> joules per step of its window

    def next_runs(self, history) -> list[Start]:
        groups = groups_of(history.space.setups, [self.axis]).values()
        return [start for members in groups for start in self._group(history, members)]

    def _group(self, history, members: list[str]) -> list[Start]:
        seed = history.space.seeds[members[0]][0]
        trials = {s: history.trial(s, seed) for s in members}
        if any(t is None for t in trials.values()):
            return [Start(s, seed, WINDOW_J, window=WINDOW) for s, t in trials.items() if t is None]
        key = members[0]
        if key not in self.picks:
            if any(t.status is RUNNING for t in trials.values()):
                return []  # pricing under way
            self.prices.update({s: _price(t) for s, t in trials.items()})
            self.picks[key] = self.choose(members, self.prices)
        pick = self.picks[key]
        todo = [(pick, s) for s in history.space.seeds[pick]]
        return [Start(*k) for k in todo if history.trial(*k) is None or history.trial(*k).paused]


def _price(trial) -> float:
    """Joules per step of its window; up to its first evaluation for a run the store had finished
    (a search of the same study again feeds it from the store, paused there by the budget)."""
    if trial.window_progress:
        return trial.window_energy_j / trial.window_progress
    return trial.points[0].total_energy_j / trial.points[0].step


def searches_with(monkeypatch, axis: str, choices=()) -> list[PriceInWindow]:
    """The strategies the searches will be given, a new one each search (the n-th choosing its
    pick with ``choices[n]`` where given)."""
    made: list[PriceInWindow] = []

    def make(*args, **kwargs) -> PriceInWindow:
        made.append(PriceInWindow(axis, choices[len(made)] if len(made) < len(choices) else None))
        return made[-1]

    monkeypatch.setattr(live, "make_strategy", make)
    return made


@pytest.fixture
def window_strategy(monkeypatch):
    return searches_with(monkeypatch, "gpu_power_limit_w")


def test_a_live_search_prices_each_power_limit_in_its_window_and_continues_the_cheapest(
    fake_gpu, window_strategy, grid, tmp_path
):
    study = parse_study(STUDY)
    detection = detect_meters(["nvml"], nvml=fake_gpu)
    with open_store(tmp_path / "live.db") as store:
        searched = search_study(study, store, strategy="zeus", detection=detection)
        runs = store.runs("tiny-window")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
        report = build_report(store, tmp_path / "report", "tiny-window")
        analysis = analyse(store, "tiny-window")
        # Searched again: every run is fed from the store, the window's paused ones with their steps.
        again = search_study(study, store, strategy="zeus", detection=detection)
        assert len(store.runs("tiny-window")) == len(runs)
    assert_priced_in_windows(searched, runs, points, grid)
    assert set(window_strategy[0].picks.values()) == {
        repr(sorted({"learning_rate": lr, "gpu_power_limit_w": 300.0}.items()))
        for lr in (0.3, 0.05)
    }
    assert len(runs) == 2 * 3 + 2 and all(r.status == REACHED for r in runs if not _priced(r))
    assert again.cost.pick == searched.cost.pick and again.cost.reused_runs == len(runs)
    assert again.cost.runs_started == 0
    windowed = [k for k, t in again.outcome.history.trials.items() if t.window_progress]
    assert len(windowed) == 4  # priced in their window, as the first search did
    before, after = window_strategy[0].prices, window_strategy[1].prices
    assert {s: after[s] for s, _ in windowed} == {s: before[s] for s, _ in windowed}
    for run in runs:  # a continued run keeps its window's span: priced as the pauses are
        if not _priced(run) and run.seed == 0:
            o = run.outcome
            assert o.priced_steps == EVERY * WINDOW - 1  # its warm-up, one step, left out
            assert after[setup_key(run.setup)] == before[setup_key(run.setup)]
            assert after[setup_key(run.setup)] == pytest.approx(o.priced_energy_j / o.priced_steps)
    assert_pauses_keep_their_checkpoints(tmp_path, runs)
    assert report.html.is_file() and analysis.to_dict()["study"] == "tiny-window"


def test_live_auto_prices_each_power_limit_in_its_window_and_picks_the_grids_best(
    fake_gpu, grid, tmp_path
):
    with open_store(tmp_path / "r.db") as store:
        detection = detect_meters(["nvml"], nvml=fake_gpu)
        searched = search_study(parse_study(STUDY), store, strategy="auto", detection=detection)
        runs = store.runs("tiny-window")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
        # replayed, every value of a group is priced from its window's span, the continued run's
        # too (its outcome keeps it): the replay picks what the live search did, never a pause it
        # left ("paused by a search and never continued")
        replayed = simulate(store, "tiny-window", "auto", repeats=4)
    assert_priced_in_windows(searched, runs, points, grid)
    assert replayed.summary()["picks"] == {searched.cost.pick: 4}
    assert all(r.outcome.priced_steps == EVERY * WINDOW - 1 for r in runs if r.seed == 0)
    assert searched.cost.confirmed and "10% of the steps" in searched.cost.notes[-1]
    assert_pauses_keep_their_checkpoints(tmp_path, runs)


def assert_priced_in_windows(searched, runs, points, grid) -> None:
    """Every limit but the cheapest (300 W) priced in its window and left paused with no point; the
    cheapest's runs continued (none begun again) with the grid's curve, point for point, as far as
    they went; one record per (setup, seed); the pick the grid's best."""
    assert searched.cost.pick == "learning_rate=0.3 gpu_power_limit_w=300.0"
    assert searched.cost.superseded_j == 0  # every paused run continued, none begun again
    assert searched.cost.spent_j == pytest.approx(sum(r.outcome.total_energy_j for r in runs))
    assert len({r.run_key for r in runs}) == len(runs)
    assert {r.setup["gpu_power_limit_w"] for r in runs if _priced(r)} == {200, 400}
    for run in runs:
        mine = _curve(points[run.run_key])
        if _priced(run):
            assert run.status == CENSORED and mine == [] and run.outcome.steps == EVERY * WINDOW
            assert run.outcome.stop_reason == (
                f"priced over its first 5 of the {EVERY} steps to its first evaluation"
                " (not promoted)"
            )
            assert run.outcome.total_energy_j > 0 and run.outcome.final_val_accuracy is None
            continue
        whole, whole_points = grid[run.run_key]
        assert run.setup["gpu_power_limit_w"] == 300 and mine
        assert mine == _curve(whole_points)[: len(mine)]  # as if it had never paused
        if run.status == REACHED:
            assert run.outcome.steps == whole.outcome.steps and mine == _curve(whole_points)
            assert run.outcome.test_accuracy == whole.outcome.test_accuracy is not None


def _priced(run) -> bool:
    return run.outcome.verdict is Verdict.RUNG_PAUSE


def test_a_search_killed_after_its_window_goes_on_from_its_pauses_when_run_again(
    fake_gpu, window_strategy, tmp_path
):
    # Its pauses were finished only at the search's end: killed before, the next search priced
    # every limit again from scratch.
    study = parse_study(STUDY)
    detection = detect_meters(["nvml"], nvml=fake_gpu)
    real = live.LivePool.start

    def killed_at_the_first_continued(pool, start, trial, stop):
        if start.window is None:  # every limit priced; the cheapest about to go on
            raise KeyboardInterrupt
        return real(pool, start, trial, stop)

    with open_store(tmp_path / "r.db") as store:
        with pytest.MonkeyPatch.context() as killed:
            killed.setattr(live.LivePool, "start", killed_at_the_first_continued)
            killed.setattr(DeferringSink, "flush", lambda self: None)
            with pytest.raises(KeyboardInterrupt):
                search_study(study, store, strategy="zeus", detection=detection)
        paused = {r.run_key: r for r in store.runs()}
        assert len(paused) == 6 and all(map(_priced, paused.values()))  # in the store as paused
        assert len(list(tmp_path.rglob("checkpoints/*.pt"))) == 6
        again = search_study(study, store, strategy="zeus", detection=detection)
        runs = store.runs("tiny-window")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert all(r.outcome is not None for r in runs)
    assert len({r.run_key for r in runs}) == len(runs) == 8  # no duplicates
    for pts in points.values():
        assert [p.index for p in pts] == list(range(len(pts)))
    left = [r for r in runs if r.run_key in paused and _priced(r)]
    assert len(left) == 4 and all(r.id == paused[r.run_key].id for r in left)  # not priced again
    went_on = [r for r in runs if r.run_key in paused and not _priced(r)]  # each rate's cheapest
    assert len(went_on) == 2 and all(r.outcome.status == REACHED for r in went_on)
    assert again.cost.superseded_j == 0  # continued from their checkpoints, nothing re-run
    carried = sum(paused[r.run_key].outcome.total_energy_j for r in went_on)
    assert again.cost.carried_j == pytest.approx(carried)
    assert_pauses_keep_their_checkpoints(tmp_path, runs)


def test_on_two_workers_the_window_reaches_the_workers_loops_and_the_cheapest_goes_on(
    tmp_path, monkeypatch
):
    # batch size stands in for a cost axis here (the fake GPU is this process's only): each value
    # of it priced in a window of 5 steps in a worker process, the cheapest continued in one
    strategy = searches_with(monkeypatch, "batch_size")
    grid = {"learning_rate": [0.3], "batch_size": [16, 32]}
    cpu = {**STUDY, "grid": grid, "meters": {"backends": ["estimate"]}}
    with open_store(tmp_path / "r.db") as store:
        searched = search_study(parse_study(cpu), store, strategy="zeus", executor=two_workers())
        runs = {r.setup["batch_size"]: r for r in store.runs("tiny-window") if r.seed == 0}
        points = {b: store.eval_points(r.id) for b, r in runs.items()}
    (pick,) = strategy[0].picks.values()
    cheapest = axes_of(pick)["batch_size"]
    other = runs[{16: 32, 32: 16}[cheapest]]
    assert other.outcome.verdict is Verdict.RUNG_PAUSE and other.outcome.steps == 5
    assert points[other.setup["batch_size"]] == []
    assert runs[cheapest].status == REACHED and points[cheapest][0].step == EVERY
    assert [p.index for p in points[cheapest]] == list(range(len(points[cheapest])))
    assert searched.cost.pick is not None
    assert_pauses_keep_their_checkpoints(tmp_path, runs.values())


def two_workers() -> WorkersExecutor:
    return WorkersExecutor(2, cpu_count=2)


def _curve(points):
    return [(p.index, p.step, p.samples_seen, p.train_loss, p.val_accuracy) for p in points]


def at_watts(watts: float):
    """A pick: the group's member at the power limit ``watts``, whatever its price."""
    return lambda members, prices: next(
        s for s in members if axes_of(s)["gpu_power_limit_w"] == watts
    )


def test_a_later_search_that_picks_a_stored_pause_continues_it_from_its_checkpoint(
    fake_gpu, monkeypatch, grid, tmp_path
):
    # The first search continues 300 W and leaves 200 W and 400 W paused in the store after their
    # windows; the second takes 400 W's paused runs on to the target (one record each, the grid's
    # curve point for point, as if they had never paused), reusing the other prices untrained.
    strategies = searches_with(monkeypatch, "gpu_power_limit_w", [None, at_watts(400)])
    study = parse_study(STUDY)
    detection = detect_meters(["nvml"], nvml=fake_gpu)
    with open_store(tmp_path / "live.db") as store:
        first = search_study(study, store, strategy="zeus", detection=detection)
        before = {r.run_key: r for r in store.runs("tiny-window")}
        second = search_study(study, store, strategy="zeus", detection=detection)
        runs = store.runs("tiny-window")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
        report = build_report(store, tmp_path / "report", "tiny-window").html.read_text()
    assert first.cost.pick == "learning_rate=0.3 gpu_power_limit_w=300.0"
    assert second.cost.pick == "learning_rate=0.3 gpu_power_limit_w=400.0"
    paused = {setup_key(r.setup) for r in before.values() if _priced(r)}  # 200 W's and 400 W's
    assert {s: strategies[1].prices[s] for s in paused} == {  # their stored prices, untrained
        s: strategies[0].prices[s] for s in paused
    }
    assert len({r.run_key for r in runs}) == len(runs) == 2 * 3 + 2 + 2  # no duplicates
    for run in runs:
        limit = run.setup["gpu_power_limit_w"]
        if limit == 200:  # priced by the first search, its price reused: untouched
            assert _priced(run) and run.outcome == before[run.run_key].outcome
            continue
        whole, whole_points = grid[run.run_key]
        assert run.status == REACHED and _curve(points[run.run_key]) == _curve(whole_points)
        assert run.outcome.steps == whole.outcome.steps
    assert second.cost.superseded_j == 0  # continued from their checkpoints, none begun again
    taken_on = [r for r in before.values() if r.setup["gpu_power_limit_w"] == 400]
    carried_j = sum(r.outcome.total_energy_j for r in taken_on)  # spent by the first search
    assert second.cost.carried_j == pytest.approx(carried_j) and carried_j > 0
    assert second.cost.spent_j == pytest.approx(second.cost.stored_j - carried_j)
    said = "took on runs an earlier search had paused"
    assert any(said in line for line in second.cost.lines()) and said in report
    assert second.cost.reused_runs == 2 * 2  # the prices of 200 W and 300 W (seed 0)
    assert_pauses_keep_their_checkpoints(tmp_path, runs)  # 200 W's


def test_a_later_search_reruns_a_stored_pause_whose_checkpoint_is_gone_over_its_record(
    fake_gpu, monkeypatch, grid, tmp_path
):
    # The artifacts folder emptied between the searches: 400 W's paused runs are trained again
    # from their start, each in place of its stored pause; the pause's energy was the first
    # search's, and is not counted as the second's.
    searches_with(monkeypatch, "gpu_power_limit_w", [None, at_watts(400)])
    study = parse_study(STUDY)
    detection = detect_meters(["nvml"], nvml=fake_gpu)
    with open_store(tmp_path / "live.db") as store:
        search_study(study, store, strategy="zeus", detection=detection)
        before = {r.run_key: r for r in store.runs("tiny-window")}
        for path in tmp_path.rglob("checkpoints/*"):
            path.unlink()
        second = search_study(study, store, strategy="zeus", detection=detection)
        runs = store.runs("tiny-window")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert len({r.run_key for r in runs}) == len(runs) == 2 * 3 + 2 + 2  # no duplicates
    rerun = [r for r in runs if r.setup["gpu_power_limit_w"] == 400]
    for run in rerun:
        assert run.status == REACHED and _curve(points[run.run_key]) == _curve(grid[run.run_key][1])
    carried_j = sum(before[r.run_key].outcome.total_energy_j for r in rerun if r.seed == 0)
    assert carried_j > 0 and second.cost.carried_j == pytest.approx(carried_j)
    assert second.cost.superseded_j == pytest.approx(carried_j)  # the stored attempts replaced
    assert second.cost.spent_j == pytest.approx(second.cost.stored_j)  # the runs as trained now
    assert not list(tmp_path.rglob("checkpoints/*"))  # 200 W's went with the folder's emptying


def test_a_later_search_killed_while_it_continues_a_stored_pause_leaves_no_duplicate(
    fake_gpu, monkeypatch, tmp_path
):
    from powertrain.study import execute as execute_module

    searches_with(monkeypatch, "gpu_power_limit_w", [None, at_watts(400), at_watts(400)])
    study = parse_study(STUDY)
    detection = detect_meters(["nvml"], nvml=fake_gpu)
    real = execute_module.execute_run

    def killed_at_the_first_resume(*args, **kwargs):  # its record begun again, the run not yet
        if kwargs.get("resume"):
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    with open_store(tmp_path / "live.db") as store:
        search_study(study, store, strategy="zeus", detection=detection)
        with pytest.MonkeyPatch.context() as killed:
            killed.setattr(execute_module, "execute_run", killed_at_the_first_resume)
            killed.setattr(DeferringSink, "flush", lambda self: None)
            with pytest.raises(KeyboardInterrupt):
                search_study(study, store, strategy="zeus", detection=detection)
        assert [r.outcome for r in store.runs() if r.outcome is None] == [None]
        search_study(study, store, strategy="zeus", detection=detection)
        runs = store.runs("tiny-window")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert len({r.run_key for r in runs}) == len(runs) == 2 * 3 + 2 + 2  # no duplicates
    assert all(r.status == REACHED for r in runs if r.setup["gpu_power_limit_w"] == 400)
    for pts in points.values():
        assert [p.index for p in pts] == list(range(len(pts)))
    assert_pauses_keep_their_checkpoints(tmp_path, runs)


def test_on_two_workers_a_later_search_continues_a_stored_pause_in_a_worker(tmp_path, monkeypatch):
    from powertrain.study.executors.workers import WorkerSession

    continued, submit = [], WorkerSession.submit

    def spy(self, job):
        if job.resume_id is not None:
            continued.append(job.spec.run_key)
        return submit(self, job)

    def the_other(members, prices):  # the value the first search did not go on with
        return next(s for s in members if s not in made[0].picks.values())

    made = searches_with(monkeypatch, "batch_size", [None, the_other])
    monkeypatch.setattr(WorkerSession, "submit", spy)
    cpu = {**STUDY, "grid": {"learning_rate": [0.3], "batch_size": [16, 32]}, "meters": {}}
    with open_store(tmp_path / "r.db") as store:
        search_study(parse_study(cpu), store, strategy="zeus", executor=two_workers())
        (paused,) = [r for r in store.runs("tiny-window") if _priced(r)]
        continued.clear()
        search_study(parse_study(cpu), store, strategy="zeus", executor=two_workers())
        runs = store.runs("tiny-window")
        points = store.eval_points(next(r.id for r in runs if r.run_key == paused.run_key))
    assert continued == [paused.run_key]  # in a worker, from its checkpoint
    assert len({r.run_key for r in runs}) == len(runs) == 4 and all(
        r.status == REACHED for r in runs
    )
    assert points[0].step == EVERY and [p.index for p in points] == list(range(len(points)))
    assert_pauses_keep_their_checkpoints(tmp_path, runs)


@pytest.mark.parametrize("damage", ["truncated", "another run's"])
def test_a_later_search_reruns_a_stored_pause_whose_checkpoint_state_is_damaged(
    fake_gpu, monkeypatch, grid, tmp_path, damage
):
    # Between the searches 400 W's state files are cut short, or replaced by 200 W's (their
    # summaries intact): not resumed, so re-run from scratch over their records, never FAILED.
    searches_with(monkeypatch, "gpu_power_limit_w", [None, at_watts(400)])
    study = parse_study(STUDY)
    detection = detect_meters(["nvml"], nvml=fake_gpu)
    with open_store(tmp_path / "live.db") as store:
        search_study(study, store, strategy="zeus", detection=detection)
        states = {
            r.setup["gpu_power_limit_w"]: next(tmp_path.rglob(f"checkpoints/{r.run_key}.pt"))
            for r in store.runs("tiny-window")
            if _priced(r)
        }
        state = states[400]
        if damage == "truncated":
            state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
        else:
            state.write_bytes(states[200].read_bytes())
        search_study(study, store, strategy="zeus", detection=detection)
        runs = store.runs("tiny-window")
        points = {r.run_key: store.eval_points(r.id) for r in runs}
    assert len({r.run_key for r in runs}) == len(runs) == 2 * 3 + 2 + 2  # no duplicates
    for run in (r for r in runs if r.setup["gpu_power_limit_w"] == 400):
        assert run.status == REACHED and _curve(points[run.run_key]) == _curve(grid[run.run_key][1])


def test_a_later_search_racing_another_for_a_stored_pause_says_so_and_leaves_its_checkpoint(
    fake_gpu, monkeypatch, tmp_path
):
    # Another live process takes 400 W's stored pause on just before this search does: one clear
    # PowertrainError (no traceback), and the checkpoint the other process continues is left.
    import psutil

    from powertrain.errors import PowertrainError
    from powertrain.store.claims import Owner, this_host

    searches_with(monkeypatch, "gpu_power_limit_w", [None, at_watts(400)])
    study = parse_study(STUDY)
    detection = detect_meters(["nvml"], nvml=fake_gpu)
    reclaim = DeferringSink._reclaim

    def taken_first(self, spec, stored):
        with open_store(tmp_path / "live.db") as other:
            other.owner = Owner(this_host(), 1, psutil.Process(1).create_time())
            other.begin_run(spec, stored.hardware, stored.provenance)
        return reclaim(self, spec, stored)

    with open_store(tmp_path / "live.db") as store:
        search_study(study, store, strategy="zeus", detection=detection)
        monkeypatch.setattr(DeferringSink, "_reclaim", taken_first)
        with pytest.raises(
            PowertrainError, match="being trained by process 1.*needs its study to itself"
        ):
            search_study(study, store, strategy="zeus", detection=detection)
        (taken,) = [r for r in store.runs("tiny-window") if r.outcome is None]
    assert list(tmp_path.rglob(f"checkpoints/{taken.run_key}.pt"))  # the other process's to go on
