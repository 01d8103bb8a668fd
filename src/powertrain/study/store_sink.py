"""``StoreSink``: where a run's records go when they go to a results store (``execute.RunSink``),
and the reporter is told. A store another process holds locked, or a full disk, does not end a
run that trains: its points wait (``store/pending.py``) and its end is kept beside the store
where the store still refuses it."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from powertrain.meters.base import measurement_label
from powertrain.records import EvalPoint, RunOutcome
from powertrain.store.base import ResultStore
from powertrain.store.pending import REFUSALS, Pending
from powertrain.store.pg_session import StoreUnreachable
from powertrain.store.sqlite_guard import StoreRemoved
from powertrain.study.plan import RunSpec
from powertrain.study.result import Reporter

log = logging.getLogger(__name__)

#: A point's refusals that leave the run to train on (a removed store ends the study: sqlite_guard).
DISK_REFUSALS = (sqlite3.OperationalError, OSError)
#: An end's refusals that keep the run beside the store: not a removed store's, which ended the
#: run (FAILED, cut short: it runs again from the rescued copy) and ends the study with its line,
#: nor a PostgreSQL server's away past its retries (the run stays unfinished, to run again:
#: docs/clusters.md).
END_REFUSALS = tuple(r for r in REFUSALS if r not in (StoreRemoved, StoreUnreachable))


class StoreSink:
    """Writes a run to a results store (``begin`` claims it there) and tells the reporter. Once
    the run trains, a store another process holds locked does not end it: its points wait (in
    memory and beside the store), and its end is tried again, then kept beside the store with the
    command that merges it back, as a tracked run's are (``store/pending.py``)."""

    def __init__(self, store: ResultStore, reporter: Reporter | None = None) -> None:
        self.store = store
        self.reporter = reporter or Reporter()
        self._runs: dict[int, tuple[RunSpec, dict]] = {}
        self._waiting: dict[int, Pending] = {}  # run id -> what its store has not taken yet
        self._timelines: dict[int, dict[str, Any]] = {}  # run id -> its timeline, refused

    def begin(self, spec: RunSpec, hardware: dict, provenance: dict) -> int:
        run_id = self.store.begin_run(spec, hardware, provenance)  # may refuse: RunClaimed
        self.reporter.run_started(spec.as_setup(), spec.seed)
        self._runs[run_id] = (spec, provenance)
        return run_id

    def eval_point(self, run_id: int, point: EvalPoint) -> None:
        waiting = self._waiting.setdefault(run_id, Pending())
        try:
            waiting.add(self.store, run_id, point)
        except DISK_REFUSALS as error:  # a full disk: training goes on; tried again at its end
            waiting.points.append(point)
            if not waiting.told:
                waiting.told = True
                log.warning(
                    "the results store refused evaluation %d of run %s (%s: %s); training goes "
                    "on, and its points are written again at the run's end (or kept beside the "
                    "store with it)",
                    point.index + 1,
                    run_id,
                    type(error).__name__,
                    error,
                )
        self.reporter.eval_point(point)

    def timeline(self, run_id: int, timeline: dict[str, Any]) -> None:
        try:
            self.store.save_timeline(run_id, timeline)
        except REFUSALS:  # written with the run's end, or kept beside the store with it
            self._timelines[run_id] = timeline

    def finish(self, run_id: int, outcome: RunOutcome, *, say: bool = True) -> None:
        waiting = self._waiting.pop(run_id, None) or Pending()
        timeline = self._timelines.pop(run_id, None)
        waiting.finish(self.store, run_id, outcome, timeline, refusals=END_REFUSALS)
        if say:
            self.said(run_id, outcome)

    def said(self, run_id: int, outcome: RunOutcome) -> None:
        """Tell the reporter the run finished (once; ``finish(say=False)`` leaves it for later)."""
        spec, provenance = self._runs.pop(run_id)
        self.reporter.run_finished(
            spec.as_setup(), spec.seed, outcome, measurement_label(provenance)
        )

    def pending_power_limits(self) -> dict[str, float]:
        """The store is the power limit journal (``power_limit.PowerLimitJournal``)."""
        return self.store.pending_power_limits()

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        self.store.note_power_limit(gpu_uuid, previous_w)
