"""The training loop: train until a validation evaluation reaches the target of every task, and record
every evaluation point with the energy used so far.

Reads top to bottom: set up, then epochs of shuffled index-slice batches from the source; every
``eval_every_steps`` steps (or ``evals_per_epoch`` times an epoch) evaluate, record, and ask the
stopping handlers (``train/stopping.py``: divergence, the targets, the limits, any the caller adds)
whether to stop; the first reason ends the run. The energy is the monitor window ``run``'s cumulative reading,
evaluations included (they are part of what it costs to know a target is reached). The test accuracy is
taken after the window closes.

A handler may only pause the run (a ``Stop`` whose verdict is ``RUNG_PAUSE``): given a checkpoint, the loop then saves its
whole state (``train/checkpoint.py``), and a later attempt given that checkpoint continues where it
stopped, as if it had never paused: the same batches in the same order, the same random draws, its
points and figures going on from the earlier attempts' (saving and loading inside the window).
``Limits.window`` pauses a run the same way before its first evaluation, with no point: a search
prices a cost axis (a GPU power limit) over a share of the steps to that evaluation.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import islice

import torch
from torch import nn

from powertrain.monitor import Measurement, Monitor
from powertrain.records import CENSORED, REACHED, EvalPoint, RunOutcome, Verdict, outcome_of
from powertrain.train.checkpoint import (
    Checkpoint,
    Spent,
    StateTaken,
    meter_labels,
    rng_state,
    set_rng_state,
    since_first_start,
    written,
)
from powertrain.train.config import TrainConfig
from powertrain.train.limits import MIN_PRICED_UPDATES, Limits, WindowPause
from powertrain.train.setup import autocast, make_optimizer, make_scheduler, seed_everything
from powertrain.train.sources import SingleSource
from powertrain.train.stopping import Handler, Stop, first_stop

log = logging.getLogger(__name__)

DIVERGENCE_CHECK_STEPS = 10  # how often the loss is checked for NaN/inf (a device sync on GPUs)
BEFORE_A_PAUSE = "before a pause: "  # marks an earlier attempt's fault in the run's outcome

StepFn = Callable[[nn.Module, object], torch.Tensor]  # (model, batch) -> loss
EvalFn = Callable[[nn.Module], dict[str, float]]  # model -> accuracy per task


@dataclass
class _Progress:
    step: int = 0
    samples: int = 0
    points: list[EvalPoint] = field(default_factory=list)
    loss_sum: torch.Tensor | None = None  # the training loss summed since the last evaluation
    loss_steps: int = 0
    epoch: int = 0
    in_epoch: int = 0  # batches of the current epoch done
    epoch_start: dict | None = None  # the data order's state at the current epoch's start
    earlier: Spent | None = (
        None  # what earlier attempts spent (a resumed run); points go on from it
    )
    warm_j: float = 0.0  # this attempt's energy at the end of its pricing window's warm-up
    warm_s: float = 0.0  # and the seconds since it began
    priced: tuple[int, float] | None = None  # a pause in its pricing window: (steps, joules) priced

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
            return Stop(Verdict.DIVERGED, f"loss became {float(self.loss_sum)} at step {self.step}")
        return None

    def in_window(self, pause: WindowPause, reads: _Reads) -> Stop | None:
        """At the pricing window's edges: the energy read after its warm-up and at its end, before
        the checkpoint is saved, so that the price leaves out what starting and pausing cost; the
        pause at its end: at step ``pause.at`` or, until the priced part has lasted
        ``pause.min_priced_s``, at the first step after that has."""
        if self.step == pause.warmup:
            self.warm_j, self.warm_s = reads.energy_j(), reads.seconds()
        elif self.step >= pause.at and reads.seconds() - self.warm_s >= pause.min_priced_s:
            self.priced = (self.step - pause.warmup, reads.energy_j() - self.warm_j)
            return pause.stop(self.step)
        return None

    def start_epoch(self, epoch: int, generator: torch.Generator, source) -> int:
        """Note the data order at the epoch's start (what a checkpoint keeps); the batches of it done
        already (a run resumed into it: the generator is back at the epoch's start, the batches done
        are drawn again and skipped, not trained on)."""
        if self.epoch_start is not None and self.epoch == epoch:
            return self.in_epoch
        self.epoch, self.in_epoch = epoch, 0
        self.epoch_start = {"generator": generator.get_state(), "source": source.state()}
        return 0

    def cumulative(
        self, energy_j: dict[str, float], duration_s: float, faults: tuple[str, ...] = ()
    ) -> Spent:
        """A reading of this attempt's window (and its faults) as the run's figures since its first
        start: the earlier attempts' faults first, and a note where they ran on another machine."""
        return since_first_start(self.earlier, energy_j, duration_s, self.points, faults)

    def cumulative_measurement(self, total: Measurement) -> Measurement:
        spent = self.cumulative(total.energy_j, total.duration_s, total.faults)
        return replace(
            total, energy_j=spent.energy_j, duration_s=spent.duration_s, faults=spent.faults
        )

    def state(self) -> dict | None:
        if self.epoch_start is None or self.epoch_start["source"] is None:
            return None  # a streamed joint source: its order cannot be saved
        keys = ("step", "samples", "epoch", "in_epoch", "epoch_start", "loss_steps")
        # the loss since the last evaluation: a run paused between evaluations (its pricing
        # window) reports the same mean loss at its next one as if it had never paused
        return {
            **{k: getattr(self, k) for k in keys},
            "loss_sum": self.loss_sum.detach().cpu().clone(),
        }

    def load(self, state: dict, earlier: Spent) -> None:
        for key, value in state.items():
            if key == "loss_sum":  # kept on the run's device
                self.loss_sum.copy_(value)
            else:
                setattr(self, key, value)
        self.earlier, self.points = earlier, list(earlier.points)
        self.priced = earlier.priced  # its window's span, kept to its final outcome


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

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])


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
    checkpoint: Checkpoint | None = None,
) -> RunOutcome:
    """Train ``model`` until ``evaluate`` reaches every target. ``parameters``: what the optimiser
    updates (all of the model's by default; the head alone when the backbone is frozen). ``handlers``:
    stopping handlers consulted after the limits' own (divergence, targets, time). ``checkpoint``:
    where the run's state is saved when a handler pauses it (a ``Stop`` that ``pauses``), and continued from when it
    says so (``checkpoint.earlier``: the points and figures then go on from the earlier attempts').

    Exceptions from the model, data or step functions end the run as FAILED with the energy spent;
    KeyboardInterrupt and other BaseExceptions propagate."""
    generator = seed_everything(seed)
    model.to(device).train()
    steps_per_epoch = source.steps_per_epoch(cfg.batch_size)
    step = _Stepper(model, cfg, step_fn, parameters, device, steps_per_epoch, limits.max_epochs)
    progress = _Progress(loss_sum=torch.zeros((), device=device))
    run = _Run(model, source, cfg, limits, monitor, evaluate, step, progress, generator)
    stop, total, error = run.window([*limits.handlers(), *handlers], on_eval, checkpoint)
    # a paused run is not done: its test accuracy (work outside the measured window) waits for its end
    done = stop.status in (REACHED, CENSORED) and not stop.pauses
    test = test_evaluate(model) if done and test_evaluate is not None else None
    return _outcome(stop, total, progress, test, error)


