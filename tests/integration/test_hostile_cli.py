"""Hostile and careless input at the command line: one clear line, never a traceback or a NaN."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from tests.cli_helpers import assert_one_clear_error, powertrain

NUMBERS = [
    (["carbon", "--intensity", "nan"], "--intensity", "g CO2e per kWh"),
    (["carbon", "--intensity", "400", "--pue", "inf"], "--pue", "facility energy"),
    (["carbon", "--intensity", "400", "--lifetime-years", "nan"], "--lifetime-years", "years"),
    (["carbon", "--intensity", "400", "--hardware-share", "1.5"], "--hardware-share", "at most 1"),
    (["carbon", "--intensity", "400", "--hardware-share", "-inf"], "--hardware-share", "machine"),
    (["meters", "--cpu-tdp-w", "nan"], "--cpu-tdp-w", "W"),
    (["meters", "--cpu-tdp-w", "-65"], "--cpu-tdp-w", "positive"),
    (["idle", "--seconds", "nan"], "--seconds", "finite (s)"),
    (["idle", "--seconds", "0"], "--seconds", "positive"),
    (["measure", "--interval", "nan", "--", "true"], "--interval", "finite (s)"),
    (["measure", "--interval", "-1", "--", "true"], "--interval", "positive"),
    (["report", "--queries", "1e400"], "--queries", "whole number"),
    (["infer", "--study", "s", "--repeats", "0"], "--repeats", "at least 1"),
]


def _clear_usage_error(run, *fragments: str) -> None:
    """One line on stderr that names the option (and what it takes), exit code 2."""
    assert run.returncode == 2
    assert_one_clear_error(run, *fragments)


@pytest.mark.parametrize(("args", "option", "unit"), NUMBERS, ids=lambda a: " ".join(a)[:40])
def test_non_finite_or_out_of_range_numbers_are_refused_naming_option_and_unit(args, option, unit):
    _clear_usage_error(powertrain(*args, timeout=60), option, unit)


def test_measure_trace_naming_a_folder_or_a_missing_folder(tmp_path):
    run = powertrain("measure", "--trace", str(tmp_path), "--", "true")
    _clear_usage_error(run, "--trace", "is a folder")
    run = powertrain("measure", "--trace", str(tmp_path / "absent" / "t.trace"), "--", "true")
    _clear_usage_error(run, "--trace", "does not exist")


def test_db_that_is_a_folder_or_under_a_file(tmp_path):
    _clear_usage_error(powertrain("ls", "--db", str(tmp_path)), "--db", "is a folder")
    (tmp_path / "file").write_text("x")
    run = powertrain("idle", "--db", str(tmp_path / "file" / "x.db"))
    _clear_usage_error(run, "--db", "is a file")


def _store_with_a_run(path) -> None:
    powertrain("idle", "--seconds", "0.05", "--meter", "estimate", "--db", str(path))
    assert path.is_file()


def test_merge_into_a_hard_link_of_an_input_is_refused_at_once(tmp_path):
    source = tmp_path / "a.db"
    _store_with_a_run(source)
    os.link(source, tmp_path / "link.db")
    run = powertrain("merge", str(source), "-o", str(tmp_path / "link.db"), timeout=20)
    assert_one_clear_error(run, "is the output store itself")
    os.symlink(source, tmp_path / "sym.db")
    run = powertrain("merge", str(tmp_path / "sym.db"), "-o", str(source), timeout=20)
    assert_one_clear_error(run, "is the output store itself")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("attempt to write a readonly database", "cannot be written"),
        ("database or disk is full", "the disk is full"),
    ],
)
def test_a_read_only_or_full_store_is_one_line(tmp_path, monkeypatch, capsys, message, expected):
    from powertrain.cli import main
    from powertrain.store.sqlite import SqliteStore

    def fail(*args, **kwargs):
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(SqliteStore, "save_idle", fail)
    with pytest.raises(SystemExit) as info:
        main(["idle", "--seconds", "0.05", "--meter", "estimate", "--db", str(tmp_path / "x.db")])
    assert info.value.code == 2
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert expected in line and "--db" in line


def test_a_full_disk_while_writing_a_file_is_one_line(monkeypatch, capsys, tmp_path):
    import errno

    from powertrain import cli

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.db"))

    monkeypatch.setattr("powertrain.store.sqlite.SqliteStore.save_idle", full)
    with pytest.raises(SystemExit):
        cli.main(
            ["idle", "--seconds", "0.05", "--meter", "estimate", "--db", str(tmp_path / "x.db")]
        )
    assert "the disk is full" in capsys.readouterr().err


def test_carbon_json_never_prints_nan(tmp_path):
    db = tmp_path / "r.db"
    _store_with_a_run(db)
    with sqlite3.connect(db) as con:  # a run from an older powertrain that stored NaN joules
        con.execute(
            "INSERT INTO runs (study, run_key, setup, train, seed, status, hardware, provenance,"
            " started_at, finished_at, outcome, stage) VALUES ('s', 'k', '{}', '{}', 0, 'reached',"
            " '{\"host\": \"h\"}', '{}', 0, 1, ?, 'train')",
            (
                json.dumps(
                    {
                        "status": "reached",
                        "stop_reason": "x",
                        "total_energy_j": float("nan"),
                        "energy_j": {},
                        "duration_s": 1.0,
                        "steps": 1,
                    }
                ),
            ),
        )
    run = powertrain("carbon", "--db", str(db), "--intensity", "400", "--json")
    assert "NaN" not in run.stdout
    assert_one_clear_error(run, "no figure")


def test_report_out_that_is_a_file_or_cannot_be_written_is_one_line(tmp_path):
    db = tmp_path / "r.db"
    _store_with_a_run(db)
    (tmp_path / "file").write_text("x")
    run = powertrain("report", "--db", str(db), "--out", str(tmp_path / "file"))
    assert_one_clear_error(run, "--out", "is a file")
    run = powertrain("report", "--db", str(db), "--out", str(tmp_path / "file" / "below"))
    assert_one_clear_error(run, "--out", "cannot make")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:  # root writes in any folder it owns; /proc/self refuses even root
        locked = "/proc/self"
    run = powertrain("report", "--db", str(db), "--out", str(locked))
    assert_one_clear_error(run, "--out", "cannot write in", str(locked))


# -- second pass: the surfaces added since, one clear line each, and nothing written where it reads ----
def _digest(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "command", [["ls"], ["report", "--out", "OUT"], ["headline", "--study", "s"]]
)
def test_a_reading_command_on_another_programs_database_changes_nothing(tmp_path, command):
    db = tmp_path / "app.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
        conn.execute("INSERT INTO customers VALUES ('ada')")
    conn.close()
    before = (_digest(db), sorted(p.name for p in tmp_path.iterdir()))
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    assert_one_clear_error(powertrain(*args, "--db", str(db)), "another program", "customers")
    assert (_digest(db), sorted(p.name for p in tmp_path.iterdir() if p.name != "out")) == before


def test_merge_of_an_empty_input_writes_neither_it_nor_the_output(tmp_path):
    good, empty, out = tmp_path / "good.db", tmp_path / "empty.db", tmp_path / "out.db"
    _store_with_a_run(good)
    empty.write_bytes(b"")
    run = powertrain("merge", str(good), str(empty), "-o", str(out), timeout=30)
    assert_one_clear_error(run, "empty file")
    assert empty.stat().st_size == 0 and not out.exists()


def _imported(tmp_path) -> str:
    path = tmp_path / "points.csv"
    lines = ["lr,seed,epoch,energy_j,val_accuracy"]
    lines += [
        f"{lr},{s},{e},{10 * e * (1 + lr)},{0.3 * e}"
        for lr in (1, 2)
        for s in (0, 1)
        for e in (1, 2, 3)
    ]
    path.write_text("\n".join(lines) + "\n")
    db = tmp_path / "r.db"
    run = powertrain("import", str(path), "--study", "s", "--target", "0.8", "--db", str(db))
    assert run.returncode == 0, run.stderr
    return str(db)


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [("growth=fast", "halving setting growth"), ("finalists=1.5", "halving setting finalists")],
)
def test_simulate_with_a_setting_of_the_wrong_type_is_one_line(tmp_path, setting, fragment):
    db = _imported(tmp_path)
    run = powertrain(
        "simulate", "--study", "s", "--strategy", "halving", "--set", setting, "--db", db
    )
    assert_one_clear_error(run, fragment)


def test_simulate_takes_none_for_a_setting_that_may_be_none_and_refuses_it_for_one_that_may_not(
    tmp_path,
):
    # auto's hedge defaults to 0.25; the linear first look alone is hedge=None, which --set could
    # not say ("expected a number, got 'none'")
    db = _imported(tmp_path)
    base = ("simulate", "--study", "s", "--strategy", "auto", "--repeats", "2", "--db", db)
    run = powertrain(*base, "--set", "hedge=none")
    assert run.returncode == 0, run.stderr
    assert_one_clear_error(powertrain(*base, "--set", "beta=None"), "auto setting beta")


def test_an_intensity_series_with_a_short_row_is_one_line(tmp_path):
    db = _imported(tmp_path)
    series = tmp_path / "i.csv"
    series.write_text("timestamp,g_per_kwh\n2026-01-01T00:00:00Z,300\n2026-01-01T01:00:00Z\n")
    run = powertrain("carbon", "--intensity-csv", str(series), "--db", db)
    assert_one_clear_error(run, "line 3: 1 cells")


def test_a_study_file_with_a_control_character_is_one_line(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_bytes(
        b"name: s\ntask: {dataset: digits, model: mlp}\ngrid: {learning_rate: [0.1\x1b]}\n"
    )
    run = powertrain("run", str(study), "--db", str(tmp_path / "r.db"))
    assert_one_clear_error(run, "not YAML text", "line 3")
    assert not (tmp_path / "r.db").exists()


def _store_with_impossible_joules(db, energy_j: float) -> None:
    """A store (of an older powertrain, or written through the store API) whose one run holds
    ``energy_j`` joules, to its target and in all."""
    from powertrain import open_store
    from powertrain.records import EvalPoint, RunOutcome
    from powertrain.testing.store_contract import begin

    with open_store(db) as store:
        store.save_study("st", {})
        run_id = begin(store)
        store.add_eval_point(run_id, EvalPoint(0, 1, 1.0, 0, None, 0.95, 1.0, {"cpu": energy_j}))
        figures = ("reached", "target", energy_j, {"cpu": energy_j}, 1.0, 1, 0.95, 0.9, energy_j)
        store.finish_run(run_id, RunOutcome(*figures, 1.0, 1))


@pytest.mark.parametrize("energy_j", [float("nan"), float("inf"), -10.0])
@pytest.mark.parametrize("command", ["report", "headline"])
def test_a_stored_run_with_impossible_joules_stops_the_report_with_one_line(
    tmp_path, energy_j, command
):
    db = tmp_path / "r.db"
    _store_with_impossible_joules(db, energy_j)
    args = ["--out", str(tmp_path / "report")] if command == "report" else []
    run = powertrain(command, "--db", str(db), *args)
    assert_one_clear_error(run, "run 1 of study 'st'", "no figure")
    assert not (tmp_path / "report" / "report.html").exists()


def test_a_store_another_process_keeps_locked_is_one_line_and_nothing_is_lost(
    monkeypatch, capsys, tmp_path
):
    from powertrain.cli import main
    from powertrain.store import open_store

    monkeypatch.setattr("powertrain.store.sqlite_open.BUSY_TIMEOUT_S", 0.2)
    source, target = tmp_path / "a.db", tmp_path / "out.db"
    _store_with_impossible_joules(source, 1.0)
    _store_with_impossible_joules(target, 2.0)
    holder = sqlite3.connect(target, isolation_level=None)  # another program's long write
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(SystemExit) as info:
            main(["merge", str(source), "-o", str(target)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert info.value.code == 2
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert "locked by another process" in line and "try again" in line
    with open_store(target) as store:
        assert [r.outcome.total_energy_j for r in store.runs()] == [2.0]


def test_an_empty_store_path_or_a_foreign_url_names_the_argument_it_came_in(tmp_path):
    # merge '' -o x.db said "sources:  is a folder" (the empty path read as the working folder),
    # and a sqlite:// URL among merge's inputs was blamed on a --db the command line never had
    run = powertrain("merge", "", "-o", str(tmp_path / "out.db"), cwd=tmp_path)
    _clear_usage_error(run, "sources: an empty path", "name a store file")
    run = powertrain("merge", str(tmp_path / "a.db"), "-o", "", cwd=tmp_path)
    _clear_usage_error(run, "-o: an empty path")
    run = powertrain("ls", "--db", "", cwd=tmp_path)
    _clear_usage_error(run, "--db: an empty path")
    run = powertrain("merge", "sqlite:///a.db", "-o", str(tmp_path / "out.db"), cwd=tmp_path)
    _clear_usage_error(run, "sources sqlite:///a.db: powertrain has no results store for sqlite")
    assert not (tmp_path / "out.db").exists()


def test_a_metrics_address_without_a_port_is_refused_before_anything_runs(tmp_path):
    # --metrics-addr 0.0.0.0 alone ran the whole study with no endpoint anywhere, and said nothing
    import yaml

    from tests.unit.test_study_config import study

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study()))
    db = tmp_path / "r.db"
    run = powertrain("run", "s.yaml", "--db", str(db), "--metrics-addr", "0.0.0.0", cwd=tmp_path)
    _clear_usage_error(run, "--metrics-addr 0.0.0.0", "give --metrics-port PORT too")
    assert not db.exists()
    run = powertrain("measure", "--metrics-addr", "::1", "--", "true")
    _clear_usage_error(run, "--metrics-addr ::1", "give --metrics-port PORT too")
