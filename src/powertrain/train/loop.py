"""The training loop: train until a validation evaluation reaches the target, and record every
evaluation point with the energy used so far.

Reads top to bottom: set up, then epochs of shuffled index-slice batches; every ``eval_every_steps``
steps (or every epoch) evaluate, record, and stop at the target, at the limits, or on divergence. The
energy is the monitor window ``run``'s cumulative reading, evaluations included (they are part of what
it costs to know the target is reached). The test accuracy is taken after the window closes.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from powertrain.data.base import Dataset
from powertrain.monitor import Measurement, Monitor
from powertrain.records import CENSORED, DIVERGED, FAILED, REACHED, EvalPoint, RunOutcome
from powertrain.study.config import TrainConfig
from powertrain.train.setup import autocast, make_optimizer, make_scheduler, seed_everything
from powertrain.train.steps import EvalFn, StepFn

DIVERGENCE_CHECK_STEPS = 10  # how often the loss is checked for NaN/inf (a device sync on GPUs)


@dataclass(frozen=True)
class Limits:
    target_accuracy: float
    max_epochs: int
    eval_every_steps: int | None = (
        None  # None: ``evals_per_epoch`` evenly spaced evaluations per epoch
    )
    max_time_s: float | None = None
    evals_per_epoch: int = 1

    def eval_due(self, step: int, step_in_epoch: int, steps_per_epoch: int) -> bool:
        if self.eval_every_steps:
            return step % self.eval_every_steps == 0
        # Evaluate after step_in_epoch = ceil(k * steps_per_epoch / evals_per_epoch), k = 1 ... n.
        n = self.evals_per_epoch
        return any(step_in_epoch == math.ceil(k * steps_per_epoch / n) for k in range(1, n + 1))


def train_to_target(
    model: nn.Module,
    data: Dataset,
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
) -> RunOutcome:
    """Train ``model`` on ``data`` until ``evaluate`` on the validation split reaches the target.

    Exceptions from the model, data or step functions end the run as FAILED with the energy spent;
    KeyboardInterrupt and other BaseExceptions propagate."""
    generator = seed_everything(seed)
    model.to(device).train()
    optimizer = make_optimizer(cfg, model.parameters())
    n_train = len(data.train)
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    scheduler = make_scheduler(cfg, optimizer, steps_per_epoch, limits.max_epochs)
    scaler = torch.amp.GradScaler(device.type) if cfg.precision == "fp16" else None

    points: list[EvalPoint] = []
    step = samples = 0
    loss_sum = torch.zeros((), device=device)
    loss_steps = 0
    status, reason = CENSORED, f"max_epochs ({limits.max_epochs}) reached"
    error = None
    stopped = False
    monitor.begin("run")
    try:
        for epoch in range(limits.max_epochs):
            if stopped:
                break
            order = torch.randperm(n_train, generator=generator).to(device)
            for step_in_epoch, start in enumerate(range(0, n_train, cfg.batch_size), start=1):
                batch = data.train.take(order[start : start + cfg.batch_size])
                with autocast(cfg.precision, device):
                    loss = step_fn(model, batch.x, batch.y)
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
                step += 1
                samples += len(batch)
                loss_sum += loss.detach().float()
                loss_steps += 1

                if step % DIVERGENCE_CHECK_STEPS == 0 and not torch.isfinite(loss_sum):
                    status, reason, stopped = (
                        DIVERGED,
                        f"loss became {float(loss_sum)} at step {step}",
                        True,
                    )
                    break
                if not limits.eval_due(step, step_in_epoch, steps_per_epoch):
                    continue
                point = _evaluate(
                    model,
                    data,
                    evaluate,
                    monitor,
                    len(points),
                    step,
                    epoch + (start + len(batch)) / n_train,
                    samples,
                    loss_sum,
                    loss_steps,
                )
                loss_sum.zero_()
                loss_steps = 0
                points.append(point)
                on_eval(point)
                if not math.isfinite(point.train_loss if point.train_loss is not None else 0.0):
                    status, reason, stopped = (
                        DIVERGED,
                        f"loss became {point.train_loss} at step {step}",
                        True,
                    )
                elif point.val_accuracy >= limits.target_accuracy:
                    status, reason, stopped = (
                        REACHED,
                        f"validation accuracy {point.val_accuracy:.4f} at step {step}",
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
        if not stopped and (
            not points or points[-1].step != step
        ):  # record where the limit left it
            points.append(
                _evaluate(
                    model,
                    data,
                    evaluate,
                    monitor,
                    len(points),
                    step,
                    limits.max_epochs,
                    samples,
                    loss_sum,
                    loss_steps,
                )
            )
            on_eval(points[-1])
    except Exception as exc:  # user code (a model, a data set, a step function) failed
        status, reason = FAILED, "an exception ended the run"
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    total = monitor.end("run")

    test_accuracy = None
    if status in (REACHED, CENSORED) and test_evaluate is not None:
        test_accuracy = test_evaluate(model, data.test)
    return _outcome(status, reason, total, step, points, test_accuracy, error)


def _evaluate(
    model, data, evaluate, monitor, index, step, epoch, samples, loss_sum, loss_steps
) -> EvalPoint:
    val_accuracy = evaluate(model, data.val)
    so_far = monitor.read("run")  # after the evaluation: its cost counts
    return EvalPoint(
        index=index,
        step=step,
        epoch=round(epoch, 4),
        samples_seen=samples,
        train_loss=float(loss_sum) / loss_steps if loss_steps else None,
        val_accuracy=val_accuracy,
        elapsed_s=so_far.duration_s,
        energy_j=dict(so_far.energy_j),
    )


def _outcome(status, reason, total: Measurement, steps, points, test_accuracy, error) -> RunOutcome:
    reached = points[-1] if status == REACHED else None  # the loop stops at the first that reaches
    return RunOutcome(
        status=status,
        stop_reason=reason,
        total_energy_j=total.total_energy_j,
        energy_j=dict(total.energy_j),
        duration_s=total.duration_s,
        steps=steps,
        final_val_accuracy=points[-1].val_accuracy if points else None,
        test_accuracy=test_accuracy,
        energy_to_target_j=reached.total_energy_j if reached else None,
        time_to_target_s=reached.elapsed_s if reached else None,
        steps_to_target=reached.step if reached else None,
        error=error,
    )
