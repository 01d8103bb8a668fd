"""The one run body: ``execute_run(spec, env, sink)``, used for the grid's runs and the pretraining stage
alike, by every executor (Optuna's ``_run_trial`` is the model).

- ``RunEnv``: what is opened where the run executes (the device, the meters, the data-set cache, the
  artifacts folder, the hardware description). Never pickled; each worker opens its own.
- ``RunSink``: where a run's records go as they happen. ``StoreSink`` writes them to a results store and
  tells the reporter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch

from powertrain.data.registry import load_dataset
from powertrain.errors import PowertrainError, RunClaimed
from powertrain.hardware import describe_hardware
from powertrain.meters.detect import Detection, detect_meters
from powertrain.models.checkpoints import save_state_dict
from powertrain.monitor import Monitor
from powertrain.power_limit import GpuPowerControl, study_limits_w
from powertrain.records import CENSORED, FAILED, REACHED, EvalPoint, RunOutcome, Stage, Verdict
from powertrain.store.base import DEFAULT_ARTIFACTS
from powertrain.study.artifacts import left_in_shared, model_path
from powertrain.study.config import Setup, StudyConfig
from powertrain.study.paradigms import Prepared, TaskData, prepare
from powertrain.study.plan import RunSpec, pretrained_path
from powertrain.study.resume import run_checkpoint
from powertrain.study.store_sink import StoreSink as StoreSink  # its users import it from here
from powertrain.train.checkpoint import meter_labels
from powertrain.train.config import Paradigm
from powertrain.train.limits import Limits
from powertrain.train.loop import train_to_target
from powertrain.train.setup import check_precision, resolve_device, seed_everything, set_threads
from powertrain.train.stopping import Handler

log = logging.getLogger(__name__)

DATA_SPLIT_SEED = 0  # every run of a study sees the same split of its data sets


def no_handlers(spec: RunSpec) -> Sequence[Handler]:
    return ()


class PretrainingFailed(PowertrainError):
    """The pretraining stage did not end REACHED or CENSORED, so no fine-tuned run can start."""


@dataclass
class RunEnv:
    """What every run executed in one place shares; opened there, never pickled."""

    study: StudyConfig
    device: torch.device
    detection: Detection
    hardware: dict[str, Any]
    provenance: dict[str, dict[str, Any]]
    artifacts_dir: Path
    datasets: dict = field(default_factory=dict)
    # Extra stopping handlers for a run (a search's bound, a predicted stop), made fresh for each
    # spec where the run executes; the built-in loop consults them after its own. Command tasks
    # cannot take them (their script decides when to stop).
    stop_handlers: Callable[[RunSpec], Sequence[Handler]] = no_handlers
    power: GpuPowerControl | None = None  # the GPUs whose power limits the runs set, when any do

    @classmethod
    def open(
        cls,
        study: StudyConfig,
        *,
        detection: Detection | None = None,
        artifacts_dir: str | Path | None = None,
        apportion_with: int | None = None,
        power: GpuPowerControl | None = None,
    ) -> RunEnv:
        """Resolve the device, check every setup's precision on it, set the CPU threads, detect the
        meters (unless given) and describe the hardware. ``apportion_with``: the process id of a
        coordinator whose other workers share this machine; the meters of shared devices (a RAPL
        package, a shared GPU) then give this process its CPU-time share (``meters/apportion.py``).
        ``power``: the GPUs to set power limits on (opened and checked here when the study sets any:
        root, a GPU, the range), before anything trains."""
        device = resolve_device(study.device)
        for setup in study.setups():
            check_precision(setup.train.precision, device)
        set_threads(study.threads)
        meters = study.meters
        detection = (
            detection or detect_meters(meters.backends, cpu_tdp_w=meters.cpu_tdp_w).require()
        )
        if apportion_with is not None:
            from powertrain.meters.apportion import apportion_meters

            shared = apportion_meters(detection.meters, apportion_with, study.share_gpus)
            detection = replace(detection, meters=shared)
        return cls(
            study,
            device,
            detection,
            describe_hardware(device, detection.meters),
            {c.value: m.provenance.to_dict() for c, m in detection.meters.items()},
            Path(artifacts_dir or DEFAULT_ARTIFACTS),
            power=power or GpuPowerControl.open(study_limits_w(study)),
        )

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

    def pretrained_path(self) -> Path:
        """The weights fine-tuned runs start from: the external checkpoint, or the stage's file."""
        return pretrained_path(self.study, self.artifacts_dir)

    def weights_path(self, spec: RunSpec) -> Path | None:
        """Where the run's final weights go: the stage's checkpoint, or (with ``save_models``) the
        run's own file; None when they are not kept."""
        if spec.stage is Stage.PRETRAIN:
            return self.pretrained_path()
        return (
            model_path(self.artifacts_dir, spec.study, spec.run_key)
            if self.study.save_models
            else None
        )


