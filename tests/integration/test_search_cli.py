"""Import, simulate and predict from the command line, and an imported study reported like a native one."""

from __future__ import annotations

import json

import pytest

from powertrain.errors import PowertrainError
from powertrain.search import importer
from powertrain.store.sqlite import SqliteStore
from tests.cli_helpers import assert_one_clear_error, powertrain

HEADER = "optimizer,batch_size,seed,epoch,energy_j,val_accuracy,elapsed_s,machine\n"


def good_csv(path, rows_per_run=6, machine="A100 (paper)"):
    lines = [HEADER]
    for opt, bs, speed in [("sgd", 32, 0.08), ("adam", 64, 0.12), ("sgd", 128, 0.03)]:
        for seed in (0, 1, 2):
            for e in range(1, rows_per_run + 1):
                acc = min(0.5 + speed * e + 0.01 * seed, 0.99)
                lines.append(
                    f"{opt},{bs},{seed},{e},{40.0 * e + seed},{acc:.3f},{10 * e},{machine}\n"
                )
    path.write_text("".join(lines))
    return path


def test_a_good_file_is_imported_whole_and_reports_like_a_native_study(tmp_path):
    from powertrain.render.build import build_report

    db = tmp_path / "r.db"
    run = powertrain(
        "import",
        str(good_csv(tmp_path / "a.csv")),
        "--study",
        "paper",
        "--target",
        "0.85",
        "--db",
        str(db),
    )
    assert run.returncode == 0, run.stderr
    assert "9 runs imported" in run.stdout
    with SqliteStore(db) as store:
        runs = store.runs("paper")
        assert len(runs) == 9
        assert {type(r.setup["batch_size"]) for r in runs} == {int}
        assert all(r.estimated and "imported" in r.method_label for r in runs)
        assert {r.status for r in runs} == {"reached", "censored"}
        assert len(store.eval_points(runs[0].id)) == 6
        files = build_report(store, tmp_path / "report", "paper")
    assert files.html.is_file()
    assert files.groups[0].best is not None
    assert "A100 (paper)" in files.groups[0].hardware
    html = files.html.read_text()  # auto, the recommended strategy, replayed first; each labelled
    assert "<tr><td class=text>auto</td>" in html and "<th>sample</th>" in html
    assert html.count("<td class=text>out-of-sample</td>") == 5


@pytest.mark.parametrize(
    ("row", "fragments"),
    [
        ("sgd,32,0,7,not-a-number,0.9,70,m\n", ["row 29", "column energy_j"]),
        ("sgd,32,0,7,300,1.5,70,m\n", ["row 29", "column val_accuracy", "a percentage divided"]),
        ("sgd,32,x,7,300,0.9,70,m\n", ["row 29", "column seed"]),
    ],
)
def test_a_bad_row_rejects_the_whole_file_with_one_message(tmp_path, row, fragments):
    path = good_csv(tmp_path / "a.csv")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:28] + [row] + lines[28:]))
    db = tmp_path / "r.db"
    run = powertrain("import", str(path), "--study", "paper", "--target", "0.85", "--db", str(db))
    assert_one_clear_error(run, *fragments)
    assert not db.exists() or not SqliteStore(db).runs("paper")


def test_energy_that_is_not_cumulative_is_rejected(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "sgd,32,0,1,50,0.5,1,m\nsgd,32,0,2,40,0.6,2,m\n")
    with pytest.raises(PowertrainError, match="row 3, column energy_j: .*cumulative"):
        importer.read_csv(path)


def test_a_write_that_fails_half_way_leaves_nothing(tmp_path, monkeypatch):
    db = tmp_path / "r.db"
    SqliteStore(db).close()
    calls = []
    real = importer.begin_run

    def failing(store, *args):
        calls.append(1)
        if len(calls) == 4:
            raise OSError("disk full")
        return real(store, *args)

    monkeypatch.setattr(importer, "begin_run", failing)
    with pytest.raises(OSError):
        importer.import_csv(good_csv(tmp_path / "a.csv"), "paper", 0.85, db)
    with SqliteStore(db) as store:
        assert store.runs() == [] and store.studies() == []


def test_simulate_and_predict_on_an_imported_study(tmp_path):
    db = tmp_path / "r.db"
    importer.import_csv(good_csv(tmp_path / "a.csv", rows_per_run=8), "paper", 0.85, db)
    run = powertrain(
        "simulate",
        "--study",
        "paper",
        "--strategy",
        "bound",
        "--repeats",
        "20",
        "--db",
        str(db),
        "--json",
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["summary"]["within_10pct"] == 1.0
    assert len(result["orders"]) == 20
    run = powertrain("predict", "--study", "paper", "--after-evals", "2", "--db", str(db), "--json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)["rows"]
    assert rows[0]["after_evals"] == 2 and rows[0]["runs_predicted"] > 0
    again = powertrain(
        "import", str(tmp_path / "a.csv"), "--study", "paper", "--target", "0.85", "--db", str(db)
    )
    assert_one_clear_error(again, "already has a study named 'paper'")
    bad = powertrain("simulate", "--study", "paper", "--strategy", "nope", "--db", str(db))
    assert_one_clear_error(bad, "no search strategy named 'nope'")


def test_simulate_replays_optuna_from_the_command_line(tmp_path):
    db = tmp_path / "r.db"
    importer.import_csv(good_csv(tmp_path / "a.csv", rows_per_run=8), "paper", 0.85, db)
    args = ("simulate", "--study", "paper", "--strategy", "optuna", "--repeats", "5")
    run = powertrain(*args, "--set", "trials=4", "--set", "beta=2", "--db", str(db), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["strategy"] == "optuna" and result["settings"] == {"trials": 4, "beta": 2}
    assert len(result["orders"]) == 5 and all(o["pick"] for o in result["orders"])
    assert all(o["energy_j"] >= o["search_energy_j"] > 0 for o in result["orders"])
    again = powertrain(*args, "--set", "trials=4", "--set", "beta=2", "--db", str(db), "--json")
    assert json.loads(again.stdout)["orders"] == result["orders"]  # deterministic for --seed
