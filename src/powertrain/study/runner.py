"""Runs a study: the pretraining stage when a setup needs one, then every (setup, seed) in turn, each
written to the store as it goes.

Resuming is running again: runs that finished are skipped, a run that was killed half-way is begun
afresh (the store removes its partial rows in the same transaction), failed runs are kept unless
``retry_failed``. Data sets are loaded once, with a fixed split seed, so every run sees the same data.
Model files (the pretraining checkpoint, and each run's weights with ``save_models``) go to
``artifacts_dir`` and are written before their run is marked finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from powertrain.data.registry import load_dataset
from powertrain.errors import PowertrainError
from powertrain.hardware import describe_hardware
from powertrain.meters.detect import Detection, detect_meters
from powertrain.models.checkpoints import save_state_dict
from powertrain.monitor import Monitor
from powertrain.records import FAILED, FINAL_STATUSES, EvalPoint, RunOutcome, method_label
from powertrain.store.base import ResultStore
from powertrain.study.artifacts import model_path
from powertrain.study.config import Setup, StudyConfig
from powertrain.study.paradigms import TaskData, prepare
from powertrain.study.pretrain import Pretrained, ensure_pretrained
from powertrain.train.loop import Limits, train_to_target
from powertrain.train.setup import check_precision, resolve_device, seed_everything, set_threads

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
    pretrained: Pretrained | None = None


@dataclass
class StudyContext:
    """What every run of a study shares."""

    study: StudyConfig
    store: ResultStore
    detection: Detection
    device: torch.device
    hardware: dict
    provenance: dict
    artifacts_dir: Path  # the store's artifacts folder; see study_dir and model_path
    reporter: Reporter
    datasets: dict = field(default_factory=dict)

    def dataset(self, name: str, options: dict):
        key = (name, repr(sorted(options.items())))
        if key not in self.datasets:
            self.datasets[key] = load_dataset(name, **{"seed": DATA_SPLIT_SEED, **options}).to(
                self.device
            )
        return self.datasets[key]

    def monitor(self) -> Monitor:
        meters = self.study.meters
        return Monitor(
            self.detection.meters,
            interval_s=meters.interval_s,
            sample=meters.record_timeline or None,
            synchronize=torch.cuda.synchronize if self.device.type == "cuda" else None,
        )

    def tasks(self) -> dict[str, TaskData]:
        """Every task of the study bound to its data: the main task (named after its data set) and
        the extra tasks (by their names)."""
        t = self.study.task
        tasks = {
            t.dataset: self.task_data(
                t.dataset, t.dataset, t.dataset_options, t.label, t.target_accuracy
            )
        }
        for e in self.study.extra_tasks:
            tasks[e.name] = self.task_data(
                e.name, e.dataset, e.dataset_options, e.label, e.target_accuracy
            )
        return tasks

    def task_data(
        self, name: str, dataset: str, options: dict, label: str | None, target: float
    ) -> TaskData:
        data = self.dataset(dataset, options)
        label = label or data.default_task
        if label not in data.tasks:
            raise PowertrainError(
                f"{dataset} has no label {label!r}; it has {', '.join(data.tasks)}"
            )
        return TaskData(name, data, data.tasks[label], target)


def run_study(
    study: StudyConfig,
    store: ResultStore,
    *,
    reporter: Reporter | None = None,
    retry_failed: bool = False,
    detection: Detection | None = None,
    artifacts_dir: str | Path = "runs/artifacts",
) -> StudyResult:
    device = resolve_device(study.device)
    for setup in study.setups():
        check_precision(setup.train.precision, device)
    set_threads(study.threads)
    detection = (
        detection
        or detect_meters(study.meters.backends, cpu_tdp_w=study.meters.cpu_tdp_w).require()
    )
    ctx = StudyContext(
        study,
        store,
        detection,
        device,
        describe_hardware(device, detection.meters),
        {c.value: m.provenance.to_dict() for c, m in detection.meters.items()},
        Path(artifacts_dir),
        reporter or Reporter(),
    )

    store.save_study(study.name, study.to_dict())
    finished = {
        r.run_key
        for r in store.runs(study.name)
        if r.status in FINAL_STATUSES and not (retry_failed and r.status == FAILED)
    }
    runs = study.runs()
    todo = [(setup, seed) for setup, seed in runs if study.run_key(setup, seed) not in finished]
    result = StudyResult(skipped=len(runs) - len(todo))
    ctx.reporter.study_started(study, len(runs), len(todo))
    if not todo:
        return result

    tasks = {} if study.task.command else ctx.tasks()
    if any(s.train.paradigm in ("finetune", "head-only") for s, _ in todo):
        result.pretrained = ensure_pretrained(ctx)
    pretrained_path = result.pretrained.path if result.pretrained else None

    for setup, seed in todo:
        outcome = _run_one(ctx, setup, seed, tasks, pretrained_path, retry_failed)
        result.ran += 1
        result.outcomes.append(outcome)
    return result


def _run_one(
    ctx: StudyContext,
    setup: Setup,
    seed: int,
    tasks: dict[str, TaskData],
    pretrained: Path | None,
    retry_failed: bool,
) -> RunOutcome:
    if ctx.study.task.command:  # the user's own script
        from powertrain.study.command_run import run_command_study_run

        return run_command_study_run(ctx, setup, seed, retry_failed)
    study, store = ctx.study, ctx.store
    key = study.run_key(setup, seed)
    ctx.reporter.run_started(setup, seed)
    run_id = store.begin_run(
        study.name,
        key,
        setup.varied,
        setup.train.__dict__,
        seed,
        ctx.hardware,
        ctx.provenance,
        replace_failed=retry_failed,
    )

    def record(point: EvalPoint) -> None:
        store.add_eval_point(run_id, point)
        ctx.reporter.eval_point(point)

    limits_base = study.task
    monitor = ctx.monitor()
    with monitor:
        seed_everything(seed)
        try:
            prepared = prepare(
                setup,
                tasks,
                study.task.dataset,
                study.task.model,
                study.task.model_options,
                pretrained,
            )
        except Exception as exc:  # noqa: BLE001 - recorded as the run's failure
            outcome = RunOutcome(
                FAILED, "the model could not be set up", 0.0, {}, 0.0, 0, error=str(exc)
            )
        else:
            limits = Limits(
                prepared.targets,
                limits_base.max_epochs,
                limits_base.eval_every_steps,
                limits_base.max_time_s,
                limits_base.evals_per_epoch,
            )
            outcome = train_to_target(
                prepared.model,
                prepared.source,
                setup.train,
                limits,
                monitor,
                step_fn=prepared.step_fn,
                evaluate=prepared.evaluate,
                test_evaluate=prepared.test_evaluate,
                device=ctx.device,
                seed=seed,
                on_eval=record,
                parameters=prepared.parameters,
            )
            if study.save_models and outcome.status != FAILED:
                save_state_dict(prepared.model, model_path(ctx.artifacts_dir, study.name, key))
    if study.meters.record_timeline:
        trace = monitor.trace()
        store.save_timeline(
            run_id, {"header": trace.header, "t_s": trace.t_s, "energy_j": trace.energy_j}
        )
    store.finish_run(run_id, outcome)
    ctx.reporter.run_finished(setup, seed, outcome, method_label(ctx.provenance))
    return outcome