class RunSink(Protocol):
    """Where a run's records go, as they happen."""

    def begin(self, spec: RunSpec, hardware: dict, provenance: dict) -> int: ...
    def eval_point(self, run_id: int, point: EvalPoint) -> None: ...
    def timeline(self, run_id: int, timeline: dict[str, Any]) -> None: ...
    def finish(self, run_id: int, outcome: RunOutcome) -> None: ...


def run_claimed(
    spec: RunSpec, env: RunEnv, sink: RunSink, *, resume_id: int | None = None
) -> RunOutcome | None:
    """What every executor does with a spec where it executes: the run's GPUs set to its power limit
    (when it has one; put back after, whatever happens), the claim (``sink.begin``: the hardware
    record holds the limit asked for and the one enforced), the run. None when another process holds
    the run (``RunClaimed``) or has finished it meanwhile: it is left alone, nothing trains.
    ``resume_id``: the sink's record of the run's paused attempt, claimed already by whoever holds
    the sink (a live search's coordinator): the run goes on from its checkpoint, no claim again."""
    limit_w = spec.train_config.gpu_power_limit_w
    if limit_w is not None and env.power is None:
        raise PowertrainError(f"run {spec.run_key} sets a GPU power limit, but no GPU was opened")
    with (
        env.power.applied(limit_w, sink, env.hardware) if env.power else nullcontext(env.hardware)
    ) as hardware:
        if resume_id is not None:
            return execute_run(spec, env, sink, run_id=resume_id, resume=True)
        try:
            run_id = sink.begin(spec, hardware, env.provenance)  # the claim
        except (RunClaimed, ValueError) as claimed:
            log.info("skipped: %s", claimed)
            return None
        return execute_run(spec, env, sink, run_id=run_id)


def execute_run(
    spec: RunSpec, env: RunEnv, sink: RunSink, *, run_id: int | None = None, resume: bool = False
) -> RunOutcome:
    """Run ``spec`` to its target under a monitor, writing through ``sink``: begin (unless the executor
    claimed the run already and passes its ``run_id``), every evaluation point, the power timeline,
    the weights (before the run is marked finished), the outcome. A failure of the model, the data or
    the step ends the run FAILED; a failed pretraining stage raises ``PretrainingFailed`` once recorded.

    A stopping handler that pauses the run (a ``Stop`` that ``pauses``) leaves its state in the run's
    checkpoint (``study/resume.py``); ``resume``: continue from it. With ``run_id`` the sink's record holds the
    earlier attempts' points and goes on; without, a new record is begun and gets them first. Without
    a checkpoint to resume the run starts afresh (a new record), with a log line."""
    checkpoint = run_checkpoint(spec, env)
    if resume:
        # only under the meters it paused under: its joules so far are theirs
        labels = meter_labels(env.provenance)
        earlier = checkpoint.spent(labels) if checkpoint is not None else None
        if earlier is None:
            log.warning("run %s: no checkpoint to resume; starting afresh", spec.run_key)
            run_id = None  # a record holding an earlier attempt is begun afresh
        else:
            checkpoint = replace(checkpoint, earlier=earlier)
    if run_id is None:
        run_id = sink.begin(spec, env.hardware, env.provenance)
        for point in checkpoint.earlier.points if checkpoint and checkpoint.earlier else ():
            sink.eval_point(run_id, point)
    monitor = env.monitor()
    with monitor:
        seed_everything(spec.seed)
        on_eval = lambda p: sink.eval_point(run_id, p)  # noqa: E731
        if env.study.task.command:  # the user's own script, run to the target
            outcome = _run_command(spec, env, monitor, on_eval)
        else:
            outcome = _run_builtin(spec, env, monitor, on_eval, checkpoint)
    if env.study.meters.record_timeline:
        sink.timeline(run_id, monitor.trace().timeline())
    sink.finish(run_id, outcome)
    if continued_to_its_end(checkpoint, outcome):
        checkpoint.remove()  # only now: its record is finished (a take-on's stored pause went)
    if spec.stage is Stage.PRETRAIN and outcome.status not in (REACHED, CENSORED):
        raise PretrainingFailed(
            f"the pretraining stage {outcome.status}: {outcome.error or outcome.stop_reason}"
        )
    return outcome


