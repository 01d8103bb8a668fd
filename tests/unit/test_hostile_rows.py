"""Rows of the files users hand us (an import, an intensity series) and the settings they type: one
row model and one type check each, so that a short row, a byte-order mark, a duplicate, a name that
collides or a value out of range is one message naming where, and never a wrong figure."""

from __future__ import annotations

import csv
import math

import pytest

from powertrain.carbon.intensity import csv_intensity
from powertrain.errors import ConfigError, PowertrainError
from powertrain.inputs import read_csv_table
from powertrain.search import importer
from powertrain.search.strategies import make_strategy

HEADER = "optimizer,seed,epoch,energy_j,val_accuracy\n"


def write(tmp_path, text: str | bytes, name: str = "f.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# -- the row model --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,c\n1,2\n", "line 2: 2 cells, but the header has 3"),
        ("a,b,c\n1,2,3\n4,5,6,7\n", "line 3: 4 cells, but the header has 3"),
        ("a,b,c\n1,2,3\n\n1\n", "line 4: 1 cells"),
        ("a,,c\n1,2,3\n", "column 2 has no name"),
        ("a,b,a\n1,2,3\n", "column 'a' appears more than once"),
        ("", "is empty: no header line"),
        ("\nseed,x\n1,2\n", "its first line is blank; it must name the columns"),
        # a quote left open read the rest of the file as one cell, a stray one was dropped
        ('a,b,c\n1,2,3\n4,5,"6\n', "line 3 is not a readable CSV: unexpected end of data"),
        ('a,b,c\n1,"2"x,3\n', "line 2 is not a readable CSV: ',' expected after"),
    ],
    ids=[
        "short",
        "long",
        "after-a-blank",
        "unnamed",
        "repeated",
        "empty",
        "blank-first",
        "open",
        "stray",
    ],  # fmt: skip
)
def test_a_table_that_does_not_hold_together_is_refused_naming_the_line(tmp_path, text, message):
    with pytest.raises(PowertrainError, match=message):
        read_csv_table(write(tmp_path, text), "table")


def test_a_quoted_cell_keeps_its_line_break(tmp_path):
    # read line by line, "x<newline>y" became "xy": a setup that was not the file's
    header, rows = read_csv_table(write(tmp_path, 'a,b\n"x\ny",2\n3,4\n'), "t")
    assert rows == [(3, {"a": "x\ny", "b": "2"}), (4, {"a": "3", "b": "4"})]


def test_a_byte_order_mark_before_the_header_is_accepted(tmp_path):
    header, rows = read_csv_table(write(tmp_path, b"\xef\xbb\xbfseed,x\n1,2\n"), "t", ("seed",))
    assert header == ["seed", "x"] and rows == [(2, {"seed": "1", "x": "2"})]


# -- an import --------------------------------------------------------------------------------------------
def rows(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (rows("sgd,0,1,10,0.5", "sgd,0,2,20"), "line 3: 4 cells"),
        (rows("sgd,0,1,10,0.5", ",0,2,20,0.6,extra"), "line 3: 6 cells"),
        (rows("sgd,0,1,1e308,0.5"), r"column energy_j: '1e308' is not a number from 0 to 1e\+15"),
        (rows("sgd,0,1,2e15,0.5"), "column energy_j"),
        (rows("sgd,0,1e10,5,0.5"), "column epoch"),
        (rows("sgd,1.5,1,5,0.5"), r"column seed: '1.5' is not a whole number from -2,147,483,648"),
    ],
    ids=["missing cell", "extra cell", "near the float limit", "beyond any run", "epoch", "seed"],
)
def test_an_import_row_that_is_short_long_or_huge_is_one_message(tmp_path, text, message):
    with pytest.raises(PowertrainError, match=message):
        importer.read_csv(write(tmp_path, text))


def test_an_import_with_windows_line_ends_reads_as_without(tmp_path):
    text = rows("sgd,0,1,10,0.5", "sgd,0,2,20,0.7", "adam,1,1,12,0.6")
    crlf = importer.read_csv(write(tmp_path, text.replace("\n", "\r\n"), "crlf.csv"))
    assert crlf == importer.read_csv(write(tmp_path, text, "plain.csv"))


