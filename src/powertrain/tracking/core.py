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

import contextlib
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from powertrain.errors import PowertrainError
from powertrain.records import (
    CENSORED,
    DIVERGED,
    FAILED,
    REACHED,
    EvalPoint,
    RunOutcome,
    outcome_of,
)
from powertrain.store import kept as kept_
from powertrain.tracking import attempts, checks, links, metering
from powertrain.tracking import job as job_
from powertrain.tracking import ranks as ranks_
from powertrain.tracking import store as db_
from powertrain.tracking.hooks import RunHooks
from powertrain.tracking.ranked import RankedRun
from powertrain.train.stopping import Diverged, TargetReached, first_stop, status_of

Handler = Callable[[EvalPoint], "str | None"]


class Tracker:
    """One (study, setup, seed) of your own training, checked when made and run as a context manager
    (or by ``start()`` and ``TrackedRun.close()``).

    ``if_finished``: what to do when this (study, setup, seed, target) already finished in the store:
    ``"refuse"`` (a PowertrainError, the default) or ``"skip"`` (the run records nothing, ``skipped``
    is True and ``evaluate`` returns True at once). A failed run is run again with ``retry_failed``;
    a run that was interrupted (never finished) is always begun afresh.

    In a distributed job (torchrun, SLURM, Lightning's DDP: ``tracking/ranks.py``) every rank enters
    the same block: rank 0 writes the one run, the others only measure their share and receive rank
    0's stop decision at each ``evaluate`` (``tracking/job.py``); ``rank_timeout_s`` bounds how long a
    rank waits for the others there."""

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
        rank_timeout_s: float = job_.DEFAULT_TIMEOUT_S,
    ) -> None:
        self.study = checks.study(study)
        self.setup = checks.setup(setup)
        self.train = {**self.setup, **checks.setup(train, "train")}  # every hyperparameter
        self.seed = checks.integer(seed, "seed")
        self.targets = checks.targets(target)
        if if_finished not in ("refuse", "skip"):
            raise PowertrainError(f"if_finished must be 'refuse' or 'skip', got {if_finished!r}")
        self.db, self.model, self.data = checks.db(db), str(model), str(data)
        self.device = metering.checked_device(device)  # one torch device, before anything runs
        self.detection, self.if_finished, self.retry_failed = detection, if_finished, retry_failed
        self.hooks = RunHooks.make(log_to, trial, self.targets)  # loggers, a sweep's trial
        self.user_handlers = checks.handlers(handlers)
        self.handlers = [Diverged(), TargetReached(self.targets), *self.user_handlers]
        self.handlers += self.hooks.handlers
        self.run_key = db_.run_key(self.setup, self.train, self.seed, self.targets)
        self.rank_timeout_s = checks.wait_s(rank_timeout_s, "rank_timeout_s", job_.MOST_TIMEOUT_S)
        self.run: TrackedRun | None = None
        self.earlier = None  # the failed attempt a restart or requeue replaces (attempts.py)

    def start(self) -> TrackedRun:
        with links.refusal_told(self):  # a job's other ranks stop with rank 0, not later
            run = self._start()
        return run.agreed()  # in a job, every rank knows whether rank 0 skipped it

    def _start(self) -> TrackedRun:
        if not ranks_.current().leader:  # another rank of the job: rank 0 writes the run
            return TrackedRun(self, None, False)
        store, owned = db_.open_db(self.db)
        store = self.hooks.observe(store)
        try:
            db_.save_study(store, db_.study_config(self.study, self.targets, self.model, self.data))
            kept_.take_back(store, self.study, self.run_key)  # points a killed attempt kept beside
            self.earlier = attempts.earlier_attempt(store, self.study, self.run_key)
            if self.earlier is None and (
                self.retry_failed or self.hooks.retries_failed(store, self.study, self.run_key)
            ):
                self.earlier = attempts.retried_by_tool(store, self.study, self.run_key)
            retry = self.retry_failed or self.earlier is not None
            while True:  # once more where another process finished the run since it looked
                done = db_.finished_run(store, self.study, self.run_key, retry)
                if done is not None:
                    return self._finished_already(store, owned, done)
                with contextlib.suppress(db_.FinishedMeanwhile):
                    return TrackedRun(self, store, owned, replace_failed=retry)
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
            self.run.close_under(exc)
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
    tools that get a copy of the run, ``trial``: an Optuna trial or ``"ray"``; ``tracking.hooks``;
    ``rank_timeout_s``: a distributed job's wait for its ranks)."""
    return Tracker(study, setup, seed, target, **options)