def continued_to_its_end(checkpoint, outcome: RunOutcome) -> bool:
    """Whether a run continued from ``checkpoint`` ended without pausing again: its checkpoint, which
    the loop leaves, goes once the sink has its finish (``train/loop.py``)."""
    return (
        checkpoint is not None
        and checkpoint.earlier is not None
        and outcome.verdict is not Verdict.RUNG_PAUSE
    )


def _run_builtin(spec: RunSpec, env: RunEnv, monitor, on_eval, checkpoint) -> RunOutcome:
    """The built-in loop: the model, data and step of the run, trained to its target."""
    try:
        prepared, limits = _prepare(spec, env)
    except Exception as exc:  # noqa: BLE001 - recorded as the run's failure
        return RunOutcome(FAILED, "the model could not be set up", 0.0, {}, 0.0, 0, error=str(exc))
    return _train(spec, env, prepared, limits, monitor, on_eval, checkpoint)


def _run_command(spec: RunSpec, env: RunEnv, monitor, on_eval) -> RunOutcome:
    """A command task: the user's script, its setup's values and seed filled in, to the target."""
    from powertrain.study.command_run import command_argv, run_command_task

    task = env.study.task
    argv = command_argv(task, spec.train, spec.setup, spec.seed)
    return run_command_task(task, argv, monitor, on_eval)


def _train(
    spec, env: RunEnv, prepared: Prepared, limits: Limits, monitor, on_eval, checkpoint
) -> RunOutcome:
    outcome = train_to_target(
        prepared.model,
        prepared.source,
        spec.train_config,
        limits,
        monitor,
        step_fn=prepared.step_fn,
        evaluate=prepared.evaluate,
        test_evaluate=prepared.test_evaluate,
        device=env.device,
        seed=spec.seed,
        on_eval=on_eval,
        parameters=prepared.parameters,
        handlers=list(env.stop_handlers(spec)),
        checkpoint=checkpoint,
    )
    keep = (
        outcome.status in (REACHED, CENSORED)
        if spec.stage is Stage.PRETRAIN
        else outcome.status != FAILED
    )
    path = env.weights_path(spec)
    if path is not None and keep:
        save_state_dict(prepared.model, path)
    return outcome


def _prepare(spec: RunSpec, env: RunEnv) -> tuple[Prepared, Limits]:
    """The model, data, step and evaluations of the run, and the limits it trains under."""
    study, task = env.study, env.study.task
    if spec.stage is Stage.PRETRAIN:
        cfg = study.pretrain
        target = cfg.target_accuracy or 1.0
        data = env.task_data(cfg.dataset, cfg.dataset, cfg.dataset_options, cfg.label, target)
        setup = Setup(spec.setup, replace(spec.train_config, paradigm=Paradigm.SCRATCH))
        prepared = prepare(
            setup, {cfg.dataset: data}, cfg.dataset, task.model, task.model_options, None
        )
        return prepared, Limits(
            prepared.targets, cfg.max_epochs, evals_per_epoch=cfg.evals_per_epoch
        )
    setup = spec.as_setup()
    pretrained = env.pretrained_path() if setup.train.paradigm.needs_pretraining else None
    missing = pretrained is not None and not pretrained.is_file()
    if missing and (hint := left_in_shared(pretrained, env.artifacts_dir)):  # an older version's
        raise PowertrainError(f"the pretrained weights are not at {pretrained}{hint}")
    prepared = prepare(
        setup,
        env.tasks(),
        task.dataset,
        task.model,
        task.model_options,
        pretrained if pretrained is not None and pretrained.is_file() else None,
    )
    limits = Limits(
        prepared.targets,
        task.max_epochs,
        task.eval_every_steps,
        task.max_time_s,
        task.evals_per_epoch,
        window=spec.window,  # a search's pricing window (the pretraining stage has none)
    )
    return prepared, limits
