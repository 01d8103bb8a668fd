"""Exports of runs whose names no tool was made for: a setup value with a newline or a pipe, a
hyperparameter named ``layers[0]``. Each tool gets the run once, however many times it is exported."""

from __future__ import annotations

import pytest

from powertrain import open_store
from powertrain.records import EvalPoint
from powertrain.testing.store_contract import outcome
from powertrain.tracking.store import begin_run

ESTIMATE = {"cpu": {"meter": "tdp", "method": "estimate", "estimated": True, "details": {}}}


def odd_store(db, setup: dict, study: str = "odd"):
    """A study's one finished run, of ``setup`` (its run key says the setup, as the study's do)."""
    key = " ".join(f"{k}={v}" for k, v in setup.items()) + " seed=0"
    with open_store(db) as store:
        store.save_study(study, {"name": study})
        run_id = begin_run(store, study, key, setup, setup, 0, {"host": "h"}, ESTIMATE, False)
        store.add_eval_point(run_id, EvalPoint(0, 10, 1.0, 0, None, 0.9, 1.0, {"cpu": 10.0}))
        store.finish_run(run_id, outcome())
    return db


@pytest.mark.parametrize("value", ["two\nlines", "a | b", "back\\slash\\n", "cr\rlf", "u\u2028v"])
def test_a_tensorboard_export_again_finds_a_run_whose_setup_holds_a_newline_or_pipe(
    tmp_path, value
):
    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.export import export_study
    from powertrain.loggers.tensorboard import run_folder

    db = odd_store(tmp_path / "runs.db", {"note": value})
    target = f"tensorboard:{tmp_path / 'tb'}"
    with open_store(db) as store:
        done = [export_study(store, "odd", target) for _ in range(2)]
        [record] = store.runs("odd")
    assert [(d.written, d.present) for d in done] == [(1, 0), (0, 1)]
    folder = run_folder(tmp_path / "tb", RunInfo.of_record(record))
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def test_hyperparameters_mlflow_would_refuse_by_name_are_logged_under_names_it_takes(
    tmp_path, monkeypatch, mlflow_uri
):
    from powertrain.loggers.export import export_study
    from tests.tool_readers import mlflow_runs

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    setup = {"layers[0]": 3, "lr(decay)": 0.5, "a//b": 1, "../up": 2, "x[0]": 7, "x_0_": 8}
    with open_store(odd_store(tmp_path / "runs.db", setup)) as store:
        done = [export_study(store, "odd", "mlflow") for _ in range(2)]
    assert [(d.written, d.present) for d in done] == [(1, 0), (0, 1)]
    [run] = mlflow_runs(mlflow_uri, "odd")
    assert sorted(run.data.params.values()) == sorted(["0", "1", "2", "3", "0.5", "7", "8"])
    assert run.data.params["layers_0_"] == "3" and run.data.params["x_0_"] == "8"
    assert run.data.metrics["energy_j"] == 10.0


def test_mlflow_is_asked_for_each_runs_own_key_not_every_run_of_the_study(
    tmp_path, monkeypatch, mlflow_uri
):
    """A study's keys read ``lr=0.1 seed=0``: looking each up by paging through every run of the
    experiment made an export of 300 runs take two minutes, growing with the square of the runs."""
    from mlflow.tracking import MlflowClient

    from powertrain.loggers.export import export_study

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    asked, search = [], MlflowClient.search_runs

    def searching(self, experiment_ids, filter_string="", *args, **kwargs):
        asked.append(filter_string)
        return search(self, experiment_ids, filter_string, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "search_runs", searching)
    for study, setup in (("keys", {"lr": 0.1}), ("quote", {"note": "it's, 50% (a|b)"})):
        with open_store(odd_store(tmp_path / f"{study}.db", setup, study)) as store:
            done = [export_study(store, study, "mlflow") for _ in range(2)]
        assert [(d.written, d.present) for d in done] == [(1, 0), (0, 1)]
    # one look-up a second export (none while the experiment is new); a key holding a quote
    # (MLflow's filters take none) alone by paging
    assert [bool(f) for f in asked] == [True, False]


@pytest.mark.parametrize("study", ["..", ".", "..."])
def test_a_study_named_like_a_folder_step_keeps_its_tensorboard_runs_in_the_log_folder(
    tmp_path, study
):
    from powertrain.loggers.export import export_study

    logs = tmp_path / "logs"
    with open_store(odd_store(tmp_path / "runs.db", {"lr": 0.1}, study)) as store:
        export_study(store, study, f"tensorboard:{logs}")
    [event] = list(tmp_path.rglob("events.out.tfevents.*"))
    assert event.parent.parent.parent == logs  # logs/<study>/<run>/events...
