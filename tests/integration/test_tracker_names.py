"""A tool's record of a run keeps every hyperparameter the user set, under the user's own name:
what powertrain adds there itself (its tags in W&B's config, the seed, the HPARAMS tab's labels) goes
beside a user's value of that name, never over it."""

from __future__ import annotations

from powertrain import open_store, track
from powertrain.loggers.base import RunInfo
from powertrain.loggers.tensorboard import run_folder
from powertrain.meters.base import Component, Method
from powertrain.meters.detect import Detection
from tests.fakes.meters import ConstantPowerMeter
from tests.tool_readers import mlflow_runs, tensorboard_hparams, wandb_run

#: names powertrain writes in the tools itself, each also a hyperparameter of the user's
SETUP = {
    "powertrain": "user's",
    "seed": 7,  # the data's seed, say; the run's seed is 0
    "powertrain.status": "user's status",
    "powertrain.measurement": "user's measurement",
    "lr": 0.1,
}


def tracked(tmp_path, clock, log_to):
    meters = Detection(
        {Component.CPU: ConstantPowerMeter(Component.CPU, 10.0, clock, Method.ESTIMATE)}
    )
    db = tmp_path / "runs.db"
    with track("names", SETUP, 0, 0.9, db=db, detection=meters, device="cpu", log_to=log_to) as run:
        clock.advance(1.0)
        run.evaluate(val_accuracy=0.95)
    with open_store(db) as store:
        [record] = store.runs("names")
    return record


def test_wandb_keeps_a_hyperparameter_named_powertrain_and_puts_its_own_beside_it(
    tmp_path, clock, monkeypatch
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    import wandb

    wandb.teardown()  # W&B keeps the first WANDB_DIR of the process otherwise
    record = tracked(tmp_path, clock, ["wandb"])
    [folder] = (tmp_path / "wandb").glob("offline-run-*")
    config = wandb_run(folder)["config"]
    for name, value in SETUP.items():
        assert config[name] == value
    ours = [v for v in config.values() if isinstance(v, dict) and "powertrain.run_key" in v]
    assert [v["powertrain.run_key"] for v in ours] == [record.run_key]
    assert 0 in config.values()  # the run's seed, under a name of its own


def test_tensorboard_hparams_keep_the_users_values_beside_powertrains_labels(tmp_path, clock):
    logdir = tmp_path / "tb"
    record = tracked(tmp_path, clock, [f"tensorboard:{logdir}"])
    hparams = tensorboard_hparams(run_folder(logdir, RunInfo.of_record(record)))
    for name, value in SETUP.items():
        assert hparams[name] == value
    assert "reached" in hparams.values() and 0 in hparams.values()
    assert any(str(v).startswith("ESTIMATE") for v in hparams.values())


def test_mlflow_keeps_a_hyperparameter_named_seed_beside_the_runs_seed(
    tmp_path, clock, monkeypatch
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracked(tmp_path, clock, ["mlflow"])
    [logged] = mlflow_runs(uri, "names")
    params = logged.data.params
    for name, value in SETUP.items():
        assert params[name] == str(value)
    assert "0" in params.values()
