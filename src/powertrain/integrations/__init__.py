"""Framework callbacks that drive a ``TrackedRun`` (``powertrain.track``): Lightning
(``integrations.lightning``), Hugging Face ``Trainer`` (``integrations.hf``) and Keras 3
(``integrations.keras``). Each module imports its framework; this package imports none.

Every callback takes the run from ``with powertrain.track(...) as run:``, so one lifecycle serves them
all: the block measures the whole job and records an exception as a failed run (Hugging Face's Trainer
has no exception hook), and the callback records each validation and stops training at the target.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.tracking.core import TrackedRun

log = logging.getLogger(__name__)

#: A metric name, or one per task (``{"a": "val_acc_a", "b": "val_acc_b"}``) for several targets.
MetricNames = str | Mapping[str, str]


def check_run(run: Any, where: str) -> TrackedRun:
    if not isinstance(run, TrackedRun):
        raise PowertrainError(
            f"{where} needs the run of `with powertrain.track(...) as run:`, got {type(run).__name__}"
        )
    check_open(run, where)
    return run


def check_open(run: TrackedRun, where: str) -> None:
    """Before a fit trains: its run has not ended (a callback kept from an earlier block would
    otherwise fail the fit at its first validation, after an epoch of training)."""
    if run.outcome is not None and not run.skipped:
        raise PowertrainError(
            f"{where}: run {run.run_id} has already ended ({run.outcome.status}): its "
            "`with powertrain.track(...) as run:` block is over. Make the callback inside the "
            "block of the run this training is for"
        )


def check_names(
    run: TrackedRun, metric: Any, loss: Any, where: str
) -> tuple[MetricNames, str | None]:
    """The callback's ``metric`` and ``loss``, checked before anything trains: a metric names an
    accuracy (a loss read as one is a wrong figure, silently), one per target's task."""
    if isinstance(metric, Mapping):
        tasks = sorted(run.tracker.targets)
        if sorted(map(str, metric)) != tasks or not all(isinstance(k, str) for k in metric):
            raise PowertrainError(
                f"{where}: metric= names the tasks {sorted(map(str, metric))}, but the run's "
                f"targets name {tasks}: give one metric name per task of target="
            )
        names, metric = list(metric.values()), dict(metric)
    else:
        names = [metric]
        if len(run.tracker.targets) > 1:
            raise PowertrainError(
                f"{where}: the run has several targets ({', '.join(run.tracker.targets)}): pass "
                "metric= as a mapping of each task to its logged accuracy, e.g. "
                f"metric={dict.fromkeys(run.tracker.targets, 'val_acc_...')}"
            )
    for name in names:
        if not isinstance(name, str) or not name:
            raise PowertrainError(
                f"{where}: metric= must be the name of the logged validation accuracy (or a "
                f"mapping of task to name, one per target), got {name!r}"
            )
        if "loss" in name.lower():
            raise PowertrainError(
                f"{where}: metric={name!r} names a loss, but the target is read from an accuracy "
                "(a fraction in [0, 1]): name the logged accuracy; loss= takes a loss"
            )
    if loss is not None and (not isinstance(loss, str) or not loss):
        raise PowertrainError(
            f"{where}: loss= must be a logged metric's name or None, got {loss!r}"
        )
    return metric, loss


def read_accuracy(
    metrics: Mapping[str, Any], metric: MetricNames, where: str
) -> float | dict[str, Any]:
    """The accuracy (or one per task) out of a framework's metrics; a clear error when one is missing."""
    names = {"": metric} if isinstance(metric, str) else dict(metric)
    missing = [name for name in names.values() if name not in metrics]
    if missing:
        logged = sorted(str(name) for name in metrics)
        likely = [n for n in logged if "loss" not in n.lower()]  # a loss is never the accuracy
        close = difflib.get_close_matches(missing[0], likely, n=1, cutoff=0.5)
        meant = f"did you mean {close[0]!r}? Otherwise " if close else ""
        raise PowertrainError(
            f"{where}: the metric {missing[0]!r} is not among the evaluation's metrics "
            f"({', '.join(logged) or 'none'}); {meant}log it, or name the accuracy metric with "
            "metric=..."
        )
    for name in names.values():
        _refuse_training_metric(metrics, name, where)
    values = {task: _scalar(metrics[name], name, where) for task, name in names.items()}
    for task, value in values.items():
        _check_fraction(value, names[task], where)
    return values[""] if isinstance(metric, str) else values


