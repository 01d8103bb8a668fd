"""Loggers: a tracked run logged to MLflow (a local SQLite tracking store), TensorBoard (event files) and
W&B (offline), each read back with the tool's own reader and compared with the store's figures to the
joule; a tracker that is misconfigured costs one warning and never the run."""

from __future__ import annotations

import logging

import pytest

from powertrain import PowertrainError, open_store, track
from powertrain.loggers.tensorboard import run_folder
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from powertrain.records import REACHED
from tests.fakes.meters import ConstantPowerMeter
from tests.tool_readers import (
    mlflow_history,
    mlflow_runs,
    tensorboard_hparams,
    tensorboard_scalars,
    tensorboard_text,
    wandb_run,
)

ACCURACIES = (0.5, 0.8, 0.93, 0.97)  # the target (0.9) is reached at the third evaluation


@pytest.fixture
def meters(clock):
    """10 W of CPU and 2 W of RAM, both estimated: every clock.advance(1) costs 12 J."""
    return Detection(
        {
            Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE),
            Component.RAM: ConstantPowerMeter(Component.RAM, 2.0, clock, Method.ESTIMATE),
        }
    )


def tracked_run(db, meters, clock, log_to, study="mine"):
    """One run of a user's loop, logged to ``log_to``; the store's record and its points."""
    with track(
        study,
        {"lr": 0.1, "batch_size": 32},
        0,
        0.9,
        db=db,
        detection=meters,
        device="cpu",
        log_to=log_to,
    ) as run:
        for i, accuracy in enumerate(ACCURACIES):
            clock.advance(1.0 + i / 4)
            if run.evaluate(val_accuracy=accuracy, step=10 * (i + 1), train_loss=1.0 / (i + 1)):
                break
    with open_store(db) as store:
        [record] = store.runs(study)
        return record, store.eval_points(record.id)


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    """One SQLite tracking store for the module's tests (MLflow builds its tables once: seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def test_mlflow_run_has_the_stores_figures_params_and_provenance(
    tmp_path, meters, clock, monkeypatch, mlflow_uri
):
    uri = mlflow_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    record, points = tracked_run(tmp_path / "runs.db", meters, clock, ["mlflow"])
    assert record.status == REACHED
    [logged] = mlflow_runs(uri, "mine")
    data = logged.data
    assert data.params == {"lr": "0.1", "batch_size": "32", "seed": "0"}
    for key in ("energy_j", "energy_j/cpu", "energy_j/ram", "val_accuracy"):
        history = mlflow_history(uri, logged.info.run_id, key)
        figures = [
            p.total_energy_j
            if key == "energy_j"
            else p.to_dict()["val_accuracy"]
            if key == "val_accuracy"
            else p.energy_j[key.split("/")[1]]
            for p in points
        ]
        assert history == pytest.approx(
            dict(zip([p.step for p in points], figures, strict=True)), abs=0.5
        )
    o = record.outcome
    assert data.metrics["energy_to_target_j"] == pytest.approx(o.energy_to_target_j, abs=0.5)
    assert data.metrics["time_to_target_s"] == pytest.approx(o.time_to_target_s)
    assert data.metrics["total_energy_j"] == pytest.approx(o.total_energy_j, abs=0.5)
    tags = data.tags
    assert tags["powertrain.measurement"] == record.method_label  # ESTIMATE (cpu estimate, ...)
    assert tags["powertrain.estimated"] == "true"
    assert (
        tags["powertrain.method.cpu"] == "estimate" and tags["powertrain.meter.ram"] == "constant"
    )
    assert tags["powertrain.run_key"] == record.run_key and tags["powertrain.study"] == "mine"
    assert tags["powertrain.run_id"] == str(record.id)
    assert (
        tags["powertrain.status"] == "reached" and tags["powertrain.stop_reason"] == o.stop_reason
    )
    assert tags["powertrain.verdict"] == o.verdict.value == "target"
    assert logged.info.status == "FINISHED"


def test_tensorboard_event_files_have_the_stores_figures(tmp_path, meters, clock):
    logdir = tmp_path / "tb"
    record, points = tracked_run(tmp_path / "runs.db", meters, clock, [f"tensorboard:{logdir}"])
    from powertrain.loggers.base import RunInfo

    folder = run_folder(logdir, RunInfo.of_record(record))
    scalars = tensorboard_scalars(folder)
    assert scalars["energy_j"] == pytest.approx({p.step: p.total_energy_j for p in points}, abs=0.5)
    assert scalars["energy_j/ram"] == pytest.approx(
        {p.step: p.energy_j["ram"] for p in points}, abs=0.5
    )
    assert scalars["val_accuracy"] == pytest.approx({p.step: p.val_accuracy for p in points})
    o = record.outcome
    assert scalars["energy_to_target_j"] == pytest.approx({o.steps: o.energy_to_target_j}, abs=0.5)
    run_text = tensorboard_text(folder, "powertrain/run")
    assert f"| powertrain.run_key | {record.run_key} |" in run_text
    assert "| powertrain.method.cpu | estimate |" in run_text
    assert "| powertrain.status | reached |" in tensorboard_text(folder, "powertrain/outcome")
    # the HPARAMS tab sets runs' energies side by side: each row says how its joules were obtained
    hparams = tensorboard_hparams(folder)
    assert hparams["powertrain.measurement"] == "ESTIMATE (cpu estimate, ram estimate)"
    assert hparams["powertrain.estimated"] == "true" and hparams["lr"] == 0.1


def test_wandb_offline_run_has_the_stores_figures(tmp_path, meters, clock, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    record, points = tracked_run(tmp_path / "runs.db", meters, clock, ["wandb"])
    [folder] = (tmp_path / "wandb").glob("offline-run-*")
    logged = wandb_run(folder)
    assert logged["name"] == "lr=0.1 batch_size=32 seed=0" and logged["group"] == "mine"
    assert logged["tags"] == ["estimate", "cpu:estimate", "ram:estimate"]
    assert logged["config"]["lr"] == 0.1 and logged["config"]["seed"] == 0
    assert logged["config"]["powertrain"]["powertrain.run_key"] == record.run_key
    for p in points:
        row = logged["history"][p.step]
        assert row["energy_j"] == pytest.approx(p.total_energy_j, abs=0.5)
        assert row["energy_j/cpu"] == pytest.approx(p.energy_j["cpu"], abs=0.5)
        assert row["val_accuracy"] == p.val_accuracy
    summary, o = logged["summary"], record.outcome
    assert summary["energy_to_target_j"] == pytest.approx(o.energy_to_target_j, abs=0.5)
    assert summary["powertrain.status"] == "reached" and logged["exit_code"] == 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "where",
    [
        "nosuchscheme://nowhere",
        "http://127.0.0.1:{port}",
        "postgresql://alice@127.0.0.1:{port}/mlflow",  # MLflow retries a database for minutes
    ],
)
def test_a_misconfigured_or_down_tracker_warns_once_and_the_run_is_recorded(
    where, tmp_path, meters, clock, monkeypatch, caplog
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", where.format(port=free_port()))  # nothing listens
    with caplog.at_level(logging.WARNING):
        record, points = tracked_run(tmp_path / "runs.db", meters, clock, ["mlflow"])
    assert record.status == REACHED and len(points) == 3
    warnings = [r for r in caplog.records if "mlflow logging failed" in r.getMessage()]
    assert len(warnings) == 1 and "the store keeps every figure" in warnings[0].getMessage()


def test_an_unknown_tool_is_refused_before_anything_runs(tmp_path, meters):
    with pytest.raises(PowertrainError, match=r"log_to\[1\]: no logger named 'comet'"):
        track("mine", db=tmp_path / "r.db", detection=meters, log_to=["mlflow", "comet"])
    with pytest.raises(PowertrainError, match=r"log_to\[0\]: mlflow takes no folder"):
        track("mine", db=tmp_path / "r.db", detection=meters, log_to=["mlflow:here"])
    assert not (tmp_path / "r.db").exists()


# -- powertrain run --log-to, a study's log_to:, powertrain export ------------------------------------
TINY_STUDY = """\
name: logged
task:
  dataset: digits
  model: mlp
  model_options: {hidden: [16]}
  target_accuracy: 0.85
  eval_every_steps: 20
  max_epochs: 2
