"""The loggers' own thread: training hands each event over (a queue put, microseconds) and goes on; the
thread opens the tool's run, writes the point, ends the run. A tool that is down, slow or misconfigured
costs one warning and its own copy, never the training: its first error disables it for the rest of the
session, and ``close`` waits for what is queued at most ``flush_s`` seconds."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable

from powertrain.loggers.base import Destination, RunInfo, RunLog
from powertrain.loggers.observe import RunObserver
from powertrain.records import EvalPoint, RunOutcome

log = logging.getLogger(__name__)

FLUSH_S = 60.0  # how long close() waits for queued events to reach the tools
_DONE = object()


class Fanout(RunObserver):
    """Every run to every destination, on one background thread (started with the first event)."""

    def __init__(self, destinations: Iterable[Destination], flush_s: float = FLUSH_S) -> None:
        self.destinations = list(destinations)
        self.flush_s = flush_s
        self.failed: dict[str, str] = {}  # destination name -> the error that disabled it
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._runs: dict[tuple[int, int], RunLog] = {}  # (destination index, run id) -> its run
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.destinations)

    def _put(self, event: tuple) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name="powertrain-loggers", daemon=True
                )
                self._thread.start()
        self._queue.put(event)

    def run_begun(self, info: RunInfo) -> None:
        self._put(("begun", info.run_id, info))

    def eval_point(self, run_id: int, point: EvalPoint) -> None:
        self._put(("point", run_id, point))

    def run_finished(self, run_id: int, outcome: RunOutcome) -> None:
        self._put(("finished", run_id, outcome))

    def close(self) -> None:
        """Send what is queued (waiting at most ``flush_s``), then close every destination."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_DONE)
        thread.join(self.flush_s)
        if thread.is_alive():
            log.warning(
                "loggers: %s still busy after %.0f s; what is left is not sent (the store has it)",
                ", ".join(d.name for d in self.destinations),
                self.flush_s,
            )
        with self._lock:
            self._thread = None

    def _drain(self) -> None:
        while (event := self._queue.get()) is not _DONE:
            for index, destination in enumerate(self.destinations):
                if destination.name not in self.failed:
                    self._deliver(index, destination, event)
        for destination in self.destinations:
            if destination.name not in self.failed:
                self._guarded(destination, destination.close)

    def _deliver(self, index: int, destination: Destination, event: tuple) -> None:
        kind, run_id, payload = event
        key = (index, run_id)
        if kind == "begun":
            run = self._guarded(destination, destination.open, payload)
            if run is not None:
                self._runs[key] = run
        elif key in self._runs and kind == "point":
            self._guarded(destination, self._runs[key].point, payload)
        elif key in self._runs:
            self._guarded(destination, self._runs.pop(key).finish, payload)

    def _guarded(self, destination: Destination, call, *args):
        try:
            return call(*args)
        except Exception as exc:  # noqa: BLE001 - a tool never fails the training
            self.failed[destination.name] = f"{type(exc).__name__}: {exc}"
            log.warning(
                "%s logging failed (%s); no more runs go to %s this session, the store keeps "
                "every figure",
                destination.name,
                self.failed[destination.name],
                destination.name,
            )
            return None
