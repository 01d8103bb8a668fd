"""What users expect of a command line: python -m, -q/-v, shell exit codes, init, --help, --json."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import yaml

from powertrain.logs import configure_logging
from powertrain.study.config import load_study
from tests.cli_helpers import assert_one_clear_error, powertrain

TINY = {
    "name": "tiny",
    "task": {
        "dataset": "digits",
        "model": "mlp",
        "model_options": {"hidden": [32]},
        "target_accuracy": 0.85,
        "eval_every_steps": 10,
        "max_epochs": 2,
    },
    "grid": {"learning_rate": [0.05, 0.2]},
    "seeds": [0],
    "meters": {"backends": ["estimate"]},
}


def test_python_dash_m_powertrain_is_the_command_line():
    run = subprocess.run(
        [sys.executable, "-m", "powertrain", "--version"], capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout.startswith("powertrain, version")


def test_measure_exits_127_for_a_missing_command_and_126_for_a_file_that_cannot_run(tmp_path):
    missing = powertrain("measure", "--meter", "estimate", "--", "no-such-command-xyz")
    assert missing.returncode == 127
    assert "command not found: no-such-command-xyz" in missing.stderr
    plain = tmp_path / "data.txt"
    plain.write_text("not a program")
    denied = powertrain("measure", "--meter", "estimate", "--", str(plain))
    assert denied.returncode == 126 and "not an executable file" in denied.stderr


def test_init_writes_a_commented_study_that_loads_as_it_is_and_keeps_an_existing_file(tmp_path):
    path = tmp_path / "first.yaml"
    made = powertrain("init", str(path))
    assert made.returncode == 0, made.stderr
    text = path.read_text()
    assert text.count("\n#") >= 10 and "fashion-mnist" in text and "small-cnn" in text
    study = load_study(path)
    assert study.name == "first" and len(study.setups()) >= 2 and len(study.seeds) >= 3
    assert_one_clear_error(powertrain("init", str(path)), "exists", "--force")
    assert powertrain("init", "--force", str(path)).returncode == 0


def test_run_help_lists_the_data_sets_models_and_grid_keys():
    out = powertrain("run", "--help").stdout
    for name in ("fashion-mnist", "digits", "small-cnn", "mlp", "learning_rate", "batch_size"):
        assert name in out


def test_run_json_prints_one_object_and_quiet_hides_the_progress(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    db = tmp_path / "r.db"
    run = powertrain("-q", "run", str(path), "--db", str(db), "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["ran"] == 2 and summary["study"] == "tiny" and summary["db"] == str(db)
    (h,) = summary["headlines"]
    assert h["estimated"] and "ESTIMATE" in h["text"]
    assert "started" not in run.stderr and "study tiny:" not in run.stderr
    assert f"next: powertrain report --db {db} --study tiny" in run.stderr
    line = powertrain("headline", "--db", str(db), "--study", "tiny")
    assert line.returncode == 0 and line.stdout.strip().endswith(h["text"])
    again = powertrain("run", str(path), "--db", str(db))
    assert "resuming: 2 finished runs skipped" in again.stderr
    assert "\x1b" not in again.stderr


def test_log_messages_go_through_the_powertrain_logger_at_the_chosen_level(capsys):
    import io

    stream = io.StringIO()
    logger = configure_logging(-1, stream)
    logging.getLogger("powertrain.something").info("hidden")
    logging.getLogger("powertrain.something").warning("shown")
    configure_logging(1, stream)
    logging.getLogger("powertrain.something").debug("details")
    assert stream.getvalue().splitlines() == [
        "powertrain: shown",
        "DEBUG powertrain.something: details",
    ]
    # one handler of its own however often it is called (others' handlers, such as pytest's
    # capture handlers that a test elsewhere in this process may leave, are not its business)
    assert len([h for h in logger.handlers if getattr(h, "_powertrain", False)]) == 1
    configure_logging(0)


def test_an_edited_study_is_refused_and_allow_changed_keeps_its_runs_apart(tmp_path):
    path, db = tmp_path / "tiny.yaml", tmp_path / "r.db"
    path.write_text(yaml.safe_dump(TINY))
    assert powertrain("-q", "run", str(path), "--db", str(db)).returncode == 0
    path.write_text(yaml.safe_dump({**TINY, "task": {**TINY["task"], "target_accuracy": 0.8}}))
    refused = powertrain("-q", "run", str(path), "--db", str(db))
    assert_one_clear_error(
        refused, "task.target_accuracy: 0.85 -> 0.8", "--allow-changed", "tiny@2"
    )
    kept = powertrain("-q", "run", str(path), "--db", str(db), "--allow-changed", "--json")
    assert kept.returncode == 0, kept.stderr
    summary = json.loads(kept.stdout)
    assert summary["study"] == "tiny@2" and summary["ran"] == 2
    assert summary["changes"] == ["task.target_accuracy: 0.85 -> 0.8"]
    runs = json.loads(powertrain("ls", "--db", str(db), "--json").stdout)
    by_study = {name: [r for r in runs if r["study"] == name] for name in ("tiny", "tiny@2")}
    assert [len(v) for v in by_study.values()] == [2, 2]  # never pooled: two each, as run
    again = powertrain("-q", "run", str(path), "--db", str(db), "--allow-changed", "--json")
    assert json.loads(again.stdout)["skipped"] == 2  # the same edit resumes its version


def test_json_is_one_strict_document_on_stdout_on_every_command(tmp_path):
    path, db = tmp_path / "tiny.yaml", str(tmp_path / "r.db")
    path.write_text(yaml.safe_dump(TINY))
    commands = [
        ("run", str(path), "--db", db),
        ("report", "--db", db, "--out", str(tmp_path / "report")),
        ("ls", "--db", db),
        ("headline", "--db", db),
        ("carbon", "--db", db, "--intensity", "300"),
    ]
    for args in commands:
        run = powertrain("-q", *args, "--json")
        assert run.returncode == 0, (args, run.stderr)
        assert "NaN" not in run.stdout and "Infinity" not in run.stdout, args
        json.loads(run.stdout)
        assert run.stdout.startswith(("{", "[")), args  # nothing else on stdout
    words = powertrain("report", "--db", db, "--out", str(tmp_path / "report"))
    (headline,) = json.loads(powertrain("headline", "--db", db, "--json").stdout)
    assert f"{headline['title']}: {headline['text']}" in words.stdout  # the same line as headline
