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
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import FAILED, RunOutcome, Stage
from powertrain.study.executors.machine import MachineTotal, SweepMeter

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.execute import RunSink
    from powertrain.study.plan import RunSpec

POLL_S = 0.2  # how often the coordinator looks for dead workers, and a worker for its coordinator
START_TIMEOUT_S = 300.0  # a worker that has not opened its environment by then is stuck


@dataclass(frozen=True)
class WorkerSlot:
    """What one worker owns: its GPUs (UUIDs; empty on CPUs) and its CPU threads."""

    index: int
    gpu_uuids: tuple[str, ...]
    threads: int

    def environ(self) -> dict[str, str]:
        """What the worker's environment is set to before torch starts."""
        env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        if self.gpu_uuids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpu_uuids)
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        return env


def plan_slots(
    workers: int, gpu_uuids: list[str], cpu_count: int, share_gpus: bool = False
) -> list[WorkerSlot]:
    """Give each of ``workers`` its GPUs and threads. GPUs are not shared between workers unless the
    study allows it (their energy is then apportioned, like a shared CPU package's)."""
    if not (isinstance(workers, int) and workers >= 1):
        raise PowertrainError(f"workers: {workers!r} is not a number of processes; give 1 or more")
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


def shares_gpus(slots: list[WorkerSlot]) -> bool:
    """Whether any GPU is given to more than one worker."""
    owned = [uuid for slot in slots for uuid in slot.gpu_uuids]
    return len(owned) != len(set(owned))


