"""The training loop: train until a validation evaluation reaches the target of every task, and record
every evaluation point with the energy used so far.

Reads top to bottom: set up, then epochs of shuffled index-slice batches from the source; every
``eval_every_steps`` steps (or ``evals_per_epoch`` times an epoch) evaluate, record, and ask the
stopping handlers (``train/stopping.py``: divergence, the targets, the limits, any the caller adds)
whether to stop; the first reason ends the run. The energy is the monitor window ``run``'s cumulative reading,
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
from powertrain.train.config import TrainConfig
from powertrain.train.setup import autocast, make_optimizer, make_scheduler, seed_everything
from powertrain.train.sources import SingleSource
from powertrain.train.stopping import (
    Diverged,
    Handler,
    MaxTime,
    Stop,
    TargetReached,
    first_stop,
    status_of,
)

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
        return TargetReached(self.targets).reached(accuracies)

    def handlers(self) -> list[Handler]:
        """The stopping handlers these limits stand for: divergence, the targets, the time limit."""
        handlers: list[Handler] = [Diverged(), TargetReached(self.targets)]
        if self.max_time_s is not None:
            handlers.append(MaxTime(self.max_time_s))
        return handlers


@dataclass
class _Progress:
    step: int = 0
    samples: int = 0
    points: list[EvalPoint] = field(default_factory=list)
    loss_sum: torch.Tensor | None = None  # the training loss summed since the last evaluation
    loss_steps: int = 0

    def add(self, loss: torch.Tensor, size: int) -> None:
        self.step += 1
        self.samples += size
        self.loss_sum += loss.detach().float()
        self.loss_steps += 1

    def mean_loss(self) -> float | None:
        return float(self.loss_sum) / self.loss_steps if self.loss_steps else None

    def diverged(self) -> Stop | None:
        """Every DIVERGENCE_CHECK_STEPS steps (a device sync on GPUs): a NaN or infinite loss."""
        if self.step % DIVERGENCE_CHECK_STEPS == 0 and not torch.isfinite(self.loss_sum):
            return Stop(f"loss became {float(self.loss_sum)} at step {self.step}", DIVERGED)
        return None


class _Stepper:
    """One optimisation step: forward (under the precision's autocast), backward, optimiser, scheduler."""

    def __init__(
        self, model, cfg: TrainConfig, step_fn, parameters, device, steps_per_epoch, epochs
    ):
        self.model, self.cfg, self.step_fn, self.device = model, cfg, step_fn, device
        params = parameters if parameters is not None else model.parameters()
        self.optimizer = make_optimizer(cfg, params)
        self.scheduler = make_scheduler(cfg, self.optimizer, steps_per_epoch, epochs)
        self.scaler = torch.amp.GradScaler(device.type) if cfg.precision == "fp16" else None

    def __call__(self, batch) -> torch.Tensor:
        with autocast(self.cfg.precision, self.device):
            loss = self.step_fn(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss


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
    handlers: list[Handler] = (),
) -> RunOutcome:
    """Train ``model`` until ``evaluate`` reaches every target. ``parameters``: what the optimiser
    updates (all of the model's by default; the head alone when the backbone is frozen). ``handlers``:
    stopping handlers consulted after the limits' own (divergence, targets, time).

    Exceptions from the model, data or step functions end the run as FAILED with the energy spent;
    KeyboardInterrupt and other BaseExceptions propagate."""
    generator = seed_everything(seed)
    model.to(device).train()
    steps_per_epoch = source.steps_per_epoch(cfg.batch_size)
    step = _Stepper(model, cfg, step_fn, parameters, device, steps_per_epoch, limits.max_epochs)
    handlers = [*limits.handlers(), *handlers]
    progress = _Progress(loss_sum=torch.zeros((), device=device))
    error = None

    def record(epoch: float) -> EvalPoint:
        point = _evaluate(model, evaluate, monitor, progress, epoch)
        progress.loss_sum.zero_()
        progress.loss_steps = 0
        progress.points.append(point)
        on_eval(point)
        return point

    monitor.begin("run")
    try:
        stop = _epochs(source, cfg, limits, generator, step, progress, record, handlers)
    except Exception as exc:  # user code (a model, a data set, a step function) failed
        stop = Stop("an exception ended the run", FAILED)
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    total = monitor.end("run")

    status = status_of(stop)
    test = (
        test_evaluate(model)
        if status in (REACHED, CENSORED) and test_evaluate is not None
        else None
    )
    return _outcome(status, str(stop), total, progress, test, error)


def _epochs(source, cfg, limits: Limits, generator, step, progress, record, handlers) -> Stop:
    """Train epoch after epoch; evaluate when due and ask the handlers. The reason the run stopped."""
    steps_per_epoch = source.steps_per_epoch(cfg.batch_size)
    eval_due = limits.schedule(steps_per_epoch)
    for epoch in range(limits.max_epochs):
        for step_in_epoch, (batch, size) in enumerate(
            source.epoch(cfg.batch_size, generator), start=1
        ):
            progress.add(step(batch), size)
            stop = progress.diverged()
            if stop is None and eval_due(progress.step, step_in_epoch):
                stop = first_stop(handlers, record(epoch + step_in_epoch / steps_per_epoch))
            if stop is not None:
                return stop
    points = progress.points
    if not points or points[-1].step != progress.step:  # where the limit left it
        record(float(limits.max_epochs))
    return Stop(f"max_epochs ({limits.max_epochs}) reached", CENSORED)


def _evaluate(model, evaluate, monitor, progress: _Progress, epoch: float) -> EvalPoint:
    accuracies = evaluate(model)
    so_far = monitor.read("run")  # after the evaluation: its cost counts
    return EvalPoint(
        index=len(progress.points),
        step=progress.step,
        epoch=round(epoch, 4),
        samples_seen=progress.samples,
        train_loss=progress.mean_loss(),
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
