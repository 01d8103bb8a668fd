"""A cost axis priced over a window shorter than the first evaluation (``price_window``), in replay:
arithmetic on made-up curves whose energy grows linearly with the steps."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.records import Verdict
from powertrain.search import make_strategy
from powertrain.search.cost_axes import PRICE_WINDOW, price
from powertrain.search.driver import run_search
from powertrain.search.simulate import Curve, CurvePool, feed, load_curves, simulate
from powertrain.search.space import Space, Start, Trial
from tests.fakes.curves import curve_points
from tests.unit.test_search_auto import POWER, limited_study


def _curve(joules_per_eval=2.0, evals=5) -> Curve:
    points = curve_points(0.0004, joules_per_eval, 0.99, evals)  # every 100 steps
    return Curve(points, None, points[-1].total_energy_j, Verdict.MAX_EPOCHS, "max epochs")


def test_a_window_pauses_a_replayed_run_before_its_first_evaluation_and_it_goes_on_from_there():
    curve, trial = _curve(), Trial("s", 0)
    feed(curve, Start("s", 0, 1e-12, 0.1), trial, lambda point: None)
    assert trial.paused and trial.points == []
    assert trial.energy_j == pytest.approx(0.2)  # a tenth of the 2 J the first 100 steps cost
    assert trial.window_progress == pytest.approx(10)  # steps
    assert price(trial) == pytest.approx(
        2.0 / 100
    )  # J per step, as the whole first evaluation says
    feed(curve, Start("s", 0), trial, lambda point: None)  # continued: every point once, cumulative
    assert trial.points == curve.points and trial.energy_j == curve.end_energy_j
    assert trial.window_progress is None


def test_without_a_window_the_run_is_priced_at_its_first_evaluation():
    curve, trial = _curve(), Trial("s", 0)
    feed(curve, Start("s", 0, 1e-12), trial, lambda point: None)
    assert trial.paused and trial.points == curve.points[:1]
    assert price(trial) == pytest.approx(2.0 / 100)


def test_a_stored_pause_answers_its_window_and_budget_but_says_when_asked_past_it():
    points = curve_points(0.0004, 2.0, 0.99, 2)
    paused = Curve(points, None, 4.5, Verdict.RUNG_PAUSE, "halving: rung budget 4 J (not promoted)")
    trial = Trial("s", 0)
    assert feed(paused, Start("s", 0, 1e-12, 0.1), trial, lambda point: None)  # its window
    assert feed(paused, Start("s", 0, 1.0), trial, lambda point: None)  # a rung's budget
    assert trial.points == points[:1]
    assert not feed(paused, Start("s", 0), trial, lambda point: None)  # past its pause
    assert trial.paused and trial.points == points and trial.energy_j == 4.5
    with pytest.raises(PowertrainError, match="paused by a search and never continued"):
        CurvePool({("s", 0): paused}).start(Start("s", 0), Trial("s", 0), lambda point: None)


def _pricing_spent(window) -> tuple[float, float, str]:
    """What one replayed auto search spent on windows no run went on from, what the first
    evaluations of those runs cost, and its pick."""
    curves = load_curves(limited_study(), "limited")
    setups = sorted(curves.labels)
    seeds = {s: tuple(sorted(x for k, x in curves.curves if k == s)) for s in setups}
    search = make_strategy("auto", cost_axes=(), warn=None, price_window=window)
    outcome = run_search(
        search, Space(tuple(setups), seeds, curves.target), CurvePool(curves.curves), 3
    )
    left = [k for k, t in outcome.history.trials.items() if k not in search.view.trials]
    spent = sum(outcome.history.trials[k].energy_j for k in left)
    firsts = sum(curves.curves[k].points[0].total_energy_j for k in left)
    return spent, firsts, curves.labels[outcome.pick]


def test_each_value_left_behind_costs_the_window_share_of_its_first_evaluation():
    spent, firsts, pick = _pricing_spent(None)
    assert spent == pytest.approx(PRICE_WINDOW * firsts) and spent > 0
    whole, whole_firsts, whole_pick = _pricing_spent(1)  # the whole way: today's Zeus-less rule
    assert whole == pytest.approx(whole_firsts)
    assert pick == whole_pick == "lr=0.1 gpu_power_limit_w=250"  # the same limits win
    assert min(POWER, key=POWER.get) == 250


def test_the_window_makes_the_search_cheaper_and_picks_the_same_best():
    curves = load_curves(limited_study(), "limited")
    short = simulate(curves, strategy="auto", repeats=10)
    whole = simulate(curves, strategy="auto", repeats=10, price_window=1)
    assert short.summary()["within_10pct"] == whole.summary()["within_10pct"] == 1.0
    assert short.summary()["share_median"] < whole.summary()["share_median"]
    assert short.settings == {} and whole.settings == {"price_window": 1}


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "a tenth", None])
def test_a_price_window_outside_0_to_1_is_refused_in_one_line(bad):
    if bad is None:  # None is the default, a tenth
        assert make_strategy("auto").window == PRICE_WINDOW
        return
    with pytest.raises(PowertrainError, match=r"price_window .* in \(0, 1\]"):
        make_strategy("auto", price_window=bad)


def test_the_search_notes_say_over_what_window_each_value_was_priced():
    search = make_strategy("halving", warn=None)
    search.treated = ("gpu_power_limit_w",)
    assert "10% of the steps to a run's first evaluation" in search.notes()[0]
    # a live window lasts 20 of its meters' updates at least (2 s of NVML's counter): said too
    assert "or, if longer, 20 of its meters' updates after its warm-up" in search.notes()[0]
    whole = make_strategy("halving", warn=None, price_window="1")
    whole.treated = ("gpu_power_limit_w",)
    assert "over the steps to a run's first evaluation (a command" in whole.notes()[0]


def test_a_replay_says_over_what_window_it_priced():
    curves = load_curves(limited_study(), "limited")
    short = simulate(curves, strategy="auto", repeats=2)
    whole = simulate(curves, strategy="auto", repeats=2, price_window=1)
    assert short.price_window == PRICE_WINDOW and whole.price_window == 1  # as the setting says
    assert short.priced_note() == (
        "cost axes priced over 10% of the steps to a run's first evaluation, not searched: "
        "gpu_power_limit_w"
    )
    assert "priced over the steps to a run's first evaluation" in whole.priced_note()


def test_a_run_priced_at_its_first_evaluation_says_so_not_that_a_halving_rung_paused_it():
    from powertrain.records import EvalPoint
    from powertrain.search.cost_axes import WINDOW_J
    from powertrain.search.live import search_handlers

    point = EvalPoint(0, 10, 1.0, 320, 0.5, 0.5, 1.0, {"gpu": 3.0})
    [_, pricing] = search_handlers(Start("s", 0, WINDOW_J, PRICE_WINDOW), lambda p: None)
    assert pricing(point).reason.startswith("priced at its first evaluation")
    [_, rung] = search_handlers(Start("s", 0, 2.0), lambda p: None)
    assert rung(point).reason.startswith("halving: rung budget 2")
    # a first look (auto's, halving's rung 0) on a grid without cost axes named a cost axis
    [_, look] = search_handlers(Start("s", 0, 0.0), lambda p: None)
    assert look(point).reason.startswith("the first look: paused at its first evaluation")
    assert "cost axis" not in look(point).reason
    # a replay says the same (a whole-way window: priced at the first evaluation)
    trial, curve = Trial("s", 0), Curve([point, point], None, 3.0, Verdict.MAX_EPOCHS, "done")
    feed(curve, Start("s", 0, WINDOW_J), trial, lambda p: None)
    assert trial.stop_reason.startswith("priced at its first evaluation")


def test_the_precision_note_does_not_send_a_counters_user_to_a_meter_with_counters():
    """NVML's counter is flagged too (a window under ten of its 100-ms updates): the way out is a
    longer window; a meter with energy counters helps the CPU-time estimate only."""
    from powertrain.search.simulate import precision_note

    [note] = precision_note(2, 5)
    assert "longer runs resolve it" in note and "for the CPU-time estimate" in note


def test_a_stored_pause_in_its_pricing_window_is_priced_from_what_it_measured():
    """A live search stored a run it paused in its pricing window, before any evaluation: 40 steps
    priced for 0.8 J after its warm-up, 1.5 J in all. A replay prices it as the live search did
    (``Trial.priced``: 0.02 J a step) and counts all it spent, not an infinite price."""
    from powertrain.records import RunOutcome, RunRecord
    from powertrain.search.cost_axes import WINDOW_J
    from powertrain.search.simulate import curve_of

    outcome = RunOutcome(
        status=Verdict.RUNG_PAUSE.status,
        stop_reason="priced over 10% of the way to its first evaluation (not promoted)",
        total_energy_j=1.5,
        energy_j={"cpu": 1.5},
        duration_s=3.0,
        steps=50,
        verdict=Verdict.RUNG_PAUSE,
        priced_steps=40,
        priced_energy_j=0.8,
    )
    record = RunRecord(
        1, "s", "k", {"lr": 0.1}, {}, 0, outcome.status, {}, {}, 0.0, outcome=outcome
    )
    curve, trial = curve_of(record, []), Trial("s", 0)
    feed(curve, Start("s", 0, WINDOW_J, PRICE_WINDOW), trial, lambda point: None)
    assert trial.paused and trial.points == [] and trial.energy_j == 1.5
    assert price(trial) == pytest.approx(0.8 / 40)
    live = Trial("s", 0)
    live.ended(outcome, [])  # as a live search's trial of the same run
    assert price(live) == price(trial)


def test_a_replay_of_a_live_search_prices_the_run_it_continued_on_its_windows_footing():
    """A live search priced 200, 300 and 400 W in their windows and continued 300 W, the cheapest
    there (0.01 J a step over its 8 priced steps; 400 W 0.015, 200 W 0.025). Its first evaluation
    costs 0.02 J a step (the warm-up, the pause and the resume paid too): priced from it, 400 W
    would look cheaper, and the replay would pick a pause the live search never continued, and stop
    with "paused by a search and never continued". Priced from the span its outcome keeps, the
    replay picks what the live search did."""
    from powertrain.records import REACHED, RunOutcome, RunRecord
    from powertrain.search.cost_axes import Priced
    from powertrain.search.simulate import curve_of, setup_key
    from powertrain.search.strategies import Grid

    def record(watts, outcome, points=()):
        setup = {"lr": 0.1, "gpu_power_limit_w": watts}
        return curve_of(
            RunRecord(
                1, "s", str(watts), setup, {}, 0, outcome.status, {}, {}, 0.0, outcome=outcome
            ),
            list(points),
        )

    def paused(priced_energy_j):
        return RunOutcome(
            Verdict.RUNG_PAUSE.status, "priced over its first 10 (not promoted)", 0.5,
            {"gpu": 0.5}, 1.0, 10, verdict=Verdict.RUNG_PAUSE, priced_steps=8,
            priced_energy_j=priced_energy_j,
        )  # fmt: skip

    points = curve_points(0.004, 2.0, 0.6, 5)  # 2 J to its first evaluation, at step 100
    went_on = RunOutcome(
        REACHED, "target", points[-1].total_energy_j, {"gpu": points[-1].total_energy_j}, 9.0,
        points[-1].step, energy_to_target_j=points[-1].total_energy_j, verdict=Verdict.TARGET,
        priced_steps=8, priced_energy_j=0.08,
    )  # fmt: skip
    curves = {
        (setup_key({"lr": 0.1, "gpu_power_limit_w": w}), 0): c
        for w, c in (
            (200, record(200, paused(0.2))),
            (300, record(300, went_on, points)),
            (400, record(400, paused(0.12))),
        )
    }
    setups = tuple(k for k, _ in curves)
    search = Priced(Grid(), warn=None)
    outcome = run_search(search, Space(setups, {s: (0,) for s in setups}), CurvePool(curves), 1)
    assert search.prices == {
        setups[0]: pytest.approx(0.025),
        setups[1]: pytest.approx(0.01),  # its stored span, not its first evaluation's 0.02
        setups[2]: pytest.approx(0.015),
    }
    assert outcome.pick == setups[1]
