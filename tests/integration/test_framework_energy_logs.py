"""The framework callbacks log energy through the framework: Lightning's loggers (its CSVLogger file has
the column), the HF Trainer's logs (so `report_to` carries it: TensorBoard here), Keras's logs (History
has it). Compared with the store's figures."""

from __future__ import annotations

import csv
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported: no TensorFlow here

from powertrain import open_store, track  # noqa: E402
from tests.integration.digits_task import digits  # noqa: E402


def stored_points(db, study):
    with open_store(db) as store:
        [record] = store.runs(study)
        return record, store.eval_points(record.id)


def test_lightnings_csv_logger_file_has_the_energy_column(tmp_path):
    import lightning.pytorch as L
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    from powertrain.integrations.lightning import PowertrainCallback
    from tests.integration.test_track_lightning import Classifier

    xt, yt, xv, yv = digits()
    db = tmp_path / "runs.db"
    with track("pl-logged", {"lr": 0.05}, 0, 0.9, db=db, device="cpu") as run:
        trainer = L.Trainer(
            max_epochs=3,
            callbacks=[PowertrainCallback(run, metric="val_acc")],
            logger=CSVLogger(tmp_path, name="csv"),
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            accelerator="cpu",
        )
        trainer.fit(
            Classifier(0.05),
            DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True),
            DataLoader(TensorDataset(xv, yv), batch_size=256),
        )
    record, points = stored_points(db, "pl-logged")
    with open(trainer.logger.log_dir + "/metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("energy_j")]
    assert {"energy_j", "energy_j/cpu"} <= set(rows[0])
    logged = {int(r["step"]): float(r["energy_j"]) for r in rows}
    assert logged == pytest.approx({p.step: p.total_energy_j for p in points}, abs=0.5)


def test_the_hf_trainers_logs_carry_energy_to_report_to(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from transformers import Trainer, TrainingArguments

    from powertrain.integrations.hf import PowertrainCallback, energy_first
    from tests.integration.test_track_hf import Classifier, accuracy, rows

    xt, yt, xv, yv = digits()
    db = tmp_path / "runs.db"
    with track("hf-logged", {"lr": 5e-3}, 0, 0.99, db=db, device="cpu") as run:
        args = TrainingArguments(
            output_dir=str(tmp_path / "out"),
            num_train_epochs=2,
            per_device_train_batch_size=32,
            learning_rate=5e-3,
            eval_strategy="epoch",
            save_strategy="no",
            logging_strategy="steps",
            logging_steps=20,
            report_to=["tensorboard"],
            disable_tqdm=True,
            use_cpu=True,
            seed=0,
        )
        trainer = Trainer(
            model=Classifier(),
            args=args,
            train_dataset=rows(xt, yt),
            eval_dataset=rows(xv, yv),
            compute_metrics=accuracy,
            callbacks=[PowertrainCallback(run)],
        )
        energy_first(trainer).train()
    record, points = stored_points(db, "hf-logged")
    [events_file] = (tmp_path / "out").rglob("events.out.tfevents.*")  # HF's default log folder
    events = EventAccumulator(str(events_file.parent))
    events.Reload()
    logged = [e.value for e in events.Scalars("train/energy_j")]
    assert len(logged) >= 4 and logged == sorted(logged) and logged[0] > 0
    assert logged[-1] <= record.outcome.total_energy_j + 0.5  # energy so far, at each log
    assert {e.step for e in events.Scalars("train/energy_j/cpu")} == {
        e.step for e in events.Scalars("train/energy_j")
    }


def test_keras_logs_and_history_have_the_energy(tmp_path):
    import keras

    from powertrain.integrations.keras import PowertrainCallback

    xt, yt, xv, yv = (t.numpy() for t in digits())
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    db = tmp_path / "runs.db"
    with track("keras-logged", {"lr": 0.05}, 0, 0.99, db=db, device="cpu") as run:
        history = model.fit(
            xt, yt, validation_data=(xv, yv), epochs=3, batch_size=32, verbose=0,
            callbacks=[PowertrainCallback(run)],
        )
    record, points = stored_points(db, "keras-logged")
    assert history.history["energy_j"] == pytest.approx([p.total_energy_j for p in points], abs=0.5)
    assert history.history["energy_j/cpu"] == pytest.approx([p.energy_j["cpu"] for p in points], abs=0.5)
