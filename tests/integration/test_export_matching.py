"""``powertrain export`` run twice, against runs that are not the attempt exported: the same study in
another machine's store (its run ids count from 1 too, its runs overlap in time) is a run of its own
in the tool, never "already there"."""

from __future__ import annotations

import pytest

from powertrain import open_store
from powertrain.records import EvalPoint
from powertrain.testing.store_contract import outcome
from powertrain.tracking.store import begin_run
from tests.tool_readers import mlflow_runs, tensorboard_text

ESTIMATE = {"cpu": {"meter": "tdp", "method": "estimate", "estimated": True, "details": {}}}


def machine_store(db, host: str):
    """A study's one run, recorded on ``host`` in its own store (run id 1, begun now)."""
    with open_store(db) as store:
        store.save_study("shared", {"name": "shared"})
        run_id = begin_run(
            store,
            "shared",
            "lr=0.1 seed=0",
            {"lr": 0.1},
            {"lr": 0.1},
            0,
            {"host": host},
            ESTIMATE,
            False,
        )
        store.add_eval_point(run_id, EvalPoint(0, 10, 1.0, 0, None, 0.9, 1.0, {"cpu": 10.0}))
        store.finish_run(run_id, outcome())
    return db


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def test_the_same_study_from_two_machines_stores_is_two_runs_in_mlflow(
    tmp_path, monkeypatch, mlflow_uri
):
    from powertrain.loggers.export import export_study

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    stores = [machine_store(tmp_path / f"{h}.db", h) for h in ("node-a", "node-b")]
    done = []
    for db in stores:
        with open_store(db) as store:
            done.append(export_study(store, "shared", "mlflow"))
    assert [(d.written, d.present) for d in done] == [(1, 0), (1, 0)]  # b's was "already there"
    hosts = sorted(r.data.tags["powertrain.host"] for r in mlflow_runs(mlflow_uri, "shared"))
    assert hosts == ["node-a", "node-b"]
    with open_store(stores[1]) as store:  # and a second export of b finds its own copy
        again = export_study(store, "shared", "mlflow")
    assert (again.written, again.present) == (0, 1)


def test_the_same_study_from_two_machines_stores_is_two_runs_in_tensorboard(tmp_path):
    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.export import export_study
    from powertrain.loggers.tensorboard import run_folder

    stores = [machine_store(tmp_path / f"{h}.db", h) for h in ("node-a", "node-b")]
    target = f"tensorboard:{tmp_path / 'tb'}"
    done = []
    for db in stores:
        with open_store(db) as store:
            done.append(export_study(store, "shared", target))
    assert [(d.written, d.present) for d in done] == [(1, 0), (1, 0)]
    with open_store(stores[1]) as store:
        [record] = store.runs("shared")
        again = export_study(store, "shared", target)
    assert (again.written, again.present) == (0, 1)
    text = tensorboard_text(
        run_folder(tmp_path / "tb", RunInfo.of_record(record)), "powertrain/run"
    )
    assert "| powertrain.host | node-b |" in text
