"""``powertrain export`` run twice, against runs that are not the attempt exported: the same study in
another machine's store (its run ids count from 1 too, its runs overlap in time) is a run of its own
in the tool, never "already there"."""

from __future__ import annotations

import time

import pytest

from powertrain import open_store
from powertrain.records import EvalPoint
from powertrain.testing.store_contract import outcome
from powertrain.tracking.store import begin_run
from tests.tool_readers import mlflow_runs, tensorboard_text

ESTIMATE = {"cpu": {"meter": "tdp", "method": "estimate", "estimated": True, "details": {}}}


def machine_store(db, host: str, energy_j: float = 10.0):
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
        store.add_eval_point(run_id, EvalPoint(0, 10, 1.0, 0, None, 0.9, 1.0, {"cpu": energy_j}))
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
    from powertrain.loggers.export import export_study
    from tests.tool_readers import tensorboard_scalars

    energies = {"node-a": 10.0, "node-b": 99.0}
    stores = [machine_store(tmp_path / f"{h}.db", h, j) for h, j in energies.items()]
    target = f"tensorboard:{tmp_path / 'tb'}"
    done = []
    for _ in range(2):
        for db in stores:
            with open_store(db) as store:
                done.append(export_study(store, "shared", target))
    assert [(d.written, d.present) for d in done] == [(1, 0), (1, 0), (0, 1), (0, 1)]
    folders = sorted((tmp_path / "tb" / "shared").iterdir())
    assert len(folders) == 2  # one TensorBoard run each: not b's points in a's run
    for folder in folders:
        [host] = [
            h
            for h in energies
            if f"| powertrain.host | {h} |" in tensorboard_text(folder, "powertrain/run")
        ]
        assert tensorboard_scalars(folder)["energy_j"] == {10: pytest.approx(energies[host])}


def test_a_wandb_export_that_failed_half_way_is_written_again_by_the_next(tmp_path, monkeypatch):
    """Offline, an earlier export's run folder counts as "already there" only once that run ended;
    one the tool's error cut short is the run to write again (the same id), all its points."""
    import wandb

    from powertrain import PowertrainError
    from powertrain.loggers import wandb as wandb_logger
    from powertrain.loggers.export import export_study
    from tests.tool_readers import wandb_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    wandb.teardown()  # W&B keeps the first WANDB_DIR of the process otherwise
    db = tmp_path / "runs.db"
    with open_store(db) as store:
        store.save_study("cut", {"name": "cut"})
        run_id = begin_run(store, "cut", "k", {"lr": 0.1}, {"lr": 0.1}, 0, {}, ESTIMATE, False)
        for idx, step in enumerate((10, 20, 30)):
            point = EvalPoint(idx, step, step / 10, 0, None, 0.3, step / 10, {"cpu": step * 1.0})
            store.add_eval_point(run_id, point)
        store.finish_run(run_id, outcome())

    written = []

    def cut_short(self, point):  # the network went away after the first point
        if written:
            raise ConnectionError("W&B went away")
        written.append(point)
        self.run.log({"energy_j": point.total_energy_j}, step=point.step)

    with monkeypatch.context() as m, open_store(db) as store:
        m.setattr(wandb_logger.WandbRun, "point", cut_short)
        with pytest.raises(PowertrainError, match="W&B went away"):
            export_study(store, "cut", "wandb")
    wandb.teardown()
    # W&B names an offline folder by the second it began: an export again within the same second
    # writes into the cut-off one's folder, whose record log then ends with no outcome (left, in
    # docs/trackers.md); a retry a second later has a folder of its own
    time.sleep(1.1)
    with open_store(db) as store:
        again = export_study(store, "cut", "wandb")
    wandb.teardown()
    assert (again.written, again.present) == (1, 0)  # "1 already there" before: lost for good
    with open_store(db) as store:
        third = export_study(store, "cut", "wandb")
    wandb.teardown()
    assert (third.written, third.present) == (0, 1)  # the whole copy is there now
    runs = [wandb_run(f) for f in (tmp_path / "wandb").glob("offline-run-*")]
    whole = [r for r in runs if "powertrain.status" in r["summary"]]
    assert [sorted(r["history"]) for r in whole] == [[10, 20, 30]]


def test_a_run_paused_and_continued_elsewhere_is_not_completed_again_in_mlflow(
    tmp_path, monkeypatch, mlflow_uri
):
    """Its first machine's live copy stopped at the pause; the machine that continued it logged
    the rest and the outcome, in a second MLflow run of the same attempt: the export leaves both
    (it wrote the continued points a second time into the first before)."""
    import dataclasses

    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.export import export_study
    from powertrain.loggers.mlflow import MlflowDestination
    from tests.tool_readers import mlflow_history

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    db = tmp_path / "runs.db"
    with open_store(db) as store:
        store.save_study("paused", {"name": "paused"})
        run_id = begin_run(store, "paused", "k", {"lr": 0.1}, {"lr": 0.1}, 0, {}, ESTIMATE, False)
        points = [
            EvalPoint(i, step, step / 10, 0, None, 0.3, step / 10, {"cpu": step * 1.0})
            for i, step in enumerate((10, 20, 30))
        ]
        for point in points:
            store.add_eval_point(run_id, point)
        store.finish_run(run_id, outcome())
        [record] = store.runs("paused")
    info = RunInfo.of_record(record)
    first = MlflowDestination().open(dataclasses.replace(info, started_at=info.started_at + 1))
    first.point(points[0])  # paused here: its process ended with the run under way
    continued = MlflowDestination().open(info)  # begun again from the record, elsewhere
    continued.points(points[1:])
    continued.finish(outcome())
    with open_store(db) as store:
        done = export_study(store, "paused", "mlflow")
    assert (done.written, done.completed, done.present) == (0, 0, 1)
    histories = [
        sorted(mlflow_history(mlflow_uri, r.info.run_id, "energy_j"))
        for r in mlflow_runs(mlflow_uri, "paused")
    ]
    assert sorted(histories) == [[10], [20, 30]]  # each step logged once


def test_a_tools_error_of_many_lines_is_one_line_with_its_password_masked(tmp_path, monkeypatch):
    """MLflow's database errors carry their whole SQL statement: the export says the first line."""
    from powertrain import PowertrainError
    from powertrain.loggers import export
    from powertrain.loggers.base import Destination

    class Refusing(Destination):
        name = "mlflow"

        def open(self, info):
            raise RuntimeError(
                "(sqlite3.OperationalError) table x already exists at postgresql://u:pw@h/db\n"
                "[SQL: \nCREATE TABLE x (\n\tid INTEGER\n)\n]"
            )

    monkeypatch.setattr(export, "destination", lambda spec: Refusing())
    db = machine_store(tmp_path / "a.db", "node-a")
    with open_store(db) as store, pytest.raises(PowertrainError) as refused:
        export.export_study(store, "shared", "mlflow")
    message = str(refused.value)
    assert "\n" not in message and "already exists" in message and "pw@" not in message