@dataclass
class _Run:
    """One attempt at a run: what its measured window needs."""

    model: nn.Module
    source: SingleSource
    cfg: TrainConfig
    limits: Limits
    monitor: Monitor
    evaluate: EvalFn
    step: _Stepper
    progress: _Progress
    generator: torch.Generator

    def window(self, handlers, on_eval, checkpoint: Checkpoint | None):
        """Train inside the monitor's window ``run``, loading and saving the checkpoint in it (what
        they cost is part of the run's energy). The stop, the window's reading, the error if any."""
        progress, error = self.progress, None

        def record(epoch: float) -> EvalPoint:
            point = _evaluate(self.model, self.evaluate, self.monitor, progress, epoch)
            progress.loss_sum.zero_()
            progress.loss_steps = 0
            progress.points.append(point)
            on_eval(point)
            return point

        self.monitor.begin("run")
        reads = _Reads(self.monitor)
        try:
            if checkpoint is not None and checkpoint.earlier is not None:
                self.resume(checkpoint)
            stop = _epochs(
                self.source,
                self.cfg,
                self.limits,
                self.generator,
                self.step,
                progress,
                record,
                handlers,
                reads,
            )
            saved_id = self.save(checkpoint) if checkpoint is not None and stop.pauses else None
            paused = saved_id is not None
        except Exception as exc:  # user code (a model, a data set, a step function) failed
            stop, paused = Stop(Verdict.FAILED, "an exception ended the run"), False
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        total = self.monitor.end("run")
        if paused:  # the summary last: a checkpoint counts only once it is written
            before = tuple(f"{BEFORE_A_PAUSE}{f}" for f in total.faults)
            spent = progress.cumulative(total.energy_j, total.duration_s, before)
            labels = meter_labels(total.provenance)
            spent = replace(spent, meter_labels=labels, priced=progress.priced)
            try:
                paused = written(checkpoint, checkpoint.save_spent, spent, saved_id) is not None
            except StateTaken:  # the checkpoint there is the other process's: kept
                paused, checkpoint = False, None
        # a continued run that ended keeps its checkpoint till its record is finished (execute.py):
        # killed before that, its stored pause is still there, and is continued again from it
        if checkpoint is not None and not paused and (checkpoint.earlier is None or stop.pauses):
            checkpoint.remove()
        return stop, progress.cumulative_measurement(total), error

    def resume(self, checkpoint: Checkpoint) -> None:
        state = checkpoint.load_state()
        self.model.load_state_dict(state["model"])
        self.step.load_state_dict(state["stepper"])
        self.progress.load(state["progress"], checkpoint.earlier)
        self.generator.set_state(state["progress"]["epoch_start"]["generator"])
        self.source.load_state(state["progress"]["epoch_start"]["source"])
        set_rng_state(state["rng"])

    def save(self, checkpoint: Checkpoint) -> str | None:
        """The state's ``saved_id`` (its summary is written at the run's end), or None where it
        could not be saved."""
        progress = self.progress.state()
        if progress is None:
            log.warning("run %s: its data order cannot be saved; not resumable", checkpoint.run_key)
            return None
        model = self.model.state_dict()
        state = {"progress": progress, "rng": rng_state()}
        return written(
            checkpoint,
            checkpoint.save_state,
            {**state, "model": model, "stepper": self.step.state_dict()},
        )


