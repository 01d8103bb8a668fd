"""Studies on the user's own model and data: in memory, streamed from a map-style Dataset, and bad
user code stopped with one line before anything trains."""

from __future__ import annotations

import sqlite3

import yaml

from powertrain.meters.detect import detect_meters
from powertrain.store import open_store
from powertrain.study.config import load_study
from powertrain.study.runner import run_study
from tests.cli_helpers import powertrain
from tests.fakes.user_code import user_study, write_user_code


def assert_stopped_with(run, *fragments: str) -> None:
    """A non-zero exit, no traceback, and the last line the one message (the study's header is
    printed before its data is loaded)."""
    assert run.returncode != 0 and "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("powertrain: error: "), run.stderr
    for fragment in fragments:
        assert fragment in last, last


def run(tmp_path, **task):
    write_user_code(tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(user_study(**task)))
    with open_store(tmp_path / "r.db") as store:
        result = run_study(
            load_study(path),
            store,
            detection=detect_meters(["estimate"]),
            artifacts_dir=tmp_path / "artifacts",
        )
    return result.outcomes


def test_a_study_on_the_users_model_and_tensors_reaches_its_target(tmp_path):
    (outcome,) = run(tmp_path, model_options={"hidden": 8})
    assert outcome.status == "reached", outcome
    assert outcome.energy_to_target_j > 0 and outcome.test_accuracy > 0.8


def test_a_study_on_a_map_style_dataset_that_is_not_a_tensor(tmp_path):
    (streamed,) = run(tmp_path / "s", dataset="./data.py:streamed")
    (in_memory,) = run(tmp_path / "m", dataset="./data.py:load")
    assert streamed.status == "reached", streamed
    assert streamed.test_accuracy > 0.8
    # The same data, shuffled with the same seeded generator: the same run, step for step.
    assert streamed.steps_to_target == in_memory.steps_to_target


def test_a_model_that_does_not_fit_the_data_stops_the_study_before_training(tmp_path):
    write_user_code(tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(user_study(model="./models.py:wrong_outputs")))
    db = tmp_path / "r.db"
    assert_stopped_with(
        powertrain("run", str(path), "--db", str(db)),
        "model",
        "wrong_outputs",
        "fails on a batch of 2 inputs of shape (1, 4, 4)",
    )
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_a_data_set_of_the_wrong_shape_stops_the_study_before_training(tmp_path):
    write_user_code(tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(user_study(dataset="./data.py:wrong_shape")))
    assert_stopped_with(
        powertrain("run", str(path), "--db", str(tmp_path / "r.db")),
        "inputs of shape (1, 4, 4), not input_shape (1, 8, 8)",
    )