grid:
  learning_rate: [0.001, 0.2]   # one censored, one reached
seeds: [0]
threads: 1
device: cpu
meters: {backends: [estimate]}
log_to: ["tensorboard:%s"]
"""


def test_powertrain_run_logs_every_run_and_export_copies_a_stored_study(
    tmp_path, mlflow_uri, monkeypatch
):
    from tests.cli_helpers import powertrain

    study = tmp_path / "study.yaml"
    study.write_text(TINY_STUDY % (tmp_path / "tb"))
    db = tmp_path / "runs.db"
    env = {**__import__("os").environ, "MLFLOW_TRACKING_URI": mlflow_uri}
    done = powertrain(
        "run",
        str(study),
        "--db",
        str(db),
        "--log-to",
        "mlflow",
        "--metrics-port",
        "0",
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "metrics: http://127.0.0.1:" in done.stderr  # served while it ran, on localhost only
    with open_store(db) as store:
        runs = {r.id: (r, store.eval_points(r.id)) for r in store.runs("logged")}
    assert sorted(r.status.value for r, _ in runs.values()) == ["censored", "reached"]
    from powertrain.loggers.base import RunInfo

    logged = {int(r.data.tags["powertrain.run_id"]): r for r in mlflow_runs(mlflow_uri, "logged")}
    assert logged.keys() == runs.keys()  # one MLflow run per powertrain run
    for run_id, (record, points) in runs.items():
        history = mlflow_history(mlflow_uri, logged[run_id].info.run_id, "energy_j")
        assert history == pytest.approx({p.step: p.total_energy_j for p in points}, abs=0.5)
        assert logged[run_id].data.tags["powertrain.status"] == record.status.value
        scalars = tensorboard_scalars(run_folder(tmp_path / "tb", RunInfo.of_record(record)))
        assert scalars["energy_j"] == pytest.approx(history, abs=0.5)  # the study's own log_to:

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    exported = powertrain("export", "wandb", "--db", str(db), "--study", "logged", timeout=300)
    assert exported.returncode == 0, exported.stderr
    assert "exported 2 runs of 'logged' to wandb" in exported.stdout
    folders = list((tmp_path / "wandb").glob("offline-run-*"))
    by_id = {
        int(w["config"]["powertrain"]["powertrain.run_id"]): w for w in map(wandb_run, folders)
    }
    for run_id, (record, points) in runs.items():
        assert {s: row["energy_j"] for s, row in by_id[run_id]["history"].items()} == pytest.approx(
            {p.step: p.total_energy_j for p in points}, abs=0.5
        )
        assert by_id[run_id]["summary"]["total_energy_j"] == pytest.approx(
            record.outcome.total_energy_j, abs=0.5
        )


def test_a_bad_log_to_in_a_study_file_names_its_path():
    from powertrain.errors import ConfigError
    from powertrain.inputs import load_yaml
    from powertrain.study.config import parse_study

    data = load_yaml(TINY_STUDY.replace('["tensorboard:%s"]', "[mlflow, comet]"), "s.yaml", "study")
    with pytest.raises(ConfigError, match=r"log_to\[1\]: no logger named 'comet'"):
        parse_study(data)


def test_an_unknown_tool_on_the_command_line_is_one_clear_error(tmp_path):
    from tests.cli_helpers import assert_one_clear_error, powertrain

    study = tmp_path / "study.yaml"
    study.write_text(TINY_STUDY % (tmp_path / "tb"))
    refused = powertrain("run", str(study), "--db", str(tmp_path / "r.db"), "--log-to", "comet")
    assert_one_clear_error(refused, "--log-to[0]: no logger named 'comet'")
    assert not (tmp_path / "tb").exists()


def test_a_run_with_a_long_setup_gets_a_tensorboard_folder_the_file_system_takes(tmp_path):
    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.tensorboard import TensorBoardDestination

    setup = {f"axis_{i}_with_a_long_name": "é" * 20 for i in range(12)}  # ~600 bytes of setup
    info = RunInfo("s" * 300, "k", 7, setup, {"lr": 0.1}, 0, {})
    folder = run_folder(tmp_path, info)
    assert folder.name.startswith("7_") and folder.parent.name.startswith("sss")
    assert all(len(part.encode()) <= 255 for part in folder.relative_to(tmp_path).parts)
    logged = TensorBoardDestination(tmp_path).open(info)  # ENAMETOOLONG here before
    logged.writer.close()
    assert folder.is_dir()


def test_a_tracking_uris_password_is_never_in_the_warning(
    tmp_path, meters, clock, monkeypatch, caplog
):
    # MLflow's own error quotes the URI it was given, password and all
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://alice:s3cret@nowhere/x")
    with caplog.at_level(logging.WARNING):
        record, _ = tracked_run(tmp_path / "runs.db", meters, clock, ["mlflow"])
    assert record.status == REACHED
    [warning] = [
        r.getMessage() for r in caplog.records if "mlflow logging failed" in r.getMessage()
    ]
    assert "s3cret" not in warning and "alice:***@nowhere" in warning
    with open_store(tmp_path / "runs.db") as store, pytest.raises(PowertrainError) as refused:
        from powertrain.loggers.export import export_study

        export_study(store, "mine", "mlflow")
    assert "s3cret" not in str(refused.value) and "alice:***@nowhere" in str(refused.value)


def test_a_study_name_longer_than_a_wandb_project_name_still_logs(
    tmp_path, meters, clock, monkeypatch, caplog
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    import wandb

    wandb.teardown()  # W&B keeps the first WANDB_DIR of the process otherwise
    study = "sweep-" + "x" * 200  # W&B takes project names of 128 characters at most
    with caplog.at_level(logging.WARNING):
        tracked_run(tmp_path / "runs.db", meters, clock, ["wandb"], study=study)
    assert not [r for r in caplog.records if "wandb logging failed" in r.getMessage()]
    [folder] = (tmp_path / "wandb").glob("offline-run-*")
    assert wandb_run(folder)["group"] == study


def test_a_study_name_longer_than_an_mlflow_experiment_name_still_logs(
    tmp_path, meters, clock, monkeypatch, caplog, mlflow_uri
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    study = "sweep-" + "x" * 600  # MLflow takes experiment names of 500 characters at most
    with caplog.at_level(logging.WARNING):
        record, _ = tracked_run(tmp_path / "runs.db", meters, clock, ["mlflow"], study=study)
    assert not [r for r in caplog.records if "mlflow logging failed" in r.getMessage()]
    [logged] = mlflow_runs(mlflow_uri, study[:500])
    assert logged.data.tags["powertrain.study"] == study  # the whole name, as a tag


def test_tensorboard_and_wandb_say_estimate_once_another_node_of_the_job_estimated(
    tmp_path, monkeypatch
):
    """A distributed run: rank 0's node read its CPU with a counter, node 1 only estimated it; the
    tools hear it when rank 0 combines the ranks' figures, before the point they make."""
    from powertrain.loggers import loggers
    from powertrain.loggers.base import RunInfo
    from powertrain.records import EvalPoint
    from powertrain.testing.store_contract import outcome

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    import wandb

    wandb.teardown()  # W&B keeps the first WANDB_DIR of the process otherwise
    counter = {"cpu": {"meter": "rapl", "method": "counter", "estimated": False, "details": {}}}
    info = RunInfo("mixed", "k", 1, {"lr": 0.1}, {"lr": 0.1}, 0, counter)
    nodes = [
        {"node": 0, "host": "a", "method": {"cpu": "counter"}, "estimated": {"cpu": False}},
        {"node": 1, "host": "b", "method": {"cpu": "estimate"}, "estimated": {"cpu": True}},
    ]
    fanout = loggers([f"tensorboard:{tmp_path / 'tb'}", "wandb"])
    fanout.run_begun(info)
    fanout.eval_point(1, EvalPoint(0, 1, 1.0, 0, None, 0.5, 1.0, {"cpu": 10.0}))
    fanout.run_nodes(1, nodes)
    fanout.eval_point(1, EvalPoint(1, 2, 2.0, 0, None, 0.6, 2.0, {"cpu": 20.0}))
    fanout.run_finished(1, outcome())  # an outcome that names no node: the tags are the live ones
    fanout.close()
    wandb.teardown()  # W&B's service writes the run file: done once it is shut down
    assert not fanout.failed
    said = "ESTIMATE (cpu estimated on node 1 (b))"
    run_text = tensorboard_text(run_folder(tmp_path / "tb", info), "powertrain/run")
    assert f"| powertrain.measurement | {said} |" in run_text.split("| tag | value |")[-1]
    [folder] = (tmp_path / "wandb").glob("offline-run-*")
    logged = wandb_run(folder)
    assert "measured" not in logged["tags"] and "estimate" in logged["tags"]
    assert logged["config"]["powertrain"]["powertrain.measurement"] == said
    # the CPU's method is no longer rank 0's counter alone, in either tool
    assert "cpu:counter+estimate" in logged["tags"] and "cpu:counter" not in logged["tags"]
    assert logged["config"]["powertrain"]["powertrain.method.cpu"] == "counter+estimate"
    assert "| powertrain.method.cpu | counter+estimate |" in run_text.split("| tag | value |")[-1]


