"""The workers executor: N runs at once on one machine, each in a process of its own.

This process is the coordinator: the only one that writes the store (so SQLite stays safe). Each worker
opens its own ``RunEnv`` (device, meters, data) and runs one spec at a time with the one run body,
through a sink that sends every record here; the coordinator writes it through the study's sink.

The claim comes first: a worker's ``begin`` waits for the coordinator's answer (``store.begin_run``
there: the run id, or ``RunClaimed`` when another process holds the run), so no run is trained twice.

On a machine with GPUs each worker owns its GPUs (``CUDA_VISIBLE_DEVICES`` set by UUID before torch
starts), so its NVML energy is its own; on CPUs each worker gets its share of the threads. A device that
the workers share (a RAPL package, a GPU with ``share_gpus``) is split between them by CPU time and
labelled ``apportioned`` (``meters/apportion.py``).

A worker that dies (killed, out of memory) ends its run FAILED with the reason, and a new worker takes
its place; a worker whose coordinator dies exits, so nothing trains for nobody. A killed coordinator
leaves its begun runs unfinished: its claims die with it, and the next ``powertrain run`` runs them.

Stops decided here: a run handed out with a stop (``Job.stop``) asks the coordinator after each
evaluation point (the point has reached it first), and the coordinator answers with ``stop(point)``,
a reason or None, decided with everything it knows now (a live search's history, another run's new
best). A run without one never asks: the grid pays no round trip.

A run handed out to continue (``Job.resume_id``: a live search's paused run) is
claimed here already, in the record of its paused attempt: the worker goes on from the run's
checkpoint (by run key in the artifacts folder, which every worker on this machine sees) writing into
that record, without a claim of its own, so the record keeps one claim, this process's.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import FAILED, RunOutcome, Stage
from powertrain.study.executors.base import Ended, Job
from powertrain.study.executors.machine import MachineTotal, SweepMeter
from powertrain.study.executors.messages import (
    Answer,
    AskStop,
    Begun,
    Failed,
    Fatal,
    Finished,
    Idle,
    NoteLimit,
    PendingLimits,
    Point,
    Quit,
    Ready,
    Refused,
    Task,
    Timeline,
)
from powertrain.study.executors.slots import WorkerSlot, capped_workers, plan_slots
from powertrain.study.executors.worker_side import POLL_S, sigint_held, worker_main

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.execute import RunSink

log = logging.getLogger(__name__)
START_TIMEOUT_S = 300.0  # a worker that has not opened its environment by then is stuck


@dataclass
class Worker:
    slot: WorkerSlot
    process: Any
    conn: Any  # the coordinator's end of the worker's pipe
    ready: bool = False
    started_s: float = field(default_factory=time.monotonic)
    job: Job | None = None  # the run it was given and has not finished
    run_id: int | None = None  # that run's id in the study's sink, once claimed (or continued)
    outcome: RunOutcome | None = None  # that run's outcome, once finished


class WorkersExecutor:
    """Runs ``workers`` runs at a time, each worker a process of its own (see the module's
    docstring); ``session`` starts them."""

    def __init__(
        self,
        workers: int,
        *,
        artifacts_dir=None,
        gpu_uuids: list[str] | None = None,
        share_gpus: bool = False,
        cpu_count: int | None = None,
        machine_meters: dict | None = None,
        gpus_per_run: int | None = None,
        cpus_per_run: int | None = None,
    ) -> None:
        """``machine_meters``: this process's own meters (component -> Meter); those of the devices
        the workers share are read over the sweep, unsplit, as the machine's total.
        ``gpus_per_run``/``cpus_per_run``: what each worker owns (``slots.plan_slots``)."""
        cpus = cpu_count or os.cpu_count() or 1
        self._plan = lambda n: plan_slots(
            n, gpu_uuids or [], cpus, share_gpus, gpus_per_run, cpus_per_run
        )
        devices, what = (
            (len(gpu_uuids), "GPU(s)") if gpu_uuids and not share_gpus else (cpus, "CPU threads")
        )
        if gpus_per_run is not None and gpu_uuids:  # a run's GPUs are one device of the cap
            devices = len(gpu_uuids) // max(1, int(gpus_per_run))
        self.slots = self._cap(workers, None, devices, what)
        self.artifacts_dir = artifacts_dir
        self._mp = multiprocessing.get_context("spawn")  # no fork of a process that holds torch
        self.replaced = 0  # workers started again after one died
        self.machine_meters = machine_meters or {}
        self.machine_total: MachineTotal | None = None  # the shared devices' whole, after a session

    def _cap(self, asked: int, runs: int | None, devices: int, what: str) -> list[WorkerSlot]:
        if asked > devices and what == "GPU(s)":
            return self._plan(asked)  # refused there, with what to do instead
        count, note = capped_workers(asked, runs, devices, what)
        if note:
            log.info(note)
        return self._plan(count)

    def fit(self, runs: int) -> None:
        """A worker per run at most, for a session that will be given ``runs`` runs."""
        if runs < len(self.slots):
            self.slots = self._cap(len(self.slots), runs, len(self.slots), "workers")

    def prepare(self, study: StudyConfig, artifacts_dir: Path) -> None:
        """Model files and checkpoints go where the coordinator keeps them (unless given)."""
        self.artifacts_dir = self.artifacts_dir or artifacts_dir

    @contextlib.contextmanager
    def session(
        self, study: StudyConfig, sink: RunSink, runs: int | None = None
    ) -> Iterator[WorkerSession]:
        """The workers started for ``study`` (no more than ``runs``), writing through ``sink``;
        stopped on leaving."""
        if runs is not None:
            self.fit(runs)
        sweep = self._sweep_meter(study)
        workers = [self.start(slot, study) for slot in self.slots]
        try:
            yield WorkerSession(self, study, sink, workers)
        finally:
            self._stop(workers)
            if sweep is not None:
                self.machine_total = sweep.stop()

    def _sweep_meter(self, study) -> SweepMeter | None:
        """The shared devices' own counters, read over the sweep (None when nothing is shared)."""
        from powertrain.meters.apportion import shared_components

        shared = shared_components(self.machine_meters, study.share_gpus)
        if len(self.slots) < 2 or not shared:
            return None
        return SweepMeter({c: self.machine_meters[c] for c in shared}).start()

    def _stop(self, workers: list[Worker]) -> None:
        for w in workers:
            with contextlib.suppress(OSError):
                w.conn.send(Quit())
        for w in workers:
            w.process.join(timeout=10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            w.conn.close()

    def start(self, slot: WorkerSlot, study) -> Worker:
        """A worker process for ``slot``."""
        mine, theirs = self._mp.Pipe(duplex=True)
        options = {"artifacts_dir": self.artifacts_dir, "apportion": len(self.slots) > 1}
        process = self._mp.Process(
            target=worker_main,
            args=(slot, study, options, theirs, os.getpid()),
            name=f"powertrain-worker-{slot.index}",
            daemon=True,
        )
        with sigint_held():  # a Ctrl-C as it imports torch: it ends quietly (worker_side.py)
            process.start()
        theirs.close()  # the worker holds it now: its death is an end of file here
        return Worker(slot, process, mine)


class WorkerSession:
    """The started workers of one study: jobs are handed out as workers come free, and ``wait``
    returns the runs that ended. Each worker's records are written through the study's sink."""

    resumes = True  # every worker sees this machine's disk: a paused run's checkpoint

    def __init__(self, executor: WorkersExecutor, study, sink, workers: list[Worker]) -> None:
        self.executor, self.study, self.sink, self.workers = executor, study, sink, workers
        self.todo: list[Job] = []  # given, not yet handed to a worker

    def in_flight(self) -> int:
        """Runs given and not ended: waiting for a worker, or on one."""
        return len(self.todo) + sum(w.job is not None for w in self.workers)

    def capacity(self) -> int:
        return len(self.workers) - self.in_flight()

    def submit(self, job: Job) -> None:
        self.todo.append(job)
        self._dispatch()

    def wait(self) -> list[Ended]:
        while self.in_flight():
            if ended := self._poll():
                return ended
        return []

    def _dispatch(self) -> None:
        for w in self.workers:
            if w.ready and w.job is None and self.todo:
                w.job, w.outcome = self.todo.pop(0), None
                w.run_id = w.job.resume_id
                try:
                    w.conn.send(Task(w.job.spec, w.job.stop is not None, w.job.resume_id))
                except OSError:  # it died: given back, and _poll replaces the worker
                    self.todo.insert(0, w.job)
                    w.job = w.run_id = None

    def _poll(self) -> list[Ended]:
        """Hand out what waits to free workers; act on what they sent within ``POLL_S``."""
        self._dispatch()
        ended = []
        readable = wait([w.conn for w in self.workers], timeout=POLL_S)
        for i, w in enumerate(list(self.workers)):
            if w.conn not in readable:
                continue
            try:
                message = w.conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):  # it died (mid-message)
                ended += self._replace(i)
                continue
            if done := self._handle(message, w):
                ended.append(done)
        self._check_start()
        self._dispatch()
        return ended

    def _handle(self, message, w: Worker) -> Ended | None:
        """Act on one message of worker ``w``; the run's ``Ended`` once the worker is done with it
        (outcome None: another process held it)."""
        match message:
            case Begun():
                try:
                    w.run_id = message.write(self.sink, None)
                    w.conn.send(Answer(w.run_id))
                except (RunClaimed, ValueError) as exc:  # held elsewhere, or finished meanwhile
                    w.conn.send(Refused(str(exc)))
            case AskStop(point):  # decided here, with what is known now; the point came first
                stop = w.job.stop if w.job is not None else None
                w.conn.send(Answer(stop(point) if stop is not None else None))
            case PendingLimits():  # the study's sink is the journal (StoreSink: the store)
                w.conn.send(Answer(self.sink.pending_power_limits()))
            case NoteLimit(gpu_uuid, previous_w):
                w.conn.send(Answer(self.sink.note_power_limit(gpu_uuid, previous_w)))
            case Point() | Timeline():
                message.write(self.sink, w.run_id)
            case Finished(outcome):
                message.write(self.sink, w.run_id)
                w.outcome, w.run_id = outcome, None
            case Ready():
                w.ready = True
            case Idle():
                done = Ended(w.job.spec, w.outcome)
                w.job = w.run_id = w.outcome = None
                return done
            case Failed(error):
                error.raise_here("a worker failed outside a run")
            case Fatal(error):
                error.raise_here("a worker could not open its environment")
            case _:
                raise PowertrainError(f"unknown message from a worker: {message!r}")
        return None

    def _check_start(self) -> None:
        for i, w in enumerate(self.workers):
            if not w.ready and time.monotonic() - w.started_s > START_TIMEOUT_S:
                raise PowertrainError(f"worker {i} did not start in {START_TIMEOUT_S:g} s")

    def _replace(self, i: int) -> list[Ended]:
        """Worker ``i`` died: a run it had claimed ends FAILED with the reason, one given but not
        claimed is handed out again, and a new worker takes its place."""
        w = self.workers[i]
        w.process.join(timeout=10)
        if w.process.is_alive():  # its pipe broke but it lives on: it cannot be trusted
            w.process.kill()
            w.process.join(timeout=5)
        w.conn.close()
        if not w.ready:
            raise PowertrainError(
                f"worker {i} could not start (exit code {w.process.exitcode}); run with"
                " --workers 1 to see why"
            )
        ended = []
        if w.job is not None and w.run_id is not None:  # claimed: record why it ended
            w.outcome = _died(w.process.exitcode)
            self.sink.finish(w.run_id, w.outcome)
            if w.job.spec.stage is Stage.PRETRAIN:  # no fine-tuned run can start, as locally
                from powertrain.study.execute import PretrainingFailed

                raise PretrainingFailed(w.outcome.stop_reason)
            ended.append(Ended(w.job.spec, w.outcome))
        elif w.job is not None and w.outcome is None:  # died before its claim: hand it out again
            self.todo.insert(0, Job(w.job.spec, w.job.stop))
        elif w.job is not None:  # died after its run finished, before it said so
            ended.append(Ended(w.job.spec, w.outcome))
        self.workers[i] = self.executor.start(w.slot, self.study)
        self.executor.replaced += 1
        return ended


def _died(exitcode: int | None) -> RunOutcome:
    how = (
        f"killed by signal {-exitcode}"
        if exitcode is not None and exitcode < 0
        else f"exit code {exitcode}"
    )
    reason = f"the worker process running it died ({how}); run it again with --retry-failed"
    return RunOutcome(FAILED, reason, 0.0, {}, 0.0, 0, error=reason)
