"""The loggers' own thread: training hands each event over (a queue put, microseconds) and goes on; the
thread opens the tool's run, writes the points (gathered for up to half a second, then one write per
tool and run), ends the run. A tool that is down, slow or misconfigured
costs one warning and its own copy, never the training: its first error disables it for the rest of the
session, and ``close`` waits for what is queued at most ``flush_s`` seconds."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable

from powertrain.loggers.base import Destination, RunInfo, RunLog, tool_error
from powertrain.loggers.observe import RunObserver
from powertrain.records import EvalPoint, RunOutcome

log = logging.getLogger(__name__)

FLUSH_S = 60.0  # how long close() waits for queued events to reach the tools
SAY_WAIT_S = 10.0  # a wait for the tools longer than this is said as it begins
BATCH_S = 0.5  # how long the thread gathers events before writing them
MAX_EVENTS = 500  # events written at once, at most
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

    def run_nodes(self, run_id: int, nodes: list[dict]) -> None:
        self._put(("nodes", run_id, nodes))

    def run_finished(self, run_id: int, outcome: RunOutcome) -> None:
        self._put(("finished", run_id, outcome))

    def close(self) -> None:
        """Send what is queued (waiting at most ``flush_s``), then close every destination."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_DONE)
        thread.join(min(SAY_WAIT_S, self.flush_s))
        if thread.is_alive() and self.flush_s > SAY_WAIT_S:  # a wait the user sees is said
            log.warning(
                "loggers: waiting up to %.0f s more for %s to take what is queued (the store has "
                "it already)",
                self.flush_s - SAY_WAIT_S,
                ", ".join(d.name for d in self.destinations if d.name not in self.failed),
            )
            thread.join(self.flush_s - SAY_WAIT_S)
        if thread.is_alive():
            log.warning(
                "loggers: %s still busy after %.0f s; what is left is not sent (the store has it)",
                ", ".join(d.name for d in self.destinations),
                self.flush_s,
            )
        with self._lock:
            self._thread = None

    def _drain(self) -> None:
        done = False
        while not done:
            events = self._collect()
            done = _DONE in events
            for event in _batched([e for e in events if e is not _DONE]):
                for index, destination in enumerate(self.destinations):
                    if destination.name not in self.failed:
                        self._deliver(index, destination, event)
        for destination in self.destinations:
            if destination.name not in self.failed:
                self._guarded(destination, destination.close)

    def _collect(self) -> list:
        """The next event and what follows it within ``BATCH_S`` (or until the end): each tool then
        gets a run's points in one call, and training shares the CPU with fewer, larger writes."""
        events = [self._queue.get()]
        deadline = time.monotonic() + BATCH_S
        while events[-1] is not _DONE and len(events) < MAX_EVENTS:
            try:
                events.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return events

    def _deliver(self, index: int, destination: Destination, event: tuple) -> None:
        kind, run_id, payload = event
        key = (index, run_id)
        if kind == "begun":
            run = self._guarded(destination, destination.open, payload)
            if run is not None:
                self._runs[key] = run
        elif key in self._runs and kind == "points":
            self._guarded(destination, self._runs[key].points, payload)
        elif key in self._runs and kind == "nodes":
            self._guarded(destination, self._runs[key].nodes, payload)
        elif key in self._runs:
            self._guarded(destination, self._runs.pop(key).finish, payload)

    def _guarded(self, destination: Destination, call, *args):
        try:
            return call(*args)
        except Exception as exc:  # noqa: BLE001 - a tool never fails the training
            self.failed[destination.name] = tool_error(exc)
            log.warning(
                "%s logging failed (%s); no more runs go to %s this session, the store keeps "
                "every figure",
                destination.name,
                self.failed[destination.name],
                destination.name,
            )
            return None


def _batched(events: list[tuple]) -> list[tuple]:
    """Events in order, a run's consecutive points as one ``("points", run_id, [point, ...])``."""
    out: list[tuple] = []
    for kind, run_id, payload in events:
        if kind == "point" and out and out[-1][0] == "points" and out[-1][1] == run_id:
            out[-1][2].append(payload)
        elif kind == "point":
            out.append(("points", run_id, [payload]))
        else:
            out.append((kind, run_id, payload))
    return out