def _refuse_training_metric(metrics: Mapping[str, Any], name: str, where: str) -> None:
    """``accuracy`` beside ``val_accuracy`` (Keras), ``train_acc`` beside ``val_acc``: the training
    accuracy, read as the validation's, would reach the target early, silently."""
    rest = name.removeprefix("train_").removeprefix("train/")
    for twin in (f"val_{rest}", f"val/{rest}", f"eval_{rest}"):
        if twin != name and twin in metrics:
            raise PowertrainError(
                f"{where}: the metric {name!r} is the training one, and the target is read from "
                f"the validation accuracy: pass metric={twin!r}"
            )


def _check_fraction(value: Any, name: str, where: str) -> None:
    """An accuracy as a fraction in [0, 1], or one error naming the framework's metric (the run's
    own would name only the task)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and 0 <= value <= 1:
        return
    if number and 1 < value <= 100:
        raise PowertrainError(
            f"{where}: the metric {name!r} is {value:g}, a percentage; the target is read as a "
            "fraction in [0, 1]: log the accuracy as a fraction (divided by 100)"
        )
    raise PowertrainError(
        f"{where}: the metric {name!r} is {value!r}, not an accuracy (a fraction in [0, 1]): "
        "name the logged validation accuracy with metric=..."
    )


def read_loss(
    metrics: Mapping[str, Any], name: str | None, where: str, unlogged: set[str]
) -> float | None:
    """The training loss, when the callback was told its name and the framework logged it. A name
    never logged is warned about once (``unlogged``: the callback's names warned about): a NaN loss
    under another name would otherwise go on unseen, the run never ended as diverged."""
    if name is None:
        return None
    if name not in metrics:
        if name not in unlogged:
            unlogged.add(name)
            logged = ", ".join(sorted(str(n) for n in metrics)) or "none"
            log.warning(
                "powertrain: %s: the loss %r is not among the evaluation's metrics (%s): a NaN or "
                "infinite loss will not end the run as diverged; name a logged loss with loss=",
                where,
                name,
                logged,
            )
        return None
    return _scalar(metrics[name], name, where)


def _scalar(value: Any, name: str, where: str) -> Any:
    """A tensor's number (``.item()``), other values as they are (the run checks them)."""
    item = getattr(value, "item", None)
    if not callable(item):
        return value
    try:
        return item()
    except (ValueError, RuntimeError):  # numpy's and torch's word for "more than one number"
        raise PowertrainError(
            f"{where}: the metric {name!r} is not one number (shape "
            f"{tuple(getattr(value, 'shape', ()))}): log it as one number (the accuracy over the "
            "whole validation set)"
        ) from None


class Counts:
    """A run's steps and epochs over the framework's fits: a second ``fit`` (``train()``) in the same
    block whose count starts again below the run's last point goes on from it, so the run's steps
    never go back (a resumed fit, whose count goes on by itself, keeps its own, and is warned
    about: the training before its checkpoint is not in the run's energy)."""

    def __init__(self, run: TrackedRun, where: str) -> None:
        self.run, self.where = run, where
        self.step_base, self.epoch_base = 0, 0.0

    def begin(self, step: int, epoch: float) -> None:
        """A fit begins with the framework's count at ``step`` and ``epoch``."""
        last = self.run.points[-1] if self.run.points else None
        self.step_base = last.step - step if last is not None and step < last.step else 0
        self.epoch_base = last.epoch - epoch if last is not None and epoch < last.epoch else 0.0
        leader = getattr(getattr(self.run, "ranks", None), "leader", True)
        if last is None and (step > 0 or epoch > 0) and leader and not self.run.skipped:
            log.warning(
                "powertrain: %s resumes at epoch %g (step %d), from a checkpoint: run %s counts "
                "the energy from here, the training before it is not in its energy (nor in its "
                "energy-to-target); track the whole training in one block to count it all",
                self.where,
                epoch,
                step,
                self.run.run_id,
            )

    def step(self, step: int | None) -> int | None:
        return None if step is None else self.step_base + step

    def epoch(self, epoch: float | None) -> float | None:
        return None if epoch is None else self.epoch_base + epoch
