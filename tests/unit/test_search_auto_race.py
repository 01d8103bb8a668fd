"""auto's first look and its race at the leader's pace, on made-up curves (replays: arithmetic)."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.records import Verdict
from powertrain.search import make_strategy
from powertrain.search.driver import run_search
from powertrain.search.simulate import CurvePool, load_curves, setup_key, simulate
from powertrain.search.space import Space
from powertrain.search.strategies import Halving
from powertrain.store.memory import MemoryStore
from tests.fakes.curves import add_run, made_up_study


def _search(curves, order=None, **settings):
    setups = order or sorted(curves.labels)
    seeds = {s: tuple(sorted(seed for key, seed in curves.curves if key == s)) for s in setups}
    search = make_strategy("auto", **settings)
    outcome = run_search(
        search, Space(tuple(setups), seeds, curves.target), CurvePool(curves.curves)
    )
    return search, outcome


@pytest.mark.parametrize("screen", [2, 3])
def test_the_first_look_takes_every_setup_to_its_first_evaluation_and_only_the_best_on(screen):
    curves = load_curves(made_up_study(setups=16, seeds=3), "made-up")  # 16 setups > 5 % of 48 runs
    search, outcome = _search(curves, screen=screen)
    history = outcome.history
    firsts = {s: history.trial(s, history.space.seeds[s][0]) for s in curves.labels}
    assert all(t is not None and t.points for t in firsts.values())  # every setup looked at once
    went_on = {s for s, t in firsts.items() if len(t.points) > 1}
    assert len(went_on) == screen  # no middle rung: the best `screen` on to the target, no others
    raced = {s for (s, _), t in history.trials.items() if t.seed != history.space.seeds[s][0]}
    assert raced <= went_on  # the race is among the setups that went on
    means = curves.setup_means_j()
    assert means[outcome.pick] <= 1.1 * min(means.values())


def paced_study(worse: float) -> MemoryStore:
    """Setup a (the leader: every seed reaches the target for 10 x 2.0 J) and setup b, close enough
    to be a contender, every seed of which costs ``worse`` x as much."""
    store = MemoryStore()
    store.save_study("paced", {"name": "paced", "task": {"target_accuracy": 0.86}})
    for name, cost in (("a", 2.0), ("b", 2.0 * worse)):
        for seed in range(3):
            add_run(store, "paced", {"setup": name}, seed, 0.002, cost)
    return store


def test_a_contender_behind_the_leaders_pace_stops_within_its_next_seed():
    curves = load_curves(paced_study(worse=1.2), "paced")
    a, b = setup_key({"setup": "a"}), setup_key({"setup": "b"})
    search, outcome = _search(curves, order=[a, b], screen_share=1.0)  # every setup screened
    leader_j = curves.setup_means_j()[a]
    b_trials = [t for (s, _), t in outcome.history.trials.items() if s == b]
    assert [t.reached for t in b_trials] == [True, False]  # its second seed stopped, no third
    stopped = b_trials[1]
    assert stopped.verdict is Verdict.SEARCH_BOUND and "pace" in stopped.stop_reason
    # it stopped at the first evaluation (2.4 J each) past 2 x the leader's mean, its two seeds together
    b_j = b_trials[0].energy_to_target_j + stopped.energy_j
    assert 2 * leader_j < b_j <= 2 * leader_j + 2.4
    assert outcome.pick == a and outcome.confirmed and not search.within_noise


def test_a_contender_as_good_as_the_leader_runs_all_its_seeds_and_ties_are_said():
    curves = load_curves(paced_study(worse=1.0), "paced")
    a, b = setup_key({"setup": "a"}), setup_key({"setup": "b"})
    search, outcome = _search(curves, order=[a, b], screen_share=1.0)
    b_trials = [t for (s, _), t in outcome.history.trials.items() if s == b]
    assert len(b_trials) == 3 and all(t.reached for t in b_trials)
    assert search.within_noise and "within noise" in search.verdict()
    assert "setup=a; setup=b" in search.verdict()  # named as the user wrote them, lowest mean first


def test_a_wider_margin_lets_the_slower_contender_finish_its_seeds():
    curves = load_curves(paced_study(worse=1.2), "paced")
    a, b = setup_key({"setup": "a"}), setup_key({"setup": "b"})
    _, outcome = _search(curves, order=[a, b], screen_share=1.0, margin=1.5)
    b_trials = [t for (s, _), t in outcome.history.trials.items() if s == b]
    assert len(b_trials) == 3 and all(t.reached for t in b_trials) and outcome.pick == a


def cheap_first_study() -> MemoryStore:
    """Setup best (3 J an evaluation, quick learner: the target after 3 evaluations, 9 J), three
    cheap setups (1 J an evaluation, slow: 12 J) and two dear ones (3 J, 18 J). At the cheapest first
    evaluation (1 J) best's first accuracy (0.64 at 3 J) scales to 0.21, below the cheap ones' 0.25;
    at the median (2 J) to 0.42, above every other setup."""
    store = MemoryStore()
    store.save_study("cheap", {"name": "cheap", "task": {"target_accuracy": 0.86}})
    setups = {"best": (0.01, 3.0), "dear1": (0.004, 3.0), "dear2": (0.004, 3.0)}
    setups.update({f"cheap{i}": (0.002 - 0.0001 * i, 1.0) for i in range(3)})
    for name, (rate, joules_per_eval) in setups.items():
        for seed in range(3):
            add_run(store, "cheap", {"setup": name}, seed, rate, joules_per_eval)
    return store


def test_look_at_median_ranks_the_first_look_at_the_median_first_evaluation():
    curves = load_curves(cheap_first_study(), "cheap")
    best = setup_key({"setup": "best"})
    for look_at, sent_on in (("median", True), ("cheapest", False)):
        search, outcome = _search(curves, look_at=look_at, hedge=None)  # every place linear
        went_on = {s for (s, _), t in outcome.history.trials.items() if len(t.points) > 1}
        assert search.screen.look_at == look_at
        assert (best in went_on) is sent_on and (outcome.pick == best) is sent_on
    assert make_strategy("auto").inner.look_at == "cheapest"  # the default, docs/search.md says why


def test_hedge_gives_the_last_finalist_to_the_best_setup_with_its_first_accuracy_credited_concave():
    # best's first accuracy (0.64 at 3 J), at the cheapest first evaluation (1 J): 0.21 linearly,
    # below the cheap setups' 0.25; 0.64 x (1/3) ** 0.25 = 0.49 with a power of 0.25, above them
    curves = load_curves(cheap_first_study(), "cheap")
    best = setup_key({"setup": "best"})
    went_on, picks = {}, {}
    for hedge in (None, 0.25):
        _, outcome = _search(curves, hedge=hedge)
        went_on[hedge] = {s for (s, _), t in outcome.history.trials.items() if len(t.points) > 1}
        picks[hedge] = outcome.pick
    cheap = [setup_key({"setup": f"cheap{i}"}) for i in range(3)]
    assert went_on[None] == set(cheap) and picks[None] != best
    assert went_on[0.25] == {*cheap[:2], best} and picks[0.25] == best  # the linear two kept
    assert make_strategy("auto").inner.hedge == 0.25  # the default, docs/search.md says why


def test_plain_halving_still_ranks_its_first_rung_at_the_cheapest_first_evaluation():
    assert Halving().look_at == "cheapest"
    curves = load_curves(cheap_first_study(), "cheap")
    setups = tuple(sorted(curves.labels))
    seeds = {s: tuple(sorted(seed for key, seed in curves.curves if key == s)) for s in setups}
    outcome = run_search(
        Halving(rank="accuracy", eta=6.0, finalists=3),
        Space(setups, seeds, curves.target),
        CurvePool(curves.curves),
    )
    went_on = {s for (s, _), t in outcome.history.trials.items() if len(t.points) > 1}
    assert setup_key({"setup": "best"}) not in went_on


def test_first_look_ranking_and_screen_settings_are_checked():
    with pytest.raises(PowertrainError, match="auto: rank must be accuracy or predicted"):
        make_strategy("auto", rank="loss")
    with pytest.raises(PowertrainError, match="screen"):
        make_strategy("auto", screen=0)
    with pytest.raises(PowertrainError, match="auto: look_at must be cheapest or median"):
        make_strategy("auto", look_at="mean")
    for hedge in (0, 1.5, -0.5):
        with pytest.raises(PowertrainError, match="auto: hedge must be a power above 0"):
            make_strategy("auto", hedge=hedge)


def test_auto_keeps_the_goal_on_a_made_up_grid_it_was_not_tuned_on():
    sim = simulate(load_curves(made_up_study(setups=16, seeds=3), "made-up"), "auto", repeats=30)
    summary = sim.summary()
    assert summary["within_10pct"] >= 0.9 and not sim.in_sample


def close_study(costs: dict[str, float]) -> MemoryStore:
    """Setups whose every seed reaches the target for 10 x its cost per evaluation (no seed noise)."""
    store = MemoryStore()
    store.save_study("close", {"name": "close", "task": {"target_accuracy": 0.86}})
    for name, cost in costs.items():
        for seed in range(3):
            add_run(store, "close", {"setup": name}, seed, 0.002, cost)
    return store


def test_the_race_narrows_what_the_screen_sent_on_to_all_but_one_of_them():
    # three setups, every one screened to the target and within spread of the best: the race takes
    # the best two; the third's screening run stays its only run (the old race took all three)
    curves = load_curves(close_study({"a": 2.0, "b": 2.05, "c": 2.2}), "close")
    a, b, c = (setup_key({"setup": x}) for x in "abc")
    search, outcome = _search(curves, order=[c, b, a], screen_share=1.0)
    assert search.racing == [a, b]
    assert [t.seed for (s, _), t in outcome.history.trials.items() if s == c] == [0]
    assert outcome.pick == a and outcome.confirmed


def test_two_setups_screened_are_both_raced():
    curves = load_curves(close_study({"a": 2.0, "b": 2.05}), "close")
    a, b = setup_key({"setup": "a"}), setup_key({"setup": "b"})
    search, outcome = _search(curves, order=[b, a], screen_share=1.0)
    assert search.racing == [a, b]  # at least two: a race needs a challenger
    assert len([t for (s, _), t in outcome.history.trials.items() if s == b]) == 3


def test_after_the_first_look_the_race_takes_fewer_setups_than_it_sent_on():
    curves = load_curves(made_up_study(setups=16, seeds=3, jitter=0.02), "made-up")
    for screen in (3, 4):
        search, outcome = _search(curves, screen=screen)
        history = outcome.history
        sent_on = [
            s for s in curves.labels if not history.trial(s, history.space.seeds[s][0]).paused
        ]
        assert len(sent_on) == screen and len(search.racing) <= screen - 1


def test_a_close_setup_the_race_had_no_room_for_is_still_said_to_be_within_noise():
    curves = load_curves(close_study({"a": 2.0, "b": 2.01, "c": 2.02}), "close")
    a, b, c = (setup_key({"setup": x}) for x in "abc")
    search, outcome = _search(curves, order=[c, b, a], screen_share=1.0)
    assert search.racing == [a, b] and search.unraced == [c]
    assert search.tied == [a, b, c] and "setup=a; setup=b; setup=c" in search.verdict()


def test_a_setup_whose_energy_to_target_is_0_j_is_raced_not_a_math_error():
    """A store imported before 0 J traces were refused may hold one: the race takes its log."""
    store = MemoryStore()
    store.save_study("free", {"name": "free", "task": {"target_accuracy": 0.86}})
    for name, cost in (("a", 0.0), ("b", 2.0)):
        for seed in range(3):
            add_run(store, "free", {"setup": name}, seed, 0.002, cost)
    curves = load_curves(store, "free")
    a, b = setup_key({"setup": "a"}), setup_key({"setup": "b"})
    _, outcome = _search(curves, order=[b, a], screen_share=1.0)
    assert outcome.pick == a


def test_a_setup_whose_one_screening_seed_reached_the_target_an_evaluation_late_is_raced():
    # evaluations are 1 J of setup a apart: its seed 0 found the target at the 4th (4 J: it crossed
    # it between 3 and 4 J), every other seed at the 2nd (2 J). Against b's 2.9 J, 4 J is past
    # 1.25 x; where seed 0 most likely crossed (3.5 J) is not, so a is raced, and is the best
    store = MemoryStore()
    store.save_study("late", {"name": "late", "task": {"target_accuracy": 0.86}})
    per_eval = {"a": 1.0, "b": 1.45, "c": 1.5, "d": 3.0, "e": 3.0}
    for name, cost in per_eval.items():
        for seed in range(6):
            rate = 0.0065 if (name, seed) == ("a", 0) else 0.012  # the target at step 400, or 200
            add_run(store, "late", {"setup": name}, seed, rate, cost)
    curves = load_curves(store, "late")
    a, b, c, d, e = (setup_key({"setup": x}) for x in "abcde")
    assert curves.curves[(a, 0)].reached_index == 3 and curves.curves[(a, 1)].reached_index == 1
    search, outcome = _search(curves, order=[e, d, c, b, a], screen_share=1.0)
    assert a in search.racing
    assert outcome.history.trial(a, 1) is not None  # its second seed ran
    assert outcome.pick == a and outcome.confirmed


def test_setups_within_noise_are_listed_from_the_pick_the_lowest_mean_energy_to_target():
    # a: seeds of 1, 1 and 4 x (mean 2.0, geometric mean 1.59); b: 1.8 x on every seed (mean 1.8).
    # The pick is b, the lower mean; the line said "the first has the lowest mean" and listed a
    # first, ordered by the mean of the logs.
    store = MemoryStore()
    store.save_study("skew", {"name": "skew", "task": {"target_accuracy": 0.86}})
    for name, costs in (("a", (1.0, 1.0, 4.0)), ("b", (1.8, 1.8, 1.8))):
        for seed, cost in enumerate(costs):
            add_run(store, "skew", {"setup": name}, seed, 0.002, cost)
    curves = load_curves(store, "skew")
    a, b = setup_key({"setup": "a"}), setup_key({"setup": "b"})
    search, outcome = _search(curves, order=[a, b], screen_share=1.0, margin=3.0)
    assert outcome.pick == b and search.within_noise
    assert "setup=b; setup=a" in search.verdict()