class _PipeSink:
    """The worker's side of the sink: every record goes to the coordinator down the worker's own
    pipe; ``begin`` and the power limit journal wait for its answer (the claim, the note written), so
    they happen first. A pipe per worker: one killed mid-message breaks no one else's."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def _ask(self, kind: str, payload) -> Any:
        self.conn.send((kind, payload))
        answer, value = self.conn.recv()  # the watchdog ends us if the coordinator is gone
        if answer == "claimed":
            raise RunClaimed(value)
        return value

    def begin(self, spec, hardware: dict, provenance: dict) -> int:
        return self._ask("begin", (spec, hardware, provenance))

    def eval_point(self, run_id: int, point) -> None:
        self.conn.send(("point", (run_id, point)))

    def timeline(self, run_id: int, timeline: dict) -> None:
        self.conn.send(("timeline", (run_id, timeline)))

    def finish(self, run_id: int, outcome) -> None:
        self.conn.send(("finish", (run_id, outcome)))

    def pending_power_limits(self) -> dict[str, float]:
        return self._ask("pending_limits", None)

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        self._ask("note_limit", (gpu_uuid, previous_w))


def _exit_with_coordinator(coordinator_pid: int) -> None:
    """A worker whose coordinator is gone stops at once: its results have nowhere to go."""
    while True:
        if os.getppid() != coordinator_pid:
            os._exit(70)
        time.sleep(POLL_S)


def _worker_main(slot: WorkerSlot, study, options: dict, conn, parent: int) -> None:
    os.environ.update(slot.environ())  # before torch starts: CUDA reads it once
    threading.Thread(target=_exit_with_coordinator, args=(parent,), daemon=True).start()
    import dataclasses

    from powertrain.models.registry import check_user_model
    from powertrain.study.execute import RunEnv, run_claimed

    try:
        env = RunEnv.open(
            dataclasses.replace(study, threads=study.threads or slot.threads),
            artifacts_dir=options["artifacts_dir"],
            apportion_with=parent if options["apportion"] else None,
        )
        sink = _PipeSink(conn)
        if not study.task.command:  # every data set loaded (once), the model probed, before a claim
            check_user_model(study.task.model, study.task.model_options, env.tasks())
        if env.power is not None:  # limits a killed run left changed on this worker's GPUs
            env.power.restore_pending(sink)
    except Exception as exc:  # noqa: BLE001 - a bad device, meter or model: the coordinator says so
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while (spec := conn.recv()) is not None:
        try:
            run_claimed(spec, env, sink)
        except Exception as exc:  # noqa: BLE001 - a failed pretraining stage; the coordinator raises
            conn.send(("error", (type(exc).__name__, str(exc))))
        conn.send(("idle", None))
    conn.close()  # every record is sent (a pipe's send returns once written)
    os._exit(0)  # no slow interpreter shutdown with torch loaded


@dataclass
class _Worker:
    slot: WorkerSlot
    process: Any
    conn: Any  # the coordinator's end of the worker's pipe
    ready: bool = False
    started_s: float = field(default_factory=time.monotonic)
    spec: RunSpec | None = None  # the run it was given and has not finished
    run_id: int | None = None  # that run's id in the study's sink, once claimed


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
        machine_meters: dict | None = None,
    ) -> None:
        """``machine_meters``: this process's own meters (component -> Meter); those of the devices
        the workers share are read over the sweep, unsplit, as the machine's total."""
        self.slots = plan_slots(
            workers, gpu_uuids or [], cpu_count or os.cpu_count() or 1, share_gpus
        )
        self.artifacts_dir = artifacts_dir
        self._mp = multiprocessing.get_context("spawn")  # no fork of a process that holds torch
        self.replaced = 0  # workers started again after one died
        self.machine_meters = machine_meters or {}
        self.machine_total: MachineTotal | None = None  # the shared devices' whole, after run()

    def run(self, study: StudyConfig, specs: list[RunSpec], sink: RunSink, reporter=None):
        if not specs:
            return {}
        if self.artifacts_dir is None:  # model files go where the store keeps them
            self.artifacts_dir = getattr(getattr(sink, "store", None), "artifacts_dir", None)
        sweep = self._sweep_meter(study)
        workers = [self._start(slot, study) for slot in self.slots]
        try:
            stage = [s for s in specs if s.stage is Stage.PRETRAIN]
            grid = [s for s in specs if s.stage is not Stage.PRETRAIN]
            outcomes = self._drive(stage, workers, sink, study)
            return {**outcomes, **self._drive(grid, workers, sink, study)}
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
            target=_worker_main,
            args=(slot, study, options, theirs, os.getpid()),
            name=f"powertrain-worker-{slot.index}",
            daemon=True,
        )
        process.start()
        theirs.close()  # the worker holds it now: its death is an end of file here
        return _Worker(slot, process, mine)

    def _drive(self, specs, workers: list[_Worker], sink, study) -> dict[str, RunOutcome]:
        """Hand out ``specs`` to ready workers and write what comes back, until every one has ended."""
        todo, outcomes = list(specs), {}
        while todo or any(w.spec is not None for w in workers):
            for w in workers:
                if w.ready and w.spec is None and todo:
                    w.spec = todo.pop(0)
                    w.conn.send(w.spec)
            readable = wait([w.conn for w in workers], timeout=POLL_S)
            for i, w in enumerate(list(workers)):
                if w.conn not in readable:
                    continue
                try:
                    message = w.conn.recv()
                except (EOFError, OSError, pickle.UnpicklingError):  # it died (mid-message)
                    todo[:0] = self._replace(i, workers, sink, study, outcomes)
                    continue
                self._handle(message, w, sink, outcomes)
            self._check_start(workers)
        return outcomes

    def _handle(self, message, w: _Worker, sink, outcomes) -> None:
        kind, payload = message
        if kind == "begin":
            try:
                w.run_id = sink.begin(*payload)
                w.conn.send(("ok", w.run_id))
            except (RunClaimed, ValueError) as exc:  # held elsewhere, or finished meanwhile
                w.conn.send(("claimed", str(exc)))
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
            outcomes[w.spec.run_key] = payload[1]
            w.run_id = None
        elif kind == "ready":
            w.ready = True
        elif kind == "idle":
            w.spec = w.run_id = None
        else:
            _raise_from_worker(kind, payload)

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
            outcomes[w.spec.run_key] = outcome
            if w.spec.stage is Stage.PRETRAIN:  # no fine-tuned run can start, as locally
                _raise_from_worker("error", ("PretrainingFailed", outcome.stop_reason))
        elif w.spec is not None:  # died before its claim (or after its finish): hand it out again
            again.append(w.spec)
        workers[i] = self._start(w.slot, study)
        self.replaced += 1
        return again


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