class _Reads:
    """An attempt's energy and seconds so far, as its pricing window reads them at its edges, and
    what the window's priced part lasts at least (``MIN_PRICED_UPDATES`` of the meters' updates)."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor, self.began_s = monitor, monitor.now_s()
        self.min_priced_s = MIN_PRICED_UPDATES * monitor.update_period_s()

    def energy_j(self) -> float:
        return self.monitor.read("run").total_energy_j

    def seconds(self) -> float:
        return self.monitor.now_s() - self.began_s


def _epochs(
    source, cfg, limits: Limits, generator, step, progress, record, handlers, reads: _Reads
) -> Stop:
    """Train epoch after epoch (from where a resumed run stood); evaluate when due and ask the
    handlers; pause in the pricing window (read at its edges). The reason the run stopped."""
    steps_per_epoch = source.steps_per_epoch(cfg.batch_size)
    eval_due = limits.schedule(steps_per_epoch)
    window = limits.window_pause(steps_per_epoch, reads.min_priced_s)
    if window is not None and progress.step >= window.at:
        window = None  # resumed from its window's pause (or past it): it trains on
    for epoch in range(progress.epoch, limits.max_epochs):
        done = progress.start_epoch(epoch, generator, source)
        batches = islice(source.epoch(cfg.batch_size, generator), done, None)
        for step_in_epoch, (batch, size) in enumerate(batches, start=done + 1):
            progress.add(step(batch), size)
            progress.in_epoch = step_in_epoch
            stop = progress.diverged()
            if stop is None and eval_due(progress.step, step_in_epoch):
                stop = first_stop(handlers, record(epoch + step_in_epoch / steps_per_epoch))
            elif stop is None and window is not None and not progress.points:
                # no evaluation yet (the first, if it came before the window had lasted long
                # enough, ended it): saved mid-epoch
                stop = progress.in_window(window, reads)
            if stop is not None:
                return stop
    points = progress.points
    if not points or points[-1].step != progress.step:  # where the limit left it
        record(float(limits.max_epochs))
    return Stop(Verdict.MAX_EPOCHS, f"max_epochs ({limits.max_epochs}) reached")


def _evaluate(model, evaluate, monitor, progress: _Progress, epoch: float) -> EvalPoint:
    accuracies = evaluate(model)
    so_far = monitor.read("run")  # after the evaluation: its cost counts
    spent = progress.cumulative(so_far.energy_j, so_far.duration_s)
    return EvalPoint.measured(
        len(progress.points),
        progress.step,
        round(epoch, 4),
        progress.samples,
        progress.mean_loss(),
        accuracies,
        spent.duration_s,
        spent.energy_j,
    )


def _outcome(stop: Stop, total: Measurement, progress: _Progress, test, error) -> RunOutcome:
    points = progress.points
    # the span its pricing window priced, where a window paused it (this attempt or an earlier
    # one: a run continued after its window keeps it, so that a search prices it on the same
    # footing as the values left paused in theirs)
    priced_steps, priced_energy_j = progress.priced or (None, None)
    return outcome_of(
        stop.status,
        stop.reason,
        total.energy_j,
        total.duration_s,
        points,
        steps=progress.step,
        reached=points[-1] if points else None,  # it stops at the first that reaches
        test=test,
        error=error,
        faults=total.faults,
        verdict=stop.verdict,
        priced_steps=priced_steps,
        priced_energy_j=priced_energy_j,
    )
