"""The training loop: train until a validation evaluation reaches the target of every task, and record
every evaluation point with the energy used so far.

Reads top to bottom: set up, then epochs of shuffled index-slice batches from the source; every
``eval_every_steps`` steps (or ``evals_per_epoch`` times an epoch) evaluate, record, and stop at the
targets, at the limits, or on divergence. The energy is the monitor window ``run``'s cumulative reading,
evaluations included (they are part of what it costs to know a target is reached). The test accuracy is
taken after the window closes.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from powertrain.monitor import Measurement, Monitor
from powertrain.records import CENSORED, DIVERGED, FAILED, REACHED, EvalPoint, RunOutcome
from powertrain.study.config import TrainConfig
from powertrain.train.setup import autocast, make_optimizer, make_scheduler, seed_everything
from powertrain.train.sources import SingleSource

DIVERGENCE_CHECK_STEPS = 10  # how often the loss is checked for NaN/inf (a device sync on GPUs)

StepFn = Callable[[nn.Module, object], torch.Tensor]  # (model, batch) -> loss
EvalFn = Callable[[nn.Module], dict[str, float]]  # model -> accuracy per task


@dataclass(frozen=True)
class Limits:
    targets: dict[str, float]  # validation accuracy to reach, per task
    max_epochs: int
    eval_every_steps: int | None = (
        None  # None: ``evals_per_epoch`` evenly spaced evaluations per epoch
    )
    max_time_s: float | None = None
    evals_per_epoch: int = 1

    def schedule(self, steps_per_epoch: int):
        """A test ``(step, step_in_epoch) -> evaluate now?``, worked out once per run."""
        if self.eval_every_steps:
            every = self.eval_every_steps
            return lambda step, step_in_epoch: step % every == 0
        # After step_in_epoch = ceil(k * steps_per_epoch / evals_per_epoch), k = 1 ... n.
        n = self.evals_per_epoch
        due = frozenset(math.ceil(k * steps_per_epoch / n) for k in range(1, n + 1))
        return lambda step, step_in_epoch: step_in_epoch in due

    def reached(self, accuracies: dict[str, float]) -> bool:
        return all(accuracies[task] >= target for task, target in self.targets.items())


@dataclass
class _Progress:
    step: int = 0
    samples: int = 0
    points: list[EvalPoint] = field(default_factory=list)


def train_to_target(
    model: nn.Module,
    source: SingleSource,
    cfg: TrainConfig,
    limits: Limits,
    monitor: Monitor,
    *,
    step_fn: StepFn,
    evaluate: EvalFn,
    test_evaluate: EvalFn | None = None,
    device: torch.device,
    seed: int,
    on_eval: Callable[[EvalPoint], None] = lambda point: None,
    parameters=None,
) -> RunOutcome:
    """Train ``model`` until ``evaluate`` reaches every target. ``parameters``: what the optimiser
    updates (all of the model's by default; the head alone when the backbone is frozen).

    Exceptions from the model, data or step functions end the run as FAILED with the energy spent;
    KeyboardInterrupt and other BaseExceptions propagate."""
    generator = seed_everything(seed)
    model.to(device).train()
    optimizer = make_optimizer(cfg, parameters if parameters is not None else model.parameters())
    steps_per_epoch = source.steps_per_epoch(cfg.batch_size)
    eval_due = limits.schedule(steps_per_epoch)
    scheduler = make_scheduler(cfg, optimizer, steps_per_epoch, limits.max_epochs)
    scaler = torch.amp.GradScaler(device.type) if cfg.precision == "fp16" else None

    progress = _Progress()
    loss_sum = torch.zeros((), device=device)
    loss_steps = 0
    status, reason, error = CENSORED, f"max_epochs ({limits.max_epochs}) reached", None
    stopped = False

    def record(epoch: float) -> EvalPoint:
        nonlocal loss_steps
        point = _evaluate(model, evaluate, monitor, progress, epoch, loss_sum, loss_steps)
        loss_sum.zero_()
        loss_steps = 0
        progress.points.append(point)
        on_eval(point)
        return point

    monitor.begin("run")
    try:
        for epoch in range(limits.max_epochs):
            if stopped:
                break
            for step_in_epoch, (batch, size) in enumerate(
                source.epoch(cfg.batch_size, generator), start=1
            ):
                with autocast(cfg.precision, device):
                    loss = step_fn(model, batch)
                optimizer.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    optimizer.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                if scheduler is not None:
                    scheduler.step()
                progress.step += 1
                progress.samples += size
                loss_sum += loss.detach().float()
                loss_steps += 1

                if progress.step % DIVERGENCE_CHECK_STEPS == 0 and not torch.isfinite(loss_sum):
                    status, reason, stopped = (
                        DIVERGED,
                        f"loss became {float(loss_sum)} at step {progress.step}",
                        True,
                    )
                    break
                if not eval_due(progress.step, step_in_epoch):
                    continue
                point = record(epoch + step_in_epoch / steps_per_epoch)
                if not math.isfinite(point.train_loss if point.train_loss is not None else 0.0):
                    status, reason, stopped = (
                        DIVERGED,
                        f"loss became {point.train_loss} at step {point.step}",
                        True,
                    )
                elif limits.reached(point.task_accuracies):
                    status, reason, stopped = (
                        REACHED,
                        f"every target reached at step {point.step}",
                        True,
                    )
                elif limits.max_time_s is not None and point.elapsed_s >= limits.max_time_s:
                    status, reason, stopped = (
                        CENSORED,
                        f"max_time_s ({limits.max_time_s}) reached",
                        True,
                    )
                if stopped:
                    break
        points = progress.points
        if not stopped and (
            not points or points[-1].step != progress.step
        ):  # where the limit left it
            record(float(limits.max_epochs))
    except Exception as exc:  # user code (a model, a data set, a step function) failed
        status, reason = FAILED, "an exception ended the run"
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    total = monitor.end("run")

    test = (
        test_evaluate(model)
        if status in (REACHED, CENSORED) and test_evaluate is not None
        else None
    )
    return _outcome(status, reason, total, progress, test, error)


def _evaluate(model, evaluate, monitor, progress, epoch, loss_sum, loss_steps) -> EvalPoint:
    accuracies = evaluate(model)
    so_far = monitor.read("run")  # after the evaluation: its cost counts
    return EvalPoint(
        index=len(progress.points),
        step=progress.step,
        epoch=round(epoch, 4),
        samples_seen=progress.samples,
        train_loss=float(loss_sum) / loss_steps if loss_steps else None,
        val_accuracy=sum(accuracies.values()) / len(accuracies),
        elapsed_s=so_far.duration_s,
        energy_j=dict(so_far.energy_j),
        task_accuracies=dict(accuracies),
    )


def _outcome(status, reason, total: Measurement, progress: _Progress, test, error) -> RunOutcome:
    points = progress.points
    reached = points[-1] if status == REACHED else None  # the loop stops at the first that reaches
    return RunOutcome(
        status=status,
        stop_reason=reason,
        total_energy_j=total.total_energy_j,
        energy_j=dict(total.energy_j),
        duration_s=total.duration_s,
        steps=progress.step,
        final_val_accuracy=points[-1].val_accuracy if points else None,
        test_accuracy=sum(test.values()) / len(test) if test else None,
        energy_to_target_j=reached.total_energy_j if reached else None,
        time_to_target_s=reached.elapsed_s if reached else None,
        steps_to_target=reached.step if reached else None,
        error=error,
        task_test_accuracies=test or {},
        faults=list(total.faults),
    )
