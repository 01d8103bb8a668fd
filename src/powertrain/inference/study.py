"""``powertrain infer`` (the library half; the CLI parses and prints): rebuild trained models of a study from their saved weights and measure their
inference energy per 1,000 inputs over a grid of batch sizes, into the store."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from powertrain.errors import PowertrainError
from powertrain.inference.measure import InferenceResult, measure_inference
from powertrain.meters.detect import Detection
from powertrain.models.checkpoints import read_state_dict
from powertrain.monitor import Monitor
from powertrain.records import FAILED, RunRecord, Stage
from powertrain.store.base import ResultStore
from powertrain.study.artifacts import left_in_shared, model_path, study_dir
from powertrain.study.config import Setup, parse_study
from powertrain.study.execute import RunEnv
from powertrain.study.paradigms import prepare
from powertrain.train.config import Paradigm, TrainConfig


@dataclass(frozen=True)
class InferredRun:
    run: RunRecord
    results: list[InferenceResult]


def infer_study(
    store: ResultStore,
    study_name: str,
    detection: Detection,
    *,
    artifacts_dir: str | Path | None = None,
    run_ids: list[int] | None = None,
    batch_sizes: list[int] = (1, 16, 256),
    inputs: int = 1000,
    repeats: int = 3,
) -> list[InferredRun]:
    configs = {s["name"]: s["config"] for s in store.studies()}
    if study_name not in configs:
        raise PowertrainError(f"no study named {study_name!r} in the store")
    if any(b <= 0 for b in batch_sizes) or inputs <= 0 or repeats <= 0:
        raise PowertrainError("batch sizes, the number of inputs and the repeats must be positive")
    study = parse_study(configs[study_name])
    artifacts_dir = Path(artifacts_dir or store.artifacts_dir)
    chosen = _choose(store, study, run_ids, artifacts_dir)
    if not chosen:
        models = study_dir(artifacts_dir, study.name) / "models"
        raise PowertrainError(
            f"no saved model weights for study {study_name!r}: set `save_models: true` in the study file "
            "and run it (finished runs are not rerun; use a new study name or a new store)"
            + left_in_shared(models, artifacts_dir)
        )
    device = torch.device("cpu") if not torch.cuda.is_available() else torch.device("cuda")
    tasks = RunEnv(study, device, detection, {}, {}, artifacts_dir).tasks()
    loaded = [_load(run, study, tasks, artifacts_dir, device) for run in chosen]
    monitor = Monitor(
        detection.meters,
        sample=True,
        synchronize=torch.cuda.synchronize if device.type == "cuda" else None,
    )
    # Round-robin: repeat r of every model before repeat r + 1 of any, so that drift in the machine's
    # speed or power over the minutes this takes falls on all models alike, inside their intervals.
    measured: dict[int, list[list[InferenceResult]]] = {run.id: [] for run in chosen}
    with monitor:
        for _ in range(repeats):
            for run, model, examples, forward in loaded:
                measured[run.id].append(
                    measure_inference(
                        model, examples, list(batch_sizes), monitor, inputs, forward, repeats=1
                    )
                )
    done = []
    for run, *_ in loaded:
        results = [_combine([rep[i] for rep in measured[run.id]]) for i in range(len(batch_sizes))]
        store.save_inference(run.id, [r.to_dict() for r in results])
        done.append(InferredRun(run, results))
    return done


def _choose(store: ResultStore, study, run_ids, artifacts_dir: Path) -> list[RunRecord]:
    """The runs asked for, or one per setup: the first whose weights were kept."""
    study_name = study.name
    candidates = [
        r
        for r in store.runs(study_name)
        if r.stage is Stage.TRAIN and r.outcome and r.status != FAILED
    ]
    if run_ids:
        chosen = [r for r in candidates if r.id in run_ids]
        missing = set(run_ids) - {r.id for r in chosen}
        if missing:
            raise PowertrainError(
                f"no finished run with id {sorted(missing)[0]} in study {study_name!r}"
            )
    else:  # one run per setup: the first whose weights were kept
        chosen, seen = [], set()
        for r in candidates:
            key = repr(sorted(r.setup.items()))
            if key not in seen and model_path(artifacts_dir, study.name, r.run_key).is_file():
                seen.add(key)
                chosen.append(r)
    return chosen


def _load(run: RunRecord, study, tasks, artifacts_dir, device):
    """The run's model with its saved weights, its test inputs, and how to call it."""
    path = model_path(artifacts_dir, study.name, run.run_key)
    if not path.is_file():
        raise PowertrainError(
            f"run {run.id} kept no weights ({path} is missing); set save_models: true"
            + left_in_shared(path, artifacts_dir)
        )
    train = TrainConfig(**run.train)
    # Fine-tuned models are built like scratch ones: the saved weights replace every parameter.
    architecture = (
        train
        if train.paradigm is Paradigm.MULTITASK
        else dataclasses.replace(train, paradigm=Paradigm.SCRATCH)
    )
    setup = Setup(run.setup, architecture, run.setup.get("task"))
    prepared = prepare(
        setup, tasks, study.task.dataset, study.task.model, study.task.model_options, None
    )
    model = prepared.model.to(device)
    model.load_state_dict(read_state_dict(path))
    task = tasks[setup.task or study.task.dataset]
    forward = (
        (lambda m, x, t=task.name: m(x, task=t)) if train.paradigm is Paradigm.MULTITASK else None
    )
    return run, model, task.dataset.test.x, forward


def _combine(repeats: list[InferenceResult]) -> InferenceResult:
    first = repeats[0]
    return InferenceResult(
        first.batch_size,
        first.inputs,
        [e for r in repeats for e in r.energy_per_1000_j_repeats],
        statistics.fmean(r.duration_s for r in repeats),
        {
            c: statistics.fmean(r.energy_by_component_j[c] for r in repeats)
            for c in first.energy_by_component_j
        },
        first.provenance,
        list(dict.fromkeys(f for r in repeats for f in r.faults)),
    )
