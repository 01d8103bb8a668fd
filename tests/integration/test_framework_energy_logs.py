"""The framework callbacks log energy through the framework: Lightning's loggers (its CSVLogger file has
the column), the HF Trainer's logs (so `report_to` carries it: TensorBoard here), Keras's logs (History
has it). Compared with the store's figures. The fits are the framework tests' own."""

from __future__ import annotations

import csv
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported: no TensorFlow here

from powertrain import open_store, track  # noqa: E402


def stored_points(db, study):
    with open_store(db) as store:
        [record] = store.runs(study)
        return record, store.eval_points(record.id)


def test_lightnings_csv_logger_file_has_the_energy_column(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    from tests.integration.test_track_lightning import fit

    db = tmp_path / "runs.db"
    with track("pl-logged", {"lr": 0.05}, 0, 0.99, db=db, device="cpu") as run:
        trainer = fit(run, max_epochs=3, logger=CSVLogger(tmp_path, name="csv"))
    record, points = stored_points(db, "pl-logged")
    with open(trainer.logger.log_dir + "/metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("energy_j")]
    assert {"energy_j", "energy_j/cpu"} <= set(rows[0])
    logged = {int(r["step"]): float(r["energy_j"]) for r in rows}
    assert logged == pytest.approx({p.step: p.total_energy_j for p in points}, abs=0.5)
    # the CPU-time estimate: the logs say so beside the joules (they take numbers only)
    assert record.estimated and {float(r["energy_estimated"]) for r in rows} == {1.0}


def test_the_hf_trainers_logs_carry_energy_to_report_to(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.integration.test_track_hf import train

    db = tmp_path / "runs.db"
    with track("hf-logged", {"lr": 5e-3}, 0, 0.99, db=db, device="cpu") as run:
        train(
            run, tmp_path, 2, logging_strategy="steps", logging_steps=20, report_to=["tensorboard"]
        )
    record, _ = stored_points(db, "hf-logged")
    [events_file] = tmp_path.rglob("events.out.tfevents.*")  # under HF's default log folder
    events = EventAccumulator(str(events_file.parent))
    events.Reload()
    logged = [e.value for e in events.Scalars("train/energy_j")]
    assert len(logged) >= 4 and logged == sorted(logged) and logged[0] > 0
    assert logged[-1] <= record.outcome.total_energy_j + 0.5  # energy so far, at each log
    assert {e.step for e in events.Scalars("train/energy_j/cpu")} == {
        e.step for e in events.Scalars("train/energy_j")
    }
    assert {e.value for e in events.Scalars("train/energy_estimated")} == {1.0}


def test_keras_logs_and_history_have_the_energy(tmp_path):
    from tests.integration.test_track_keras import fit

    db = tmp_path / "runs.db"
    with track("keras-logged", {"lr": 0.05}, 0, 0.99, db=db, device="cpu") as run:
        history = fit(run, 3)
    record, points = stored_points(db, "keras-logged")
    assert history.history["energy_j"] == pytest.approx([p.total_energy_j for p in points], abs=0.5)
    assert history.history["energy_j/cpu"] == pytest.approx(
        [p.energy_j["cpu"] for p in points], abs=0.5
    )
    assert history.history["energy_estimated"] == [1.0] * len(points)


def test_a_measured_figure_is_logged_as_not_estimated():
    from powertrain.loggers.base import energy_metrics

    assert energy_metrics({"gpu": 5.0, "cpu": 1.0}, estimated=False) == {
        "energy_j": 6.0,
        "energy_j/gpu": 5.0,
        "energy_j/cpu": 1.0,
        "energy_estimated": 0.0,
    }
