"""The workers executor: N runs at once on one machine, each in a process of its own.

This process is the coordinator: the only one that writes the store (so SQLite stays safe). Each worker
opens its own ``RunEnv`` (device, meters, data) and runs one spec at a time with the one run body,
``execute_run``, through a sink that sends every record back here; the coordinator writes it through
the study's sink as it arrives. On a machine with GPUs each worker owns its GPUs (``CUDA_VISIBLE_DEVICES``
set by UUID before torch starts), so its NVML energy is its own; on CPUs each worker gets its share of
the threads. A device-wide counter that the workers share (a RAPL package) is split between them by CPU
time and labelled ``apportioned`` (see ``meters/apportion.py``).

A worker that dies (killed, out of memory) ends its run as FAILED with the reason, and a new worker
takes its place; a worker whose coordinator dies stops too, so that nothing trains for nobody. Killing
the coordinator leaves begun runs unfinished in the store: the next ``powertrain run`` runs them afresh.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from powertrain.errors import PowertrainError
from powertrain.records import FAILED, RunOutcome, Stage

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.execute import RunSink
    from powertrain.study.plan import RunSpec

POLL_S = 0.5  # how often the coordinator looks for dead workers while it waits


@dataclass(frozen=True)
class WorkerSlot:
    """What one worker owns: its GPUs (UUIDs; empty on CPUs) and its CPU threads."""

    index: int
    gpu_uuids: tuple[str, ...]
    threads: int

    def environ(self) -> dict[str, str]:
        env = {"OMP_NUM_THREADS": str(self.threads)}
        if self.gpu_uuids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpu_uuids)
        return env


def plan_slots(
    workers: int, gpu_uuids: list[str], cpu_count: int, share_gpus: bool = False
) -> list[WorkerSlot]:
    """Give each of ``workers`` its GPUs and threads. GPUs are not shared between workers unless the
    study allows it (their energy is then apportioned, like a shared CPU package's)."""
    if workers < 1:
        raise PowertrainError(f"workers: {workers} is not a number of processes; give 1 or more")
    threads = max(1, cpu_count // workers)
    if not gpu_uuids:
        return [WorkerSlot(i, (), threads) for i in range(workers)]
    if workers > len(gpu_uuids) and not share_gpus:
        raise PowertrainError(
            f"workers: {workers} workers but {len(gpu_uuids)} GPU(s) visible: each worker owns its"
            " GPUs so that its energy is its own. Use at most one worker per GPU, or set"
            " `share_gpus: true` in the study (the GPU energy is then apportioned between runs)"
        )
    if workers > len(gpu_uuids):
        return [WorkerSlot(i, (gpu_uuids[i % len(gpu_uuids)],), threads) for i in range(workers)]
    per = len(gpu_uuids) // workers
    return [
        WorkerSlot(i, tuple(gpu_uuids[i * per : (i + 1) * per]), threads) for i in range(workers)
    ]


class _QueueSink:
    """The worker's side of the sink: every record goes to the coordinator."""

    def __init__(self, results, worker: int) -> None:
        self.results, self.worker = results, worker
        self._next_id = 0

    def begin(self, spec, hardware: dict, provenance: dict) -> int:
        self._next_id += 1
        self.results.put((self.worker, "begin", self._next_id, (spec, hardware, provenance)))
        return self._next_id

    def eval_point(self, run_id: int, point) -> None:
        self.results.put((self.worker, "point", run_id, point))

    def timeline(self, run_id: int, timeline: dict) -> None:
        self.results.put((self.worker, "timeline", run_id, timeline))

    def finish(self, run_id: int, outcome) -> None:
        self.results.put((self.worker, "finish", run_id, outcome))


def _exit_with_coordinator(coordinator_pid: int) -> None:
    """A worker whose coordinator is gone stops at once: its results have nowhere to go."""
    while True:
        if os.getppid() != coordinator_pid:
            os._exit(70)
        time.sleep(POLL_S)


def _worker_main(slot: WorkerSlot, study, options: dict, tasks, results, coordinator_pid) -> None:
    os.environ.update(slot.environ())  # before torch starts: CUDA reads it once
    threading.Thread(target=_exit_with_coordinator, args=(coordinator_pid,), daemon=True).start()
    from powertrain.study.execute import RunEnv, execute_run

    env = RunEnv.open(study, artifacts_dir=options["artifacts_dir"], threads=slot.threads)
    env.share_cpu_with(coordinator_pid) if options["apportion"] else None
    sink = _QueueSink(results, slot.index)
    results.put((slot.index, "ready", 0, None))
    while (spec := tasks.get()) is not None:
        try:
            execute_run(spec, env, sink)
        except Exception as exc:  # noqa: BLE001 - the pretraining stage failed; the coordinator says so
            results.put((slot.index, "error", 0, f"{type(exc).__name__}: {exc}"))
        results.put((slot.index, "idle", 0, None))


@dataclass
class _Worker:
    slot: WorkerSlot
    process: Any
    tasks: Any
    spec: RunSpec | None = None  # the run it was given and has not finished
    run_id: int | None = None  # that run's id in the study's sink, once begun
    ids: dict[int, int] = field(default_factory=dict)  # worker's run ids -> the sink's


class WorkersExecutor:
    """Runs specs ``workers`` at a time, each in a process of its own. The pretraining stage runs
    first, alone; every grid run after it."""

    def __init__(
        self,
        workers: int,
        *,
        artifacts_dir=None,
        gpu_uuids: list[str] | None = None,
        share_gpus: bool = False,
        cpu_count: int | None = None,
    ) -> None:
        self.slots = plan_slots(
            workers, gpu_uuids or [], cpu_count or os.cpu_count() or 1, share_gpus
        )
        self.artifacts_dir = artifacts_dir
        self._mp = multiprocessing.get_context("spawn")  # no fork of a process that holds torch

    def run(self, study: StudyConfig, specs: list[RunSpec], sink: RunSink, reporter=None):
        if not specs:
            return {}
        results = self._mp.Queue()
        workers = [self._start(slot, study, results) for slot in self.slots]
        try:
            stage = [s for s in specs if s.stage is Stage.PRETRAIN]
            grid = [s for s in specs if s.stage is not Stage.PRETRAIN]
            outcomes = self._drive(stage, workers, results, sink, study)
            return outcomes + self._drive(grid, workers, results, sink, study)
        finally:
            for w in workers:
                w.tasks.put(None)
            for w in workers:
                w.process.join(timeout=10)
                if w.process.is_alive():
                    w.process.kill()

    def _start(self, slot: WorkerSlot, study, results) -> _Worker:
        tasks = self._mp.Queue()
        options = {"artifacts_dir": self.artifacts_dir, "apportion": len(self.slots) > 1}
        process = self._mp.Process(
            target=_worker_main,
            args=(slot, study, options, tasks, results, os.getpid()),
            name=f"powertrain-worker-{slot.index}",
            daemon=True,
        )
        process.start()
        return _Worker(slot, process, tasks)

    def _drive(self, specs, workers: list[_Worker], results, sink, study) -> list[RunOutcome]:
        """Hand out ``specs`` to idle workers and write what comes back, until every one has ended."""
        todo, outcomes = list(specs), {}
        while todo or any(w.spec is not None for w in workers):
            for w in workers:
                if w.spec is None and todo:
                    w.spec = todo.pop(0)
                    w.tasks.put(w.spec)
            try:
                message = results.get(timeout=POLL_S)
            except queue.Empty:
                self._bury_dead(workers, results, sink, study, outcomes)
                continue
            self._handle(message, workers, sink, outcomes)
        return outcomes

    def _handle(self, message, workers, sink, outcomes) -> None:
        index, kind, worker_run_id, payload = message
        w = workers[index]
        if kind == "begin":
            w.run_id = w.ids[worker_run_id] = sink.begin(*payload)
        elif kind == "point":
            sink.eval_point(w.ids[worker_run_id], payload)
        elif kind == "timeline":
            sink.timeline(w.ids[worker_run_id], payload)
        elif kind == "finish":
            sink.finish(w.ids.pop(worker_run_id), payload)
            outcomes[w.spec.run_key] = payload
        elif kind == "error":
            raise PowertrainError(payload)
        elif kind == "idle":
            w.spec = w.run_id = None

    def _bury_dead(self, workers, results, sink, study, outcomes) -> None:
        """A worker that died mid-run: its run ends FAILED with the reason; a new worker replaces it."""
        for i, w in enumerate(workers):
            if w.process.is_alive():
                continue
            if w.spec is not None:
                reason = f"the worker process died (exit code {w.process.exitcode})"
                outcome = RunOutcome(FAILED, reason, 0.0, {}, 0.0, 0, error=reason)
                run_id = w.run_id
                if run_id is None:
                    run_id = sink.begin(w.spec, {"host": os.uname().nodename}, {})
                sink.finish(run_id, outcome)
                outcomes[w.spec.run_key] = outcome
            workers[i] = self._start(w.slot, study, results)
