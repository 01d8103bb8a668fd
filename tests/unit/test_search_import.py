"""Import of others' traces: what it tells the user about the setup columns it found."""

from powertrain.search.importer import import_csv
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
