"""``powertrain simulate`` (``cli_search.py``) as a user reads it: every figure it prints says what
it is, and a study with nothing to compare a pick with says so rather than print a best of None."""

from __future__ import annotations

import dataclasses
import json

from click.testing import CliRunner

from powertrain.cli import cli as main
from powertrain.store.sqlite import SqliteStore
from tests.fakes.curves import add_run


def never_reached(db) -> None:
    """A study none of whose setups reached its target."""
    with SqliteStore(db) as store:
        store.save_study("never", {"name": "never", "task": {"target_accuracy": 0.99}})
        for lr in (0.1, 0.01):
            for seed in (0, 1):
                add_run(store, "never", {"lr": lr}, seed, 0.001, 2.0, target=0.99, evals=4)


def test_simulate_on_a_study_no_setup_of_which_reached_the_target_names_no_best(tmp_path):
    # it printed "best: None (0.0 J to target)" and "pick within 10 % of the best in 0% of orders"
    db = tmp_path / "r.db"
    never_reached(db)
    args = [
        "simulate",
        "--study",
        "never",
        "--strategy",
        "bound",
        "--db",
        str(db),
        "--repeats",
        "3",
    ]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert "None" not in done.output and "0.0 J to target" not in done.output
    assert "no setup reached the target on every seed" in done.output
    assert "of the best in 0%" not in done.output


def test_simulate_json_on_a_study_with_no_best_rates_no_pick_against_one(tmp_path):
    # it gave "within_10pct": 0.0, a rate against a best there is not
    db = tmp_path / "r.db"
    never_reached(db)
    args = ["simulate", "--study", "never", "--strategy", "bound", "--db", str(db), "--json"]
    done = CliRunner().invoke(main, [*args, "--repeats", "3"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert result["best"] is None
    assert result["summary"]["within_10pct"] is None
    assert result["summary"]["within_10pct_at_most_tenth"] is None
    assert all(order["within_10pct"] is None for order in result["orders"])
    assert "no setup reached the target on every seed" in result["summary"]["no_best"]


def test_simulate_with_a_negative_seed_says_so_in_one_line(tmp_path):
    # --seed -1 ended in numpy's traceback ("expected non-negative integer")
    db = tmp_path / "r.db"
    never_reached(db)
    from tests.cli_helpers import assert_one_clear_error, powertrain

    args = ["simulate", "--study", "never", "--strategy", "bound", "--db", str(db), "--seed", "-1"]
    assert_one_clear_error(powertrain(*args), "--seed must be a whole number >= 0, got -1")


def test_simulate_on_a_store_a_search_ran_warns_that_its_curves_end_early(tmp_path):
    # A live search's store (runs it stopped, never ran to their end): simulate replayed it as the
    # full grid, its energy, best and ratings without a word that they are the search's
    from powertrain.records import CENSORED, RunOutcome, Verdict
    from powertrain.search.simulate import load_curves, simulate
    from powertrain.study.plan import RunSpec
    from tests.fakes.curves import curve_points

    with SqliteStore(tmp_path / "r.db") as store:
        store.save_study("s", {"name": "s", "task": {"target_accuracy": 0.86}})
        for lr in (0.1, 0.01):
            add_run(store, "s", {"lr": lr}, 0, 0.004 if lr == 0.1 else 0.002, 1.0)
        spec = RunSpec("s", "k", {"lr": 0.01}, {}, 1)
        run_id = store.begin_run(spec, {"host": "h", "cpu_model": "X"}, {})
        point = curve_points(0.002, 1.0, 0.86, 16)[0]
        store.add_eval_point(run_id, point)
        stop = RunOutcome(CENSORED, "bound", 1.0, {"cpu": 1.0}, 1.0, 10, point.val_accuracy)
        store.finish_run(run_id, dataclasses.replace(stop, verdict=Verdict.SEARCH_BOUND))
        sim = simulate(load_curves(store, "s"), strategy="grid", repeats=1)
    assert any("1 of 3 runs were ended by a search" in w for w in sim.warnings), sim.warnings


def test_simulate_with_a_setting_given_twice_refuses_it_naming_both_values(tmp_path):
    # --set beta=1 --set beta=2 simulated beta=2 without a word: one of two contradictory values
    # was dropped, and the line under the figures named only the other
    from tests.cli_helpers import assert_one_clear_error, powertrain

    db = tmp_path / "r.db"
    never_reached(db)
    args = ["simulate", "--study", "never", "--strategy", "bound", "--db", str(db)]
    run = powertrain(*args, "--set", "beta=1", "--set", " beta = 2", "--repeats", "2")
    assert_one_clear_error(run, "--set beta given twice ('1' and ' 2')", "give it once")


def test_predict_with_a_target_that_is_no_accuracy_refuses_it_in_one_line(tmp_path):
    # --target nan printed "linear accuracy nan%"; --target 2 (no run can reach it) rated the
    # prediction against it as if it were a target
    from tests.cli_helpers import assert_one_clear_error, powertrain

    db = tmp_path / "r.db"
    never_reached(db)
    for target in ("nan", "2", "85", "0", "-inf"):  # 85: a percentage
        run = powertrain("predict", "--study", "never", "--db", str(db), "--target", target)
        assert run.returncode == 2, run.stdout
        assert_one_clear_error(run, "--target must be", "at most 1", "validation accuracy")