def test_an_import_with_a_byte_order_mark_reads_as_without(tmp_path):
    text = rows("sgd,0,1,10,0.5", "sgd,0,2,20,0.7")
    with_bom = importer.read_csv(write(tmp_path, b"\xef\xbb\xbf" + text.encode(), "bom.csv"))
    assert with_bom == importer.read_csv(write(tmp_path, text, "plain.csv"))


@pytest.mark.parametrize(
    "second",
    ["sgd,0,2,25,0.7", "sgd,0,2,20,0.8", "sgd,0,2.0,40,0.9"],
    ids=["energy", "accuracy", "same epoch written 2.0"],
)
def test_one_run_at_one_epoch_twice_with_different_values_is_refused(tmp_path, second):
    text = rows("sgd,0,1,10,0.5", "sgd,0,2,20,0.7", "sgd,0,3,30,0.9", second)
    with pytest.raises(PowertrainError, match="rows 3 and 5: the same run .* at the same epoch 2"):
        importer.read_csv(write(tmp_path, text))


def test_the_same_evaluation_written_twice_is_one_point(tmp_path):
    text = rows("sgd,0,1,10,0.5", "sgd,0,2,20,0.7", "sgd,0,2,20,0.7", "sgd,1,2,20,0.8")
    runs = importer.read_csv(write(tmp_path, text))
    assert [len(r.points) for r in runs] == [2, 1]  # seed 1 at epoch 2 is another run's point
    assert [p.index for p in runs[0].points] == [0, 1]


@pytest.mark.parametrize("name", ["status", "study", "stage", "stop_reason", "run_id", "faults"])
def test_a_setup_column_named_like_a_runs_own_field_is_refused(tmp_path, name):
    text = f"{name},seed,epoch,energy_j,val_accuracy\nx,0,1,10,0.5\n"
    with pytest.raises(PowertrainError, match=f"column '{name}' would be a setup axis"):
        importer.read_csv(write(tmp_path, text))


@pytest.mark.parametrize(
    ("second", "shown"),
    [
        ("nan", "'nan'"),
        ("inf", "'inf'"),
        ("-Infinity", "'-Infinity'"),
        ("1e309", "'1e309'"),
        ("", "''"),
    ],
)
def test_a_setup_number_that_is_blank_nan_or_inf_is_refused_naming_the_row(tmp_path, second, shown):
    """They were imported: NaN and inf as setups no run groups with (NaN is not NaN) and JSON
    cannot carry; a blank made the whole column text, '0.1' no longer a number."""
    text = rows("0.1,0,1,10,0.5", f"{second},1,1,10,0.5").replace("optimizer", "lr")
    with pytest.raises(PowertrainError, match=f"row 3, column lr: {shown} in a column of numbers"):
        importer.read_csv(write(tmp_path, text))
    text_column = rows("sgd,0,1,10,0.5", "nan,1,1,10,0.5")  # a text column may hold 'nan'
    assert {r.setup["optimizer"] for r in importer.read_csv(write(tmp_path, text_column))} == {
        "sgd",
        "nan",
    }


def test_text_setups_that_would_read_alike_in_a_run_key_are_two_runs(tmp_path):
    """a='1 b=2', b='x' and a='1', b='2 b=x' made one key: the import failed with a ValueError."""
    text = "a,b,seed,epoch,energy_j,val_accuracy\n1 b=2,x,0,1,10,0.5\n1,2 b=x,0,1,10,0.5\n"
    assert importer.import_csv(write(tmp_path, text), "st", 0.5, tmp_path / "r.db") == 2


def test_one_run_whose_rows_state_two_methods_is_refused(tmp_path):
    """The run took the first row's method: a run partly estimated could be labelled measured."""
    text = "seed,epoch,energy_j,val_accuracy,method\n0,1,10,0.5,nvml\n0,2,20,0.6,estimate\n"
    with pytest.raises(PowertrainError, match="rows 2 and 3: one run .* nvml and estimate"):
        importer.read_csv(write(tmp_path, text))


