"""Import of others' traces: what it tells the user about the setup columns it found."""

import pytest

from powertrain.errors import PowertrainError
from powertrain.search.importer import import_csv
from tests.fakes.curves import diverged_trace
from tests.unit.test_search_auto import _write_csv


def test_import_names_a_column_that_behaves_as_a_cost_axis_but_was_not_declared(tmp_path):
    csv, heard = tmp_path / "t.csv", []
    _write_csv(csv)  # power_limit_w changes energy_j only, batch_size the curve
    import_csv(csv, "t", 0.6, tmp_path / "r.db", warn=heard.append)
    assert len(heard) == 1 and "column power_limit_w never changed a learning curve" in heard[0]
    assert "declare it with --cost-axis power_limit_w" in heard[0]
    heard.clear()
    import_csv(csv, "u", 0.6, tmp_path / "r.db", ["power_limit_w"], heard.append)
    assert heard == []  # declared: nothing to suggest


def test_import_does_not_suggest_a_column_that_changed_the_curve(tmp_path):
    csv, heard = tmp_path / "t.csv", []
    _write_csv(csv, change_curve=True)  # power_limit_w=200 learns faster
    import_csv(csv, "t", 0.6, tmp_path / "r.db", warn=heard.append)
    assert not any("column power_limit_w" in line for line in heard)


def test_the_backtest_warns_of_an_undeclared_cost_axis_whose_twins_calibrate_each_other(tmp_path):
    from powertrain.search.backtest import backtest
    from powertrain.store.sqlite import SqliteStore

    csv = tmp_path / "t.csv"
    _write_csv(csv)
    import_csv(csv, "plain", 0.6, tmp_path / "r.db")
    import_csv(csv, "priced", 0.6, tmp_path / "r.db", ["power_limit_w"])
    with SqliteStore(tmp_path / "r.db") as store:
        [warning] = backtest(store, "plain", [1]).warnings
        assert "column power_limit_w never changed a learning curve" in warning
        assert backtest(store, "priced", [1]).warnings == []


def test_a_trace_whose_epochs_count_from_0_is_priced_searched_and_predicted(tmp_path):
    from powertrain.search.backtest import backtest
    from powertrain.search.simulate import load_curves, simulate
    from powertrain.store.sqlite import SqliteStore

    rows = ["seed,epoch,energy_j,val_accuracy,batch_size,power_limit_w"]
    for bs in (32, 64):
        for limit in (100, 200):
            for seed in (1, 2, 3):
                for epoch in range(6):  # the evaluation after the first epoch is numbered 0
                    acc = 1 - 0.8 * (epoch + 1) ** (-bs / 64) * (1 + 0.02 * seed)
                    rows.append(f"{seed},{epoch},{(epoch + 1) * limit},{acc:.4f},{bs},{limit}")
    csv = tmp_path / "from0.csv"
    csv.write_text("\n".join(rows) + "\n")
    import_csv(csv, "from0", 0.6, tmp_path / "r.db", ["power_limit_w"])
    with SqliteStore(tmp_path / "r.db") as store:
        curves = load_curves(store, "from0")
        # each power limit priced by its energy per evaluation (epoch 0 is no progress to divide by)
        sim = simulate(curves, strategy="auto", repeats=4)
        assert sim.best == "batch_size=64 power_limit_w=100"
        assert {o["pick"] for o in sim.orders} == {sim.best}
        [after_one] = backtest(store, "from0", [1]).rows  # fits on a progress above 0: no error
        assert after_one["runs_predicted"] == 12 and after_one["curves_predicted"] == 6


def test_import_says_when_val_accuracy_falls_as_a_loss_or_an_error_rate_would(tmp_path):
    rows = ["seed,epoch,energy_j,val_accuracy,batch_size"]
    for seed in (1, 2, 3):
        for epoch in range(1, 6):
            rows.append(f"{seed},{epoch},{10 * epoch},{0.6 - 0.1 * epoch:.2f},32")  # 0.5 ... 0.1
    csv, heard = tmp_path / "wer.csv", []
    csv.write_text("\n".join(rows) + "\n")
    import_csv(csv, "wer", 0.3, tmp_path / "r.db", warn=heard.append)
    assert len(heard) == 1 and "val_accuracy falls in 3 of 3 runs" in heard[0]
    assert "imports as 1 - value" in heard[0]
    heard.clear()
    _write_csv(tmp_path / "t.csv")  # accuracies that rise: nothing said of them
    import_csv(tmp_path / "t.csv", "t", 0.6, tmp_path / "r.db", ["power_limit_w"], heard.append)
    assert heard == []


def test_a_falling_metric_recorded_before_training_is_named_before_the_target_is_refused(tmp_path):
    # a word error rate evaluated at epoch 0 (0 J): the target 0.3 is "reached" there, and the
    # refusal's advice (a target above what the untrained model scores) is wrong; the cause is said
    rows = ["seed,epoch,energy_j,val_accuracy,batch_size"]
    for seed in (1, 2):
        rows += [f"{seed},{e},{10 * e},{0.9 - 0.1 * e:.2f},32" for e in range(0, 6)]
    csv, heard = tmp_path / "wer0.csv", []
    csv.write_text("\n".join(rows) + "\n")
    with pytest.raises(PowertrainError, match="before any training"):
        import_csv(csv, "wer0", 0.3, tmp_path / "r.db", warn=heard.append)
    assert len(heard) == 1 and "val_accuracy falls in 2 of 2 runs" in heard[0]


def test_an_accuracy_whose_runs_mostly_diverge_is_not_taken_for_an_error_rate(tmp_path):
    # three of four learning rates rise, then collapse below their first evaluation: they fall, but
    # every run starts below the target, as an accuracy does; nothing said of it
    csv, heard = tmp_path / "diverged.csv", []
    csv.write_text(diverged_trace())
    import_csv(csv, "diverged", 0.75, tmp_path / "r.db", warn=heard.append)
    assert heard == []


def test_import_refuses_a_cost_axis_named_twice_as_a_study_file_does(tmp_path):
    # --cost-axis X --cost-axis X was taken as one axis, while search.cost_axes: [X, X] is refused
    from tests.cli_helpers import assert_one_clear_error, powertrain

    csv, db = tmp_path / "t.csv", tmp_path / "r.db"
    _write_csv(csv)
    axis = ["--cost-axis", "power_limit_w"]
    args = ["import", str(csv), "--study", "t", "--target", "0.6", "--db", str(db), *axis, *axis]
    assert_one_clear_error(powertrain(*args), "--cost-axis", "power_limit_w twice", "once")
    assert not db.exists()


@pytest.mark.parametrize("name", ["", "  "])
def test_import_refuses_an_empty_study_name_as_a_study_file_does(tmp_path, name):
    # --study "" imported the runs under a study with no name, which no command can then name well
    csv, db = tmp_path / "t.csv", tmp_path / "r.db"
    _write_csv(csv)
    with pytest.raises(PowertrainError, match="--study needs a name"):
        import_csv(csv, name, 0.6, db)
    assert not db.exists()


@pytest.mark.parametrize(("name", "said"), [("a\nb", "U\\+000A"), ("x" * 300, "300 characters")])
def test_import_refuses_a_study_name_a_study_file_may_not_have(tmp_path, name, said):
    # --study $'a\nb' imported runs under a name every later message broke in two
    csv, db = tmp_path / "t.csv", tmp_path / "r.db"
    _write_csv(csv)
    with pytest.raises(PowertrainError, match=f"--study: .*{said}"):
        import_csv(csv, name, 0.6, db)
    assert not db.exists()
