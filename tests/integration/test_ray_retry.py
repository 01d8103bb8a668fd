"""A Ray Tune trial that fails and is retried (``FailureConfig(max_failures=1)``): the retry tracks
its run again, rather than being refused over the failed attempt, and the failed attempt's joules go
on, labelled, in the trial's reports (not in the retry's own energy there) and in the run the store
keeps, as a restarted torchrun launch's do: not lost."""

from __future__ import annotations

import pytest

from powertrain import open_store
from powertrain.records import FAILED, REACHED


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_a_failed_trial_retried_by_tune_tracks_its_run_again(ray_instance, tmp_path):
    from ray import tune

    db, marker = str(tmp_path / "runs.db"), tmp_path / "failed-once"

    def trainable(config):  # fails at its first attempt's second evaluation, once
        import os

        import powertrain

        with powertrain.track("retried", config, 0, 0.9, db=db, device="cpu", trial="ray") as run:
            for step, accuracy in enumerate([0.5, 0.7, 0.95], start=1):
                if step == 2 and not os.path.exists(marker):
                    open(marker, "w").close()
                    raise RuntimeError("a node went away")
                if run.evaluate(val_accuracy=accuracy, step=step):
                    break

    tuner = tune.Tuner(
        trainable,
        param_space={"lr": 0.1},
        run_config=tune.RunConfig(
            storage_path=str(tmp_path / "tune"),
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=0,
        ),
    )
    [result] = tuner.fit()
    assert result.error is None, result.error
    with open_store(db) as store:
        [run] = store.runs("retried")  # the failed attempt replaced, as a torchrun restart's is
    assert run.status == REACHED and run.status != FAILED
    reported = result.metrics
    assert reported["powertrain_run_id"] == run.id and reported["step"] == 3
    assert reported["energy_j"] <= run.outcome.total_energy_j  # this attempt's own, from 0 J
    assert reported["powertrain_failed_attempts_j"] > 0
    # the failed attempt ran on the same meters: measured or an estimate as the retry is
    assert reported["powertrain_failed_attempts_measurement"] == reported["powertrain_measurement"]
    # and the run in the store counts them, as a restart's: what it spent, the retry included
    failed_j = reported["powertrain_failed_attempts_j"]
    assert run.outcome.total_energy_j >= failed_j + reported["energy_j"] - 1e-9
    [note] = [f for f in run.outcome.faults if "earlier attempt" in f]
    assert "sweep tool's retry" in note