def test_a_cost_axis_given_twice_or_empty_is_refused_before_anything_is_written(tmp_path):
    """Named twice, as a study file's search.cost_axes: [X, X] is (one rule, cost_axis_names)."""
    from powertrain.store.sqlite import SqliteStore

    text = rows("sgd,0,1,10,0.5", "adam,0,1,10,0.5")
    db = tmp_path / "r.db"
    with pytest.raises(PowertrainError, match="names optimizer twice; name each axis once"):
        importer.import_csv(write(tmp_path, text), "st", 0.5, db, ["optimizer", " optimizer"])
    if db.exists():
        with SqliteStore(db) as store:
            assert store.studies() == []
    with pytest.raises(PowertrainError, match="--cost-axis needs a setup column's name"):
        importer.import_csv(write(tmp_path, text), "other", 0.5, db, [""])


def test_no_energy_after_training_began_is_refused_and_at_the_start_is_kept(tmp_path):
    """0 J at epoch 1 was imported: `powertrain simulate --strategy auto` then took log(0) (a
    ValueError traceback), and an energy-to-target of 0 J ranks a setup best for free."""
    with pytest.raises(PowertrainError, match="row 3, column energy_j: 0 J at epoch 1"):
        importer.read_csv(write(tmp_path, rows("sgd,0,0,0,0.1", "sgd,0,1,0,0.5")))
    [run] = importer.read_csv(write(tmp_path, rows("sgd,0,0,0,0.1", "sgd,0,1,5,0.5")))
    assert [p.total_energy_j for p in run.points] == [0, 5]


def test_a_target_the_untrained_model_meets_is_refused_before_anything_is_written(tmp_path):
    from powertrain.store.sqlite import SqliteStore

    path, db = write(tmp_path, rows("sgd,0,0,0,0.3", "sgd,0,1,5,0.5")), tmp_path / "r.db"
    with pytest.raises(PowertrainError, match="at --target 0.2 with 0 J, before any training"):
        importer.import_csv(path, "st", 0.2, db)
    with SqliteStore(db) as store:
        assert store.studies() == []
    assert importer.import_csv(path, "st", 0.4, db) == 1


# -- what the report writes from whatever names came in --------------------------------------------------
@pytest.mark.parametrize("name", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx"])
def test_names_that_spreadsheets_would_run_are_written_as_text(tmp_path, name):
    from powertrain.render.export import cell

    assert cell(name) == "'" + name
    assert cell("lr=0.1") == "lr=0.1" and cell(-2.5) == -2.5 and cell(None) is None


def test_imported_names_reach_the_csv_files_neither_as_formulas_nor_over_a_runs_column(tmp_path):
    from powertrain.render.build import build_report

    db = tmp_path / "r.db"
    text = '=HYPERLINK("x"),seed,epoch,energy_j,val_accuracy,machine\n'
    for seed in (0, 1):
        text += f"@a,{seed},1,10,0.5,-m\n@a,{seed},2,20,0.95,-m\n"
    importer.import_csv(write(tmp_path, text), "=study", 0.9, db)
    from powertrain.store.sqlite import SqliteStore

    with SqliteStore(db) as store:
        files = build_report(store, tmp_path / "report", "=study")
    folder = files.html.parent
    for name in ("summary.csv", "runs.csv", "points.csv"):
        with (folder / name).open(newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))
        cells = [c for row in table for c in row]
        assert not any(c.startswith(("=", "+", "-", "@")) for c in cells), (name, cells)
        assert '\'=HYPERLINK("x")' in table[0] or name == "summary.csv"


