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

Stops decided here: a run handed out with a stop (``WorkerSession.submit(spec, stop)``, or the
executor's ``stop_handlers``) asks the coordinator after each evaluation point (the point has reached
it first), and the coordinator answers with ``stop(point)``, a reason or None, decided with everything
it knows now (a live search's history, another run's new best). A run without one never asks: the
grid pays no round trip.

A run handed out to continue (``submit(spec, stop, resume_id)``: a live search's paused run) is
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import FAILED, RunOutcome, Stage
from powertrain.study.executors.machine import MachineTotal, SweepMeter
from powertrain.study.executors.slots import WorkerSlot, capped_workers, plan_slots, shares_gpus
from powertrain.study.executors.worker_side import POLL_S, worker_main

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.execute import RunSink
    from powertrain.study.plan import RunSpec
    from powertrain.train.stopping import Handler

__all__ = [
    "POLL_S",
    "WorkerSession",
    "WorkerSlot",
    "WorkersExecutor",
    "plan_slots",
    "shares_gpus",
]

log = logging.getLogger(__name__)
START_TIMEOUT_S = 300.0  # a worker that has not opened its environment by then is stuck


@dataclass
class _Worker:
    slot: WorkerSlot
    process: Any
    conn: Any  # the coordinator's end of the worker's pipe
    ready: bool = False
    started_s: float = field(default_factory=time.monotonic)
    spec: RunSpec | None = None  # the run it was given and has not finished
    run_id: int | None = None  # that run's id in the study's sink, once claimed (or continued)
    stop: Handler | None = None  # the coordinator's stop for that run (None: it never asks)
    outcome: RunOutcome | None = None  # that run's outcome, once finished


class WorkersExecutor:
    """Runs specs ``workers`` at a time, each in a process of its own. The pretraining stage runs
    first, alone; every grid run after it. ``session()`` hands out runs one at a time instead (a
    live search, which decides each run from the ones before it)."""

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
        self.machine_total: MachineTotal | None = None  # the shared devices' whole, after run()
        # Stopping handlers for a run of run(), decided here (a predicted stop); none by default.
        self.stop_handlers: Callable[[RunSpec], Sequence[Handler]] = lambda spec: ()

    def _cap(self, asked: int, runs: int | None, devices: int, what: str) -> list[WorkerSlot]:
        if asked > devices and what == "GPU(s)":
            return self._plan(asked)  # refused there, with what to do instead
        count, note = capped_workers(asked, runs, devices, what)
        if note:
            log.info(note)
        return self._plan(count)

    def run(self, study: StudyConfig, specs: list[RunSpec], sink: RunSink, reporter=None):
        if not specs:
            return {}
        if len(specs) < len(self.slots):  # a worker per run at most
            self.slots = self._cap(len(self.slots), len(specs), len(self.slots), "workers")
        with self.session(study, sink) as session:
            session.drive([s for s in specs if s.stage is Stage.PRETRAIN])
            session.drive([s for s in specs if s.stage is not Stage.PRETRAIN])
            return dict(session.outcomes)

    @contextlib.contextmanager
    def session(self, study: StudyConfig, sink: RunSink) -> Iterator[WorkerSession]:
        """The workers started for ``study``, writing through ``sink``; stopped on leaving."""
        if self.artifacts_dir is None:  # model files go where the store keeps them
            self.artifacts_dir = sink.artifacts_dir
        sweep = self._sweep_meter(study)
        workers = [self._start(slot, study) for slot in self.slots]
        try:
            yield WorkerSession(self, study, sink, workers)
        finally:
            self._stop(workers)
            if sweep is not None:
                self.machine_total = sweep.stop()

    def stop_for(self, spec: RunSpec) -> Handler | None:
        """The coordinator's stop for a run of ``run()`` (None when no handler asks)."""
        from powertrain.train.stopping import first_stop

        handlers = list(self.stop_handlers(spec))
        return (lambda point: first_stop(handlers, point)) if handlers else None

    def _sweep_meter(self, study) -> SweepMeter | None:
        """The shared devices' own counters, read over the sweep (None when nothing is shared)."""
        from powertrain.meters.apportion import shared_components

        shared = shared_components(self.machine_meters, study.share_gpus)
        if len(self.slots) < 2 or not shared:
            return None
        return SweepMeter({c: self.machine_meters[c] for c in shared}).start()

    def _stop(self, workers: list[_Worker]) -> None:
        for w in workers:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in workers:
            w.process.join(timeout=10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            w.conn.close()

    def _start(self, slot: WorkerSlot, study) -> _Worker:
        mine, theirs = self._mp.Pipe(duplex=True)
        options = {"artifacts_dir": self.artifacts_dir, "apportion": len(self.slots) > 1}
        process = self._mp.Process(
            target=worker_main,
            args=(slot, study, options, theirs, os.getpid()),
            name=f"powertrain-worker-{slot.index}",
            daemon=True,
        )
        process.start()
        theirs.close()  # the worker holds it now: its death is an end of file here
        return _Worker(slot, process, mine)

    def _handle(self, message, w: _Worker, sink, outcomes):
        """Act on one message of worker ``w``. Returns ``(spec, outcome)`` once the worker is done
        with its run (outcome None: another process held it), else None."""
        kind, payload = message
        if kind == "begin":
            try:
                w.run_id = sink.begin(*payload)
                w.conn.send(("ok", w.run_id))
            except (RunClaimed, ValueError) as exc:  # held elsewhere, or finished meanwhile
                w.conn.send(("claimed", str(exc)))
        elif kind == "stop":  # decided here, with what is known now; the point came just before
            w.conn.send(("ok", w.stop(payload) if w.stop is not None else None))
        elif kind == "pending_limits":  # the study's sink is the journal (StoreSink: the store)
            w.conn.send(("ok", sink.pending_power_limits()))
        elif kind == "note_limit":
            w.conn.send(("ok", sink.note_power_limit(*payload)))
        elif kind == "point":
            sink.eval_point(*payload)
        elif kind == "timeline":
            sink.timeline(*payload)
        elif kind == "finish":
            sink.finish(*payload)
            outcomes[w.spec.run_key] = w.outcome = payload[1]
            w.run_id = None
        elif kind == "ready":
            w.ready = True
        elif kind == "idle":
            ended = (w.spec, w.outcome)
            w.spec = w.run_id = w.stop = w.outcome = None
            return ended
        else:
            _raise_from_worker(kind, payload)
        return None

    def _check_start(self, workers: list[_Worker]) -> None:
        for i, w in enumerate(workers):
            if not w.ready and time.monotonic() - w.started_s > START_TIMEOUT_S:
                raise PowertrainError(f"worker {i} did not start in {START_TIMEOUT_S:g} s")

    def _replace(self, i: int, workers: list[_Worker], sink, study, outcomes) -> list:
        """Worker ``i`` died: a run it had claimed ends FAILED with the reason, and a new worker takes
        its place. Returns the spec it had been given but not claimed, to hand out again."""
        w = workers[i]
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
        again = []
        if w.spec is not None and w.run_id is not None:  # claimed: record why it ended
            outcome = _died(w.process.exitcode)
            sink.finish(w.run_id, outcome)
            outcomes[w.spec.run_key] = w.outcome = outcome
            if w.spec.stage is Stage.PRETRAIN:  # no fine-tuned run can start, as locally
                _raise_from_worker("error", ("PretrainingFailed", outcome.stop_reason))
        elif w.spec is not None and w.outcome is None:  # died before its claim: hand it out again
            again.append(w.spec)
        workers[i] = self._start(w.slot, study)
        self.replaced += 1
        return again


class WorkerSession:
    """The started workers of one study: runs are handed out as workers come free (``submit``), and
    ``wait`` returns those that ended. Each worker's messages are written through the study's sink."""

    def __init__(self, executor: WorkersExecutor, study, sink, workers: list[_Worker]) -> None:
        self.executor, self.study, self.sink, self.workers = executor, study, sink, workers
        # Given, not yet handed to a worker: the spec, its stop, the record it continues (or None).
        self.todo: list[tuple[RunSpec, Handler | None, int | None]] = []
        self.outcomes: dict[str, RunOutcome] = {}
        self.resumes = True  # every worker sees this machine's disk: a paused run's checkpoint

    def in_flight(self) -> int:
        """Runs given and not ended: waiting for a worker, or on one."""
        return len(self.todo) + sum(w.spec is not None for w in self.workers)

    def capacity(self) -> int:
        """How many more runs would be under way at once now."""
        return len(self.workers) - self.in_flight()

    def submit(
        self, spec: RunSpec, stop: Handler | None = None, resume_id: int | None = None
    ) -> None:
        """Hand ``spec`` to the next free worker; ``stop(point)``, called here after each of its
        evaluation points, may end it (None: the run never asks). ``resume_id``: the record of its
        paused attempt, which this process has claimed and the worker continues from the run's
        checkpoint (no claim of its own; a new record only if the checkpoint has gone)."""
        self.todo.append((spec, stop, resume_id))
        self._dispatch()

    def drive(self, specs: list[RunSpec]) -> dict[str, RunOutcome]:
        """Run every spec (with the executor's ``stop_for`` each), until every one has ended."""
        self.todo += [(spec, self.executor.stop_for(spec), None) for spec in specs]
        while self.in_flight():
            self.poll()
        return self.outcomes

    def wait(self) -> list[tuple[RunSpec, RunOutcome | None]]:
        """Until some run ends (none when nothing is in flight): ``(spec, outcome)`` of each that
        did; outcome None when another process held the run."""
        while self.in_flight():
            if ended := self.poll():
                return ended
        return []

    def _dispatch(self) -> None:
        for w in self.workers:
            if w.ready and w.spec is None and self.todo:
                (w.spec, w.stop, w.run_id), w.outcome = self.todo.pop(0), None
                try:
                    w.conn.send((w.spec, w.stop is not None, w.run_id))
                except OSError:  # it died: given back, and poll replaces the worker
                    self.todo.insert(0, (w.spec, w.stop, w.run_id))
                    w.spec = w.stop = w.run_id = None

    def poll(self) -> list[tuple[RunSpec, RunOutcome | None]]:
        """Hand out what waits to free workers; act on what they sent within ``POLL_S``."""
        self._dispatch()
        workers, executor, ended = self.workers, self.executor, []
        readable = wait([w.conn for w in workers], timeout=POLL_S)
        for i, w in enumerate(list(workers)):
            if w.conn not in readable:
                continue
            try:
                message = w.conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):  # it died (mid-message)
                spec, stop, claimed = w.spec, w.stop, w.run_id is not None or w.outcome is not None
                again = executor._replace(i, workers, self.sink, self.study, self.outcomes)
                self.todo[:0] = [(s, stop, None) for s in again]
                if spec is not None and claimed:
                    ended.append((spec, w.outcome))
                continue
            if done := executor._handle(message, w, self.sink, self.outcomes):
                ended.append(done)
        executor._check_start(workers)
        self._dispatch()
        return ended


def _died(exitcode: int | None) -> RunOutcome:
    how = (
        f"killed by signal {-exitcode}"
        if exitcode is not None and exitcode < 0
        else f"exit code {exitcode}"
    )
    reason = f"the worker process running it died ({how}); run it again with --retry-failed"
    return RunOutcome(FAILED, reason, 0.0, {}, 0.0, 0, error=reason)


def _raise_from_worker(kind: str, payload) -> None:
    from powertrain.study.execute import PretrainingFailed

    if kind == "fatal":
        raise PowertrainError(f"a worker could not open its environment: {payload}")
    name, message = payload
    if name == "PretrainingFailed":
        raise PretrainingFailed(message)
    if kind == "error":
        raise PowertrainError(f"a worker failed outside a run: {name}: {message}")
    raise PowertrainError(f"unknown message from a worker: {kind}")