# -- powertrain export, twice --------------------------------------------------------------------
def test_exporting_a_study_twice_to_mlflow_logs_each_run_once(
    tmp_path, meters, clock, monkeypatch, mlflow_uri
):
    from powertrain.loggers.export import export_study

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    record, points = tracked_run(tmp_path / "runs.db", meters, clock, ["mlflow"], study="twice")
    tracked_run(tmp_path / "runs.db", meters, clock, [], study="twice-later")  # not logged live
    with open_store(tmp_path / "runs.db") as store:
        for _ in range(2):
            for study in ("twice", "twice-later"):
                export_study(store, study, "mlflow")  # a second MLflow run of each before
        again = export_study(store, "twice", "mlflow")
    [logged] = mlflow_runs(mlflow_uri, "twice")  # the run logged live, found by its key
    [later] = mlflow_runs(mlflow_uri, "twice-later")
    assert (again.written, again.present) == (0, 1)
    assert later.data.tags["powertrain.run_key"] == record.run_key  # the same setup and seed
    for run in (logged, later):
        history = mlflow_history(mlflow_uri, run.info.run_id, "energy_j")
        assert history == pytest.approx({p.step: p.total_energy_j for p in points}, abs=0.5)
    with open_store(tmp_path / "runs.db") as store:
        [exported] = store.runs("twice-later")
    assert later.info.start_time == int(exported.started_at * 1000)  # when it ran, not exported


