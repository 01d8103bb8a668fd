"""Energy-to-target for a training loop powertrain did not write.

    with powertrain.track(study="mine", setup={"lr": lr}, seed=0, target=0.9) as run:
        for epoch in range(epochs):
            train_one_epoch()
            if run.evaluate(val_accuracy=evaluate(), step=epoch):   # True once the loop should stop
                break

``Tracker`` holds the checked settings and opens a ``TrackedRun``: a monitor window from the start of
the block, an evaluation point (cumulative energy per component) at every ``evaluate``, and the run's
outcome in the store at the end, as ``powertrain run`` records its runs. Stopping handlers decide when
to stop (``train/stopping.py``, the built-in loop's); the framework callbacks in ``powertrain.integrations`` drive the same
``TrackedRun``. Nothing here imports a training framework.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from powertrain.errors import PowertrainError
from powertrain.records import CENSORED, DIVERGED, FAILED, REACHED, EvalPoint, RunOutcome
from powertrain.tracking import checks
from powertrain.tracking import store as db_
from powertrain.tracking.hooks import RunHooks
from powertrain.train.stopping import Diverged, TargetReached, first_stop, status_of

Handler = Callable[[EvalPoint], "str | None"]


class Tracker:
    """One (study, setup, seed) of your own training, checked when made and run as a context manager
    (or by ``start()`` and ``TrackedRun.close()``).

    ``if_finished``: what to do when this (study, setup, seed, target) already finished in the store:
    ``"refuse"`` (a PowertrainError, the default) or ``"skip"`` (the run records nothing, ``skipped``
    is True and ``evaluate`` returns True at once). A failed run is run again with ``retry_failed``;
    a run that was interrupted (never finished) is always begun afresh."""

    def __init__(
        self,
        study: str,
        setup: Mapping[str, Any] | None = None,
        seed: int = 0,
        target: float | Mapping[str, float] = 0.9,
        *,
        db: str | Path | Any = None,
        train: Mapping[str, Any] | None = None,
        model: str = "your model",
        data: str = "your data",
        device: Any = None,
        detection: Any = None,
        handlers: Iterable[Handler] = (),
        if_finished: Literal["refuse", "skip"] = "refuse",
        retry_failed: bool = False,
        log_to: str | Iterable[str] | None = None,
        trial: Any = None,
    ) -> None:
        self.study = checks.study(study)
        self.setup = checks.setup(setup)
        self.train = {**self.setup, **checks.setup(train)}  # every hyperparameter
        self.seed = checks.integer(seed, "seed")
        self.targets = checks.targets(target)
        if if_finished not in ("refuse", "skip"):
            raise PowertrainError(f"if_finished must be 'refuse' or 'skip', got {if_finished!r}")
        self.db, self.model, self.data, self.device = db, str(model), str(data), device
        self.detection, self.if_finished, self.retry_failed = detection, if_finished, retry_failed
        self.hooks = RunHooks.make(log_to, trial, self.targets)  # loggers, a sweep's trial
        self.handlers = [Diverged(), TargetReached(self.targets), *handlers, *self.hooks.handlers]
        self.run_key = db_.run_key(self.setup, self.train, self.seed, self.targets)
        self.run: TrackedRun | None = None

    def start(self) -> TrackedRun:
        store, owned = db_.open_db(self.db)
        store = self.hooks.observe(store)
        try:
            db_.save_study(store, db_.study_config(self.study, self.targets, self.model, self.data))
            done = db_.finished_run(store, self.study, self.run_key, self.retry_failed)
            if done is not None:
                return self._finished_already(store, owned, done)
            return TrackedRun(self, store, owned)
        except BaseException:
            if owned:
                store.close()
            raise

    def _finished_already(self, store, owned: bool, done) -> TrackedRun:
        what = (
            f"run {done.id} of study {self.study!r} (setup {self.setup}, seed {self.seed}) "
            f"already finished: {done.status}"
        )
        if self.if_finished == "refuse":
            raise PowertrainError(
                f"{what}. Use another seed or study name, pass if_finished='skip' to skip it"
                + (", or retry_failed=True to run it again" if done.status == FAILED else "")
            )
        if owned:
            store.close()
        return TrackedRun.skipped_run(self, done)

    def __enter__(self) -> TrackedRun:
        self.run = self.start()
        return self.run

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        if self.run is not None:
            self.run.close(exc)
        return False  # an exception is recorded, then goes on up


def track(
    study: str,
    setup: Mapping[str, Any] | None = None,
    seed: int = 0,
    target: float | Mapping[str, float] = 0.9,
    **options: Any,
) -> Tracker:
    """Track one run of your own loop; see ``Tracker`` for the options (``db``, ``train``, ``model``,
    ``data``, ``device``, ``detection``, ``handlers``, ``if_finished``, ``retry_failed``, ``log_to``:
    tools that get a copy of the run, ``trial``: an Optuna trial or ``"ray"``; ``tracking.hooks``)."""
    return Tracker(study, setup, seed, target, **options)


class TrackedRun:
    """A run in progress: ``evaluate`` at every validation, ``diverged`` when you see it diverge,
    ``test`` for a test accuracy; the outcome is written when it closes."""

    def __init__(self, tracker: Tracker, store, owned_store: bool) -> None:
        self.tracker, self.store, self._owned_store = tracker, store, owned_store
        self.points: list[EvalPoint] = []
        self.skipped = False
        self.outcome: RunOutcome | None = None
        self.status, self.stop_reason = None, None  # set when a handler or diverged() stops it
        self._reached: EvalPoint | None = None
        self._verdict = None  # the stopping handler's, when one stopped the run
        self._end_reason: str | None = None
        self._test: float | None = None
        self._lock = threading.Lock()  # evaluate() from several threads: one point at a time
        self._open_meters(tracker)
        try:
            self._held = db_.hold(store, tracker.study, tracker.run_key)
            hardware, provenance = self._describe()
            self.run_id = db_.begin_run(
                store,
                tracker.study,
                tracker.run_key,
                tracker.setup,
                tracker.train,
                tracker.seed,
                hardware,
                provenance,
                tracker.retry_failed,
            )
            self.monitor.begin("run")
        except BaseException:
            self._release(store=False)  # the Tracker closes the store it opened
            raise

    @classmethod
    def skipped_run(cls, tracker: Tracker, record) -> TrackedRun:
        run = cls.__new__(cls)
        run.tracker, run.points, run.skipped = tracker, [], True
        run._lock = threading.Lock()
        run.outcome, run.run_id = record.outcome, record.id
        run.status, run.stop_reason = record.status, "finished before; skipped"
        return run

    def _open_meters(self, tracker: Tracker) -> None:
        import torch

        from powertrain.meters.detect import detect_meters
        from powertrain.monitor import Monitor

        device = tracker.device
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self._owned_detection = tracker.detection is None
        self.detection = tracker.detection or detect_meters().require()
        sync = torch.cuda.synchronize if self.device.type == "cuda" else None
        self.monitor = Monitor(self.detection.meters, sample=True, synchronize=sync)

    def _describe(self) -> tuple[dict, dict]:
        from powertrain.hardware import describe_hardware

        meters = self.detection.meters
        provenance = {c.value: m.provenance.to_dict() for c, m in meters.items()}
        return describe_hardware(self.device, meters), provenance

    # -- what the loop calls ---------------------------------------------------------------------
    @property
    def should_stop(self) -> bool:
        """True once the target is reached, the run diverged, or it was skipped."""
        return self.skipped or self.status is not None

    @checks.one_at_a_time
    def evaluate(
        self,
        val_accuracy: float | Mapping[str, float],
        step: int | None = None,
        *,
        train_loss: float | None = None,
        epoch: float | None = None,
        samples_seen: int | None = None,
    ) -> bool:
        """Record an evaluation, with the energy used so far; True once the loop should stop (every
        target reached, or a NaN/inf ``train_loss``). ``step`` defaults to the number of evaluations,
        ``epoch`` to the same (one evaluation per epoch); steps may not go backwards. Safe to call
        from several threads."""
        if self.skipped:
            return True
        self._check_open()
        accuracies = checks.accuracies(val_accuracy, self.tracker.targets)
        n = len(self.points) + 1
        so_far = self.monitor.read("run")  # after the user's evaluation: its cost counts
        point = EvalPoint(
            index=n - 1,
            step=checks.not_backwards(checks.count(step, "step", n), self.points),
            epoch=float(n if epoch is None else checks.number(epoch, "epoch")),
            samples_seen=checks.count(samples_seen, "samples_seen", 0),
            train_loss=None if train_loss is None else checks.number(train_loss, "train_loss"),
            val_accuracy=sum(accuracies.values()) / len(accuracies),
            elapsed_s=so_far.duration_s,
            energy_j=dict(so_far.energy_j),
            task_accuracies=accuracies,
        )
        self.points.append(point)
        self.store.add_eval_point(self.run_id, point)
        self._apply_handlers(point)
        self.tracker.hooks.raise_pruned()  # a sweep's pruner stopped it: its exception
        return self.should_stop

    def _apply_handlers(self, point: EvalPoint) -> None:
        if self.status is not None:  # already stopped: later points are kept, the verdict is not
            return
        reason = first_stop(self.tracker.handlers, point)  # the built-in loop's handlers and rule
        if reason is not None:
            self.status, self.stop_reason = status_of(reason), str(reason)
            self._verdict = reason.verdict  # why, typed (the store keeps it in its own column)
            if self.status == REACHED:
                self._reached = point

    def diverged(self, reason: str = "the training diverged") -> None:
        """Mark the run diverged (it ends so when the block ends); evaluate returns True from now."""
        self._check_open()
        if self.status is None:
            self.status, self.stop_reason = DIVERGED, str(reason)

    def test(self, accuracy: float | Mapping[str, float]) -> None:
        """The test accuracy at the stopping point (per task with several targets)."""
        self._check_open()
        self._test_tasks = checks.accuracies(accuracy, self.tracker.targets)
        self._test = sum(self._test_tasks.values()) / len(self._test_tasks)

    def set_end_reason(self, reason: str) -> None:
        """Why training ended, kept as the stop reason if the run ends without reaching the target
        (a framework callback says "fit ended after max_epochs", say)."""
        self._end_reason = str(reason)

    def _check_open(self) -> None:
        if self.outcome is not None:
            raise PowertrainError(f"run {self.run_id} has already ended ({self.outcome.status})")

    # -- the end ---------------------------------------------------------------------------------
    def close(self, exc: BaseException | None = None) -> RunOutcome | None:
        """End the run: FAILED on an Exception (energy kept), else as the handlers decided, or
        CENSORED. A KeyboardInterrupt (any BaseException) leaves it unfinished: begun afresh next
        time. Idempotent; returns the outcome (None when left unfinished)."""
        if self.skipped or self.outcome is not None:
            return self.outcome
        try:
            total = self.monitor.end("run")
            exc = None if self.tracker.hooks.pruned_by(exc) else exc
            if exc is not None and not isinstance(exc, Exception):
                return None
            self.outcome = self._outcome(total, exc)
            self._save_timeline()
            self.store.finish_run(self.run_id, self.outcome)
            return self.outcome
        finally:
            self._release()

    def _outcome(self, total, exc: BaseException | None) -> RunOutcome:
        error = None
        if exc is not None:
            status, reason = FAILED, "an exception ended the run"
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        elif self.status is not None:
            status, reason = self.status, self.stop_reason
        else:
            status = CENSORED
            reason = self._end_reason or (
                f"the tracked block ended without reaching the target "
                f"({len(self.points)} evaluations)"
            )
        reached, last = self._reached, (self.points[-1] if self.points else None)
        return RunOutcome(
            status=status,
            stop_reason=reason,
            verdict=self._verdict if exc is None and status == self.status else None,
            total_energy_j=total.total_energy_j,
            energy_j=dict(total.energy_j),
            duration_s=total.duration_s,
            steps=last.step if last else 0,
            final_val_accuracy=last.val_accuracy if last else None,
            test_accuracy=self._test if status in (REACHED, CENSORED) else None,
            energy_to_target_j=reached.total_energy_j if reached and status == REACHED else None,
            time_to_target_s=reached.elapsed_s if reached and status == REACHED else None,
            steps_to_target=reached.step if reached and status == REACHED else None,
            error=error,
            task_test_accuracies=getattr(self, "_test_tasks", {}) if self._test is not None else {},
            faults=list(total.faults),  # a counter reset travels with the figure
        )

    def _save_timeline(self) -> None:
        trace = self.monitor.trace()
        self.store.save_timeline(
            self.run_id, {"header": trace.header, "t_s": trace.t_s, "energy_j": trace.energy_j}
        )

    def _release(self, store: bool = True) -> None:
        db_.release(getattr(self, "_held", None))
        self.monitor.stop()
        self.tracker.hooks.close()
        if self._owned_detection:
            self.detection.close()
        if store and self._owned_store:
            self.store.close()
