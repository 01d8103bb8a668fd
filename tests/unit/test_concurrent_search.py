"""The search driver (``search/driver.py``) with several runs at once, on made-up stored curves: a
fake pool runs up to N runs at once, one evaluation point each in turn, so runs under way see each other's results as
they come (what the workers executor does with real runs)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from powertrain.records import REACHED, RUNNING, Verdict
from powertrain.search import make_strategy
from powertrain.search.driver import confirm, pick_confirmed, run_search
from powertrain.search.simulate import CurvePool, load_curves
from powertrain.search.space import History, Space
from powertrain.store.memory import MemoryStore
from tests.fakes.curves import add_run, made_up_study


class FakePool:
    """Up to ``workers`` stored curves under way at once, advanced one point each in turn; a
    promoted (paused) run starts again from scratch, as live."""

    def __init__(self, curves, workers: int) -> None:
        self.curves, self.workers = curves, workers
        self.running: dict[tuple[str, int], list] = {}
        self.starts: Counter = Counter()
        self.most = 0  # the most runs under way at once

    def capacity(self) -> int:
        return self.workers - len(self.running)

    def in_flight(self) -> int:
        return len(self.running)

    def start(self, start, trial, stop) -> None:
        key = (start.setup, start.seed)
        assert key not in self.running, f"{key} handed out twice at once"
        assert self.capacity() > 0
        if trial.points or trial.energy_j:
            trial.afresh()
        trial.again()
        self.running[key] = [start, trial, stop, 0]
        self.starts[key] += 1
        self.most = max(self.most, len(self.running))

    def wait(self) -> None:
        assert self.running, "waited with nothing under way"
        while True:
            ended = [key for key in list(self.running) if self._step(key)]
            if ended:
                return

    def _step(self, key) -> bool:
        start, trial, stop, i = self.running[key]
        curve = self.curves[key]
        if i >= len(curve.points):
            trial.end(Verdict.MAX_EPOCHS, "limits")
            trial.energy_j = curve.end_energy_j
        else:
            point = curve.points[i]
            trial.points.append(point)
            trial.energy_j = point.total_energy_j
            self.running[key][3] = i + 1
            if i == curve.reached_index:
                trial.end(Verdict.TARGET)
                trial.energy_to_target_j = point.total_energy_j
                trial.energy_j = curve.end_energy_j
            elif reason := stop(point):
                trial.end(reason.verdict, reason.reason)
            elif start.budget_j is not None and point.total_energy_j >= start.budget_j:
                trial.end(Verdict.RUNG_PAUSE)
            else:
                return False
        del self.running[key]
        return True


def space_of(data) -> Space:
    setups = tuple(sorted(data.labels))
    seeds = {s: tuple(sorted(seed for k, seed in data.curves if k == s)) for s in setups}
    return Space(setups, seeds, data.target)


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("jitter", [0.0, 0.15, 0.4])
def test_bound_at_once_picks_the_true_best_and_never_spends_more_than_the_grid(workers, jitter):
    data = load_curves(made_up_study(jitter=jitter), "made-up")
    means = data.setup_means_j()
    pool = FakePool(data.curves, workers)
    outcome = run_search(make_strategy("bound"), space_of(data), pool)
    assert outcome.confirmed and means[outcome.pick] == pytest.approx(min(means.values()))
    assert outcome.total_j <= data.grid_energy_j + 1e-9
    assert pool.most == workers and not pool.running
    assert all(n == 1 for n in pool.starts.values())  # bound never starts a run twice
    assert all(t.status != RUNNING for t in outcome.history.trials.values())


@pytest.mark.parametrize("strategy", ["zeus", "halving", "thompson"])
def test_every_strategy_finishes_at_once_with_each_run_settled(strategy):
    data = load_curves(made_up_study(), "made-up")
    pool = FakePool(data.curves, 2)
    rng = np.random.default_rng(0)
    outcome = run_search(make_strategy(strategy, rng), space_of(data), pool)
    assert outcome.pick is not None and not pool.running and pool.most == 2
    assert all(t.status != RUNNING for t in outcome.history.trials.values())
    assert 0 < outcome.total_j <= 2 * data.grid_energy_j
    # Each attempt is one start: a trial started n times spent n - 1 attempts before this one.
    for key, n in pool.starts.items():
        assert (outcome.history.trials[key].earlier_j > 0) == (n > 1)


class RungPool(FakePool):
    """Fails a start of a new rung (another budget) while a run of the last one is under way."""

    budgets: list = []

    def start(self, start, trial, stop) -> None:
        under_way = {s.budget_j for s, *_ in self.running.values()}
        assert under_way <= {start.budget_j}, f"rung {start.budget_j} began beside {under_way}"
        if not self.budgets or self.budgets[-1] != start.budget_j:
            self.budgets = [*self.budgets, start.budget_j]
        super().start(start, trial, stop)


def test_halving_waits_for_its_rung_and_picks_as_it_does_one_run_at_a_time():
    data = load_curves(made_up_study(setups=9, jitter=0.0), "made-up")
    space = space_of(data)
    alone = run_search(make_strategy("halving"), space, CurvePool(data.curves))
    pool = RungPool(data.curves, 3)
    at_once = run_search(make_strategy("halving"), space, pool)
    assert at_once.pick == alone.pick and at_once.confirmed
    assert len(pool.budgets) > 2  # several rungs, each begun once the one before had ended
    assert set(pool.starts) == set(at_once.history.trials)  # nothing created and left unrun
    assert set(at_once.history.trials) == set(alone.history.trials)  # the same rungs


def test_a_run_under_way_stops_on_the_best_another_run_has_just_set():
    store = MemoryStore()
    store.save_study("two", {"name": "two", "task": {"target_accuracy": 0.86}})
    add_run(store, "two", {"lr": 1}, 0, rate=0.0016, joules_per_eval=2.0)  # slow: 15 evals
    add_run(store, "two", {"lr": 2}, 0, rate=0.005, joules_per_eval=2.0)  # fast: 5 evals
    data = load_curves(store, "two")
    space = Space(tuple(sorted(data.labels)), {s: (0,) for s in data.labels}, data.target)
    alone = run_search(make_strategy("zeus"), space, CurvePool(data.curves))
    slow = space.setups[0]
    assert alone.history.trial(slow, 0).status == REACHED  # one at a time, it ran to its end
    at_once = run_search(make_strategy("zeus"), space, FakePool(data.curves, 2))
    trial = at_once.history.trial(slow, 0)
    assert trial.stopped and trial.verdict is Verdict.SEARCH_BOUND
    assert at_once.search_j < alone.search_j and at_once.pick == alone.pick


def test_a_finalists_seeds_run_at_once_and_stop_once_their_sum_passes_the_leaders():
    store = MemoryStore()
    store.save_study("two", {"name": "two", "task": {"target_accuracy": 0.86}})
    for seed in range(3):
        add_run(store, "two", {"lr": 1}, seed, rate=0.005, joules_per_eval=2.0)  # cheap: 5 evals
        add_run(store, "two", {"lr": 2}, seed, rate=0.0016, joules_per_eval=2.0)  # 15 evals
    data = load_curves(store, "two")
    cheap, dear = sorted(data.labels)
    history = History(Space((cheap, dear), {cheap: (0, 1, 2), dear: (0, 1, 2)}, data.target))
    pool = FakePool(data.curves, 3)
    one = lambda setup, bound_j: confirm(history, setup, pool, 3, bound_j)  # noqa: E731
    assert pick_confirmed([cheap, dear], 2, one) == cheap
    assert pool.most == 3  # a finalist's seeds at once
    leader_j = sum(history.trial(cheap, s).energy_to_target_j for s in range(3))
    dear_trials = history.of_setup(dear)
    assert all(t.stopped and t.verdict is Verdict.CONFIRMATION for t in dear_trials)  # all of them
    reasons = sorted(t.stop_reason for t in dear_trials)
    assert reasons[-1].startswith("confirmation: passed the confirmed leader's")
    # Stopped at the first point where what was known of their sum passed the leader's.
    assert leader_j < sum(t.energy_j for t in dear_trials) <= leader_j + 3 * 2.0
