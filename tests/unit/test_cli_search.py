"""``powertrain simulate`` (``cli_search.py``) as a user reads it: every figure it prints says what
it is, and a study with nothing to compare a pick with says so rather than print a best of None."""

from __future__ import annotations

from click.testing import CliRunner

from powertrain.cli import cli as main
from powertrain.store.sqlite import SqliteStore
from tests.fakes.curves import add_run


def test_simulate_on_a_study_no_setup_of_which_reached_the_target_names_no_best(tmp_path):
    # it printed "best: None (0.0 J to target)" and "pick within 10 % of the best in 0% of orders"
    db = tmp_path / "r.db"
    with SqliteStore(db) as store:
        store.save_study("never", {"name": "never", "task": {"target_accuracy": 0.99}})
        for lr in (0.1, 0.01):
            for seed in (0, 1):
                add_run(store, "never", {"lr": lr}, seed, 0.001, 2.0, target=0.99, evals=4)
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