def test_a_study_with_no_setup_columns_reports_as_one_cell(tmp_path):
    """No setup axis (an import with only the required columns, or track() without a setup): the
    report's heatmap took the first of no axes, an IndexError traceback from `powertrain report`."""
    from powertrain.render.build import build_report
    from powertrain.store.sqlite import SqliteStore

    db = tmp_path / "r.db"
    text = "seed,epoch,energy_j,val_accuracy\n0,1,10,0.5\n0,2,20,0.95\n1,1,12,0.6\n1,2,24,0.9\n"
    importer.import_csv(write(tmp_path, text), "plain", 0.9, db)
    with SqliteStore(db) as store:
        files = build_report(store, tmp_path / "report", "plain")
    assert files.html.is_file() and any(files.html.parent.glob("*heatmap.png"))


def test_a_setup_key_never_overwrites_a_runs_own_column(tmp_path):
    from powertrain.render.export import FIXED, _column

    assert all(_column(k) == f"setup.{k}" for k in FIXED)
    assert _column("energy_j_cpu") == "setup.energy_j_cpu" and _column("lr") == "lr"


# -- intensity series -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,g_per_kwh\n2026-01-01T00:00:00Z\n", "line 2: 1 cells"),
        ("timestamp,g_per_kwh\n2026-01-01T00:00:00Z,1,2\n", "line 2: 3 cells"),
        ("g_per_kwh\n300\n", "expected a header with columns timestamp,g_per_kwh"),
        (
            "timestamp,g_per_kwh\n2026-01-01T00:00:00Z,300\n2026-01-01T01:00:00+01:00,200\n",
            "lines 2 and 3: the same instant twice",
        ),
    ],
    ids=["short", "long", "no timestamp", "one instant in two spellings"],
)
def test_an_intensity_series_that_does_not_hold_together_is_one_message(tmp_path, text, message):
    with pytest.raises(PowertrainError, match=message):
        csv_intensity(write(tmp_path, text))


def test_an_intensity_series_with_a_byte_order_mark_reads(tmp_path):
    series = csv_intensity(write(tmp_path, b"\xef\xbb\xbftimestamp,g_per_kwh\n2026-01-01,300\n"))
    assert series.series_g_per_kwh == [300.0]


# -- a strategy's settings --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("strategy", "settings", "message"),
    [
        ("halving", {"eta": "abc"}, "halving setting eta: expected a number, got 'abc'"),
        ("halving", {"growth": "fast"}, "halving setting growth: .*fits none|expected a number"),
        ("thompson", {"confidence": "high"}, "thompson setting confidence: expected a number"),
        ("thompson", {"draws": 2.5}, "thompson setting draws: expected a whole number"),
        ("bound", {"beta": math.inf}, "bound setting beta: expected a finite number"),
        ("zeus", {"beta": True}, "zeus setting beta: expected a number"),
        ("optuna", {"trials": "many"}, "optuna setting trials: expected a whole number"),
        ("halving", {"rank": 3.0}, "halving setting rank: expected text"),
    ],
)
def test_a_setting_of_the_wrong_type_is_one_message_naming_it(strategy, settings, message):
    with pytest.raises(ConfigError, match=message):
        make_strategy(strategy, **settings)


def test_whole_floats_from_the_command_line_are_counts():
    assert make_strategy("halving", finalists=3.0, eta=4.0).finalists == 3


@pytest.mark.parametrize(
    "search",
    [
        {"strategy": "halving", "eta": "abc"},
        {"strategy": "thompson", "settings": {"draws": "many"}},
        {"strategy": "optuna", "beta": "high"},
    ],
    ids=["halving", "thompson", "optuna"],
)
def test_a_studys_search_setting_of_the_wrong_type_stops_it_before_any_run(search):
    from powertrain.search.run import run_with_search
    from powertrain.store.memory import MemoryStore
    from powertrain.study.config import parse_study

    study = parse_study(
        {
            "name": "s",
            "task": {"dataset": "digits", "model": "mlp", "target_accuracy": 0.5},
            "grid": {"learning_rate": [0.1, 0.2]},
            "search": search,
        }
    )
    store = MemoryStore()
    with pytest.raises(ConfigError, match=f"{search['strategy']} setting"):
        run_with_search(study, store)
    assert store.runs() == []