class TrackedRun(RankedRun):
    """A run in progress: ``evaluate`` at every validation, ``diverged`` when you see it diverge,
    ``test`` for a test accuracy; the outcome is written when it closes."""

    def __init__(
        self, tracker: Tracker, store, owned_store: bool, ticket=None, replace_failed=False
    ) -> None:
        self.tracker, self.store, self._owned_store = tracker, store, owned_store
        self._ticket, self.spawned = ticket, ticket is not None  # a rank its parent spawned
        self.points: list[EvalPoint] = [] if ticket is None else list(ticket.points)
        self.skipped = False
        self.outcome: RunOutcome | None = None
        self.status, self.stop_reason = None, None  # set when a handler or diverged() stops it
        self._reached: EvalPoint | None = None
        self._verdict, self._end_reason = None, None  # a stopping handler's; set_end_reason's
        self._test: float | None = None
        self._test_tasks: dict[str, float] = {}
        self._lock = threading.Lock()  # evaluate() from several threads: one point at a time
        self._counted: set[str] = set()  # step, epoch: left out at the last evaluation (counted)
        self.ranks = ranks_.current()
        self._job: job_.Job | None = None
        self._linked = False  # whether the job (if any) was looked for: at the first evaluate
        leads = self.ranks.leader and not self.spawned  # begins and writes the run
        self._sigterm = job_.stop_on_sigterm() if self.ranks.distributed and leads else None
        self.device, self.detection, self._owned_detection, self.monitor = metering.open_meters(
            tracker.device, tracker.detection
        )
        self.run_id = None if ticket is None else ticket.run_id
        try:
            hardware, provenance = metering.describe(self.detection, self.device, self.ranks)
            if not self.spawned:  # every rank refuses a track() of this run in its own block
                self._held = db_.hold(store, tracker.study, tracker.run_key)
            if leads:  # the other ranks of a job do not write the run
                self.run_id = self._begin(store, hardware, provenance, replace_failed)
            self.monitor.begin("run")
            self._gpu_start_j = job_.gpu_baseline(self.detection.meters)
        except BaseException:
            self._release(store=False)  # the Tracker closes the store it opened
            raise

    def _begin(self, store, hardware: dict, provenance: dict, replace_failed: bool) -> int:
        tracker = self.tracker
        run_id = db_.begin_run(
            store,
            tracker.study,
            tracker.run_key,
            tracker.setup,
            tracker.train,
            tracker.seed,
            hardware,
            attempts.earlier_provenance(provenance, tracker.earlier),  # its joules are added
            replace_failed,
        )
        attempts.note_begun(tracker.study, tracker.run_key, run_id)  # for a restart of the launch
        self._waiting.begun = db_.begun(store, run_id)  # kept whole should its end not land
        return run_id

    @classmethod
    def skipped_run(cls, tracker: Tracker, record) -> TrackedRun:
        run = cls.__new__(cls)
        run.tracker, run.points, run.skipped = tracker, [], True
        run._lock = threading.Lock()
        run.outcome, run.run_id = record.outcome, record.id
        run.status, run.stop_reason = record.status, "finished before; skipped"
        run._told = False  # the job's other ranks, if any, are told at the first evaluate
        return run

    @property
    def estimated(self) -> bool:
        """Whether any of this process's figures is an estimate (its meters' provenance)."""
        return any(m.provenance.estimated for m in self.detection.meters.values())

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
        ``epoch`` to the same (one evaluation per epoch); steps and epochs may not go back. Safe to call
        from several threads."""
        if self.skipped:
            self._tell_skipped()
            return True
        self._check_open()
        accuracies = checks.accuracies(val_accuracy, self.tracker.targets)
        n, counted = len(self.points) + 1, self._counted  # what the last evaluation left out
        fields = {
            "index": n - 1,
            "step": checks.not_backwards(step, self.points, "step" in counted),
            "epoch": checks.epoch(epoch, self.points, "epoch" in counted),
            "samples_seen": checks.count(samples_seen, "samples_seen", 0),
            "train_loss": None if train_loss is None else checks.number(train_loss, "train_loss"),
            "accuracies": accuracies,
        }
        self._counted = {
            name for name, given in (("step", step), ("epoch", epoch)) if given is None
        }
        so_far = self.monitor.read("run")  # after the user's evaluation: its cost counts
        job = self._linked_job()
        if job is None:
            self._record(self._point(fields, so_far.duration_s, so_far.energy_j))
        elif self.ranks.leader:
            self._lead(job, job_.POINT, so_far, fields)
        else:
            self._follow(job, job_.POINT, so_far)
        self.tracker.hooks.raise_pruned()  # a sweep's pruner stopped it: its exception
        return self.should_stop

    def _record(self, point: EvalPoint) -> None:
        self.points.append(point)
        self._add_point(point)
        self._apply_handlers(point)

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
        self._test_tasks = checks.accuracies(accuracy, self.tracker.targets, "test()'s accuracy")
        self._test = sum(self._test_tasks.values()) / len(self._test_tasks)

    def set_end_reason(self, reason: str) -> None:
        """Why training ended, kept as the stop reason if the run ends without reaching the target
        (a framework callback says "fit ended after max_epochs", say)."""
        self._end_reason = str(reason)

    def _check_open(self) -> None:
        if self._refused is not None:
            raise self._refused
        if self.outcome is not None:
            raise PowertrainError(f"run {self.run_id} has already ended ({self.outcome.status})")

    # -- the end ---------------------------------------------------------------------------------
    def close(self, exc: BaseException | None = None) -> RunOutcome | None:
        """End the run: FAILED on an Exception (energy kept), else as the handlers decided, or
        CENSORED. A KeyboardInterrupt (any BaseException) leaves it unfinished: begun afresh next
        time. Idempotent; returns the outcome (None when left unfinished)."""
        if self.skipped or self.outcome is not None:
            return self.outcome
        if self._refused is not None:  # a spawned rank's ended hand-over: let go already
            raise self._refused
        try:
            total = self.monitor.end("run")
            exc = job_.stopped(None if self.tracker.hooks.pruned_by(exc) else exc, self._sigterm)
            if self.spawned and not self._linked:  # a spawned rank that never evaluated
                self.ranks = ranks_.current()
            if not self.ranks.leader:
                return self._close_following(total, exc)
            self._tell_left(exc)  # leaving on an exception: the others stop waiting for rank 0
            if exc is not None and not isinstance(exc, Exception):
                if "_waiting" in vars(self):  # points that waited for a lock: where they are
                    self._waiting.left_unfinished(self.store, self.run_id)
                return None
            job = self._job if exc is None and self._exchanging() else None
            with job_.sigterm_deferred(self._sigterm is not None):
                outcome = self._finish(job, total, exc)
            if self.spawned and "_waiting" in vars(self):  # handed back: the parent has them
                self._waiting.drop_side()
            return outcome
        finally:
            self._release()
            job_.end_if_stopped(self._sigterm)  # recorded: ends as SIGTERM would end it

    def _outcome(self, total, exc, energy_j: dict, nodes: list, notes: list[str]) -> RunOutcome:
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
        tested = self._test is not None and status in (REACHED, CENSORED)
        return outcome_of(
            status,
            reason,
            energy_j,
            total.duration_s,
            self.points,
            reached=self._reached,
            test=self._test_tasks if tested else None,
            error=error,
            faults=[*total.faults, *notes],  # a counter reset travels with the figure
            verdict=self._verdict if exc is None and status == self.status else None,
            nodes=nodes,
        )

    def _release(self, store: bool = True) -> None:
        job_.restore_sigterm(self._sigterm)
        if self._job is not None:
            self._job.end()
        db_.release(getattr(self, "_held", None))
        self.monitor.stop()
        self.tracker.hooks.close()
        if self._owned_detection:
            self.detection.close()
        if store and self._owned_store:
            self.store.close()
