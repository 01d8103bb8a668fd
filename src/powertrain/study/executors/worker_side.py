"""The worker's side of the workers executor (``workers.py``): a process that opens its own ``RunEnv``
and runs the tasks its coordinator hands it, one at a time, sending every record back down its pipe
(the records of ``messages.py``)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from powertrain.errors import RunClaimed
from powertrain.study.executors.messages import (
    AskStop,
    Begun,
    ErrorRecord,
    Failed,
    Fatal,
    Finished,
    Idle,
    NoteLimit,
    PendingLimits,
    Point,
    Ready,
    Refused,
    Task,
    Timeline,
)

if TYPE_CHECKING:
    from powertrain.study.executors.slots import WorkerSlot

POLL_S = 0.2  # how often the coordinator looks for dead workers, and a worker for its coordinator


class PipeSink:
    """The worker's side of the sink: every record goes to the coordinator down the worker's own
    pipe; ``begin`` and the power limit journal wait for its answer (the claim, the note written), so
    they happen first. A pipe per worker: one killed mid-message breaks no one else's. The run ids
    are the coordinator's: it knows which run each worker is on."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def _ask(self, question) -> Any:
        self.conn.send(question)
        answer = self.conn.recv()  # the watchdog ends us if the coordinator is gone
        if isinstance(answer, Refused):
            raise RunClaimed(answer.reason)
        return answer.value

    def begin(self, spec, hardware: dict, provenance: dict) -> int:
        return self._ask(Begun(spec, hardware, provenance))

    def eval_point(self, run_id: int, point) -> None:
        self.conn.send(Point(point))

    def timeline(self, run_id: int, timeline: dict) -> None:
        self.conn.send(Timeline(timeline))

    def finish(self, run_id: int, outcome) -> None:
        self.conn.send(Finished(outcome))

    def pending_power_limits(self) -> dict[str, float]:
        return self._ask(PendingLimits())

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        self._ask(NoteLimit(gpu_uuid, previous_w))

    def ask_stop(self, point) -> str | None:
        """A stopping handler: the coordinator's reason to stop at ``point`` (sent just before)."""
        return self._ask(AskStop(point))

    def asking(self, spec) -> tuple:
        return (self.ask_stop,)


def _exit_with_coordinator(coordinator_pid: int) -> None:
    """A worker whose coordinator is gone stops at once: its results have nowhere to go."""
    while True:
        if os.getppid() != coordinator_pid:
            os._exit(70)
        time.sleep(POLL_S)


INTERRUPTED = 130  # a shell's exit code for a program a Ctrl-C ended


@contextlib.contextmanager
def sigint_held():
    """Around a worker's start: SIGINT blocked in this thread, so the new process begins with it
    blocked (the mask outlives exec) through the spawn's imports of powertrain and torch, before
    ``worker_main`` can catch it. A Ctrl-C meanwhile waits: here until the block ends, there until
    ``worker_main`` lets it in and ends quietly."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: as before
        yield
        return
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # first: starting it unblocks SIGINT in this thread
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def worker_main(slot: WorkerSlot, study, options: dict, conn, parent: int) -> None:
    try:
        if hasattr(signal, "pthread_sigmask"):  # a Ctrl-C held since the start comes in now
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        os.environ.update(slot.environ())  # before torch starts: CUDA reads it once
        threading.Thread(target=_exit_with_coordinator, args=(parent,), daemon=True).start()
        started = _start(slot, study, options, conn, parent)
    except KeyboardInterrupt:  # a Ctrl-C while it imports torch or opens its meters: no run is
        os._exit(INTERRUPTED)  # begun, and the coordinator says the study was interrupted
    if started is None:
        return
    env, sink = started
    from powertrain.study.execute import no_handlers, run_claimed

    while isinstance(task := conn.recv(), Task):
        env.stop_handlers = sink.asking if task.ask else no_handlers
        try:
            run_claimed(task.spec, env, sink, resume_id=task.resume_id)
        except Exception as exc:  # noqa: BLE001 - a failed pretraining stage; the coordinator raises
            conn.send(Failed(ErrorRecord.of(exc)))
        conn.send(Idle())
    conn.close()  # every record is sent (a pipe's send returns once written)
    os._exit(0)  # no slow interpreter shutdown with torch loaded


def _start(slot: WorkerSlot, study, options: dict, conn, parent: int) -> tuple | None:
    """The worker's ``RunEnv`` and sink, Ready sent; None when it could not start (Fatal sent)."""
    import dataclasses

    from powertrain.models.registry import check_user_model
    from powertrain.study.execute import RunEnv

    try:
        env = RunEnv.open(
            dataclasses.replace(study, threads=study.threads or slot.threads),
            artifacts_dir=options["artifacts_dir"],
            apportion_with=parent if options["apportion"] else None,
        )
        sink = PipeSink(conn)
        if not study.task.command:  # every data set loaded (once), the model probed, before a claim
            check_user_model(study.task.model, study.task.model_options, env.tasks())
        if env.power is not None:  # limits a killed run left changed on this worker's GPUs
            env.power.restore_pending(sink)
    except Exception as exc:  # noqa: BLE001 - a bad device, meter or model: the coordinator says so
        conn.send(Fatal(ErrorRecord.of(exc)))
        return None
    conn.send(Ready())
    return env, sink
