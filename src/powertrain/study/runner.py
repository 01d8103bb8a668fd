"""Runs a study: every (setup, seed) in turn, each written to the store as it goes.

Resuming is running again: runs that finished are skipped, a run that was killed half-way is begun
afresh (the store removes its partial rows in the same transaction), failed runs are kept unless
``retry_failed``. The data set is loaded once, with a fixed split seed, so every run sees the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from powertrain.data.registry import load_dataset
from powertrain.errors import PowertrainError
from powertrain.hardware import describe_hardware
from powertrain.meters.detect import Detection, detect_meters
from powertrain.models.registry import build_model
from powertrain.monitor import Monitor
from powertrain.records import FAILED, FINAL_STATUSES, EvalPoint, RunOutcome, method_label
from powertrain.store.base import ResultStore
from powertrain.study.config import Setup, StudyConfig
from powertrain.train.loop import Limits, train_to_target
from powertrain.train.setup import check_precision, resolve_device, seed_everything, set_threads
from powertrain.train.steps import classification_eval, classification_step

DATA_SPLIT_SEED = 0


class Reporter:
    """Progress callbacks; the CLI draws them, the default ignores them."""

    def study_started(self, study: StudyConfig, total: int, to_run: int) -> None: ...
    def run_started(self, setup: Setup, seed: int) -> None: ...
    def eval_point(self, point: EvalPoint) -> None: ...
    def run_finished(self, setup: Setup, seed: int, outcome: RunOutcome, method: str) -> None: ...


@dataclass
class StudyResult:
    ran: int = 0
    skipped: int = 0
    outcomes: list[RunOutcome] = field(default_factory=list)


def run_study(
    study: StudyConfig,
    store: ResultStore,
    *,
    reporter: Reporter | None = None,
    retry_failed: bool = False,
    detection: Detection | None = None,
) -> StudyResult:
    reporter = reporter or Reporter()
    device = resolve_device(study.device)
    for setup in study.setups():
        check_precision(setup.train.precision, device)
    set_threads(study.threads)
    meter_cfg = study.meters
    detection = (
        detection or detect_meters(meter_cfg.backends, cpu_tdp_w=meter_cfg.cpu_tdp_w).require()
    )
    data = load_dataset(
        study.task.dataset, **{"seed": DATA_SPLIT_SEED, **study.task.dataset_options}
    ).to(device)
    task_name = study.task.label or data.default_task
    if task_name not in data.tasks:
        raise PowertrainError(
            f"task.label: {study.task.dataset} has no task {task_name!r}; it has {list(data.tasks)}"
        )
    task = data.tasks[task_name]
    hardware = describe_hardware(device, detection.meters)
    provenance = {c.value: m.provenance.to_dict() for c, m in detection.meters.items()}
    limits = Limits(
        study.task.target_accuracy,
        study.task.max_epochs,
        study.task.eval_every_steps,
        study.task.max_time_s,
        study.task.evals_per_epoch,
    )

    store.save_study(study.name, study.to_dict())
    finished = {
        r.run_key
        for r in store.runs(study.name)
        if r.status in FINAL_STATUSES and not (retry_failed and r.status == FAILED)
    }
    runs = study.runs()
    result = StudyResult()
    reporter.study_started(
        study, len(runs), sum(study.run_key(s, seed) not in finished for s, seed in runs)
    )
    for setup, seed in runs:
        key = study.run_key(setup, seed)
        if key in finished:
            result.skipped += 1
            continue
        reporter.run_started(setup, seed)
        run_id = store.begin_run(
            study.name,
            key,
            setup.varied,
            setup.train.__dict__,
            seed,
            hardware,
            provenance,
            replace_failed=retry_failed,
        )

        def record(point: EvalPoint, run_id: int = run_id) -> None:
            store.add_eval_point(run_id, point)
            reporter.eval_point(point)

        monitor = Monitor(
            detection.meters,
            interval_s=meter_cfg.interval_s,
            sample=meter_cfg.record_timeline or None,
            synchronize=torch.cuda.synchronize if device.type == "cuda" else None,
        )
        with monitor:
            seed_everything(seed)
            try:
                model = build_model(
                    study.task.model, data.input_shape, task.num_classes, **study.task.model_options
                )
            except Exception as exc:  # noqa: BLE001 - recorded as the run's failure
                outcome = RunOutcome(
                    FAILED, "the model could not be built", 0.0, {}, 0.0, 0, error=str(exc)
                )
            else:
                outcome = train_to_target(
                    model,
                    data,
                    setup.train,
                    limits,
                    monitor,
                    step_fn=classification_step(task),
                    evaluate=classification_eval(task),
                    test_evaluate=classification_eval(task),
                    device=device,
                    seed=seed,
                    on_eval=record,
                )
        if meter_cfg.record_timeline:
            trace = monitor.trace()
            store.save_timeline(
                run_id, {"header": trace.header, "t_s": trace.t_s, "energy_j": trace.energy_j}
            )
        store.finish_run(run_id, outcome)
        result.ran += 1
        result.outcomes.append(outcome)
        reporter.run_finished(setup, seed, outcome, method_label(provenance))
    return result