def test_an_export_completes_an_mlflow_run_whose_live_logging_stopped_half_way(
    tmp_path, meters, clock, monkeypatch, mlflow_uri
):
    from mlflow.tracking import MlflowClient

    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.export import export_study
    from powertrain.loggers.mlflow import MlflowDestination

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    record, points = tracked_run(tmp_path / "runs.db", meters, clock, [], study="halfway")
    live = MlflowDestination().open(RunInfo.of_record(record))  # the server went away after one
    live.point(points[0])
    with open_store(tmp_path / "runs.db") as store:
        done = export_study(store, "halfway", "mlflow")
    assert (done.written, done.completed, done.present) == (0, 1, 0)
    [logged] = mlflow_runs(mlflow_uri, "halfway")
    history = MlflowClient(mlflow_uri).get_metric_history(logged.info.run_id, "energy_j")
    assert sorted(m.step for m in history) == [p.step for p in points]  # each step once
    assert logged.data.tags["powertrain.status"] == "reached" and logged.info.status == "FINISHED"


def test_exporting_a_study_twice_to_tensorboard_and_wandb_writes_each_run_once(
    tmp_path, meters, clock, monkeypatch
):
    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.export import export_study

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    import wandb

    wandb.teardown()  # W&B keeps the first WANDB_DIR of the process otherwise
    record, points = tracked_run(tmp_path / "runs.db", meters, clock, [])
    with open_store(tmp_path / "runs.db") as store:
        for _ in range(2):
            export_study(store, "mine", f"tensorboard:{tmp_path / 'tb'}")
            export_study(store, "mine", "wandb")
            # as at the end of each `powertrain export` process: W&B's service writes the run file
            # (its outcome, which the second export looks for) by then; within one process it may
            # not have yet (this failed now and then on a loaded machine)
            wandb.teardown()
    folder = run_folder(tmp_path / "tb", RunInfo.of_record(record))
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 1


def offline_wandb(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    import wandb

    wandb.teardown()  # W&B keeps the first WANDB_DIR of the process otherwise
    return wandb


def test_a_run_logged_live_to_wandb_is_there_already_for_its_export(
    tmp_path, meters, clock, monkeypatch
):
    """The live run has the id its export gives it (study, run key and the record's start,
    hashed): the export finds it, finished, and leaves it (it added a second W&B run before)."""
    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.export import export_study
    from powertrain.loggers.wandb import run_id

    wandb = offline_wandb(monkeypatch, tmp_path)
    record, _ = tracked_run(tmp_path / "runs.db", meters, clock, ["wandb"])
    wandb.teardown()  # W&B's service writes the run file: done once it is shut down
    [live] = (tmp_path / "wandb").glob("offline-run-*")
    assert live.name.endswith(f"-{run_id(RunInfo.of_record(record))}")
    with open_store(tmp_path / "runs.db") as store:
        done = export_study(store, "mine", "wandb")
    wandb.teardown()
    assert (done.written, done.completed, done.present) == (0, 0, 1)
    assert list((tmp_path / "wandb").glob("offline-run-*")) == [live]


def test_a_run_whose_live_wandb_logging_was_cut_short_is_exported_whole_under_its_id(
    tmp_path, meters, clock, monkeypatch
):
    """The live copy never got its outcome (the tool failed at the end; a killed job alike): the
    export writes the run again, every point and the outcome, under the live run's id (online W&B
    resumes that run), and a second export finds it whole."""
    import time

    from powertrain.loggers import wandb as wandb_logger
    from powertrain.loggers.export import export_study

    wandb = offline_wandb(monkeypatch, tmp_path)

    def went_away(self, outcome):
        raise ConnectionError("W&B went away")

    with monkeypatch.context() as m:
        m.setattr(wandb_logger.WandbRun, "finish", went_away)
        record, points = tracked_run(tmp_path / "runs.db", meters, clock, ["wandb"])
    wandb.teardown()
    [live] = (tmp_path / "wandb").glob("offline-run-*")
    assert "powertrain.status" not in wandb_run(live)["summary"]
    time.sleep(1.1)  # W&B names an offline folder by the second it began (docs/trackers.md)
    with open_store(tmp_path / "runs.db") as store:
        done = export_study(store, "mine", "wandb")
        wandb.teardown()
        again = export_study(store, "mine", "wandb")
    wandb.teardown()
    assert (done.written, done.present) == (1, 0) and (again.written, again.present) == (0, 1)
    folders = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(folders) == 2 and {f.name.rsplit("-", 1)[1] for f in folders} == {
        live.name.rsplit("-", 1)[1]
    }
    [whole] = [w for w in map(wandb_run, folders) if "powertrain.status" in w["summary"]]
    assert sorted(whole["history"]) == [p.step for p in points]
    assert whole["summary"]["total_energy_j"] == pytest.approx(record.outcome.total_energy_j)


class LateClock:
    """The time module, but ``time()`` a minute behind: the store's record of a run then begins
    and ends a minute before the loggers' thread writes its live copy (a tool that fell behind)."""

    def __init__(self) -> None:
        import time

        self._time = time

    def time(self) -> float:
        return self._time.time() - 60.0

    def __getattr__(self, name: str):
        return getattr(self._time, name)


def test_a_live_mlflow_copy_opened_late_is_the_one_its_export_finds(
    tmp_path, meters, clock, monkeypatch, mlflow_uri
):
    """The live MLflow run begins when the record does, however late it is opened: the export
    finds it (one opened more than CLOCK_SLACK_S past the run's end got a second copy before)."""
    from powertrain.loggers.export import export_study
    from powertrain.store import base, sqlite

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    with monkeypatch.context() as m:
        m.setattr(base, "time", LateClock())  # begin_run's start
        m.setattr(sqlite, "time", LateClock())  # finish_run's end, the claim's heartbeat
        record, _ = tracked_run(tmp_path / "runs.db", meters, clock, ["mlflow"], study="late")
    with open_store(tmp_path / "runs.db") as store:
        done = export_study(store, "late", "mlflow")
    assert (done.written, done.completed, done.present) == (0, 0, 1)
    [logged] = mlflow_runs(mlflow_uri, "late")
    assert logged.info.start_time == int(record.started_at * 1000)


def test_an_export_completes_a_tensorboard_run_whose_live_logging_stopped_half_way(
    tmp_path, meters, clock
):
    from powertrain.loggers.base import RunInfo
    from powertrain.loggers.export import export_study
    from powertrain.loggers.tensorboard import TensorBoardDestination

    record, points = tracked_run(tmp_path / "runs.db", meters, clock, [])
    info = RunInfo.of_record(record)
    live = TensorBoardDestination(tmp_path / "tb").open(info)  # the job was killed after one
    live.point(points[0])
    live.writer.close()
    with open_store(tmp_path / "runs.db") as store:
        done = [export_study(store, "mine", f"tensorboard:{tmp_path / 'tb'}") for _ in range(2)]
    assert [(d.written, d.completed, d.present) for d in done] == [(0, 1, 0), (0, 0, 1)]
    folder = run_folder(tmp_path / "tb", info)
    scalars = tensorboard_scalars(folder)
    assert scalars["energy_j"] == pytest.approx({p.step: p.total_energy_j for p in points}, abs=0.5)
    assert "| powertrain.status | reached |" in tensorboard_text(folder, "powertrain/outcome")
