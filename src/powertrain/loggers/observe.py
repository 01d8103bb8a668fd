"""Observers of the runs a store records: the store is written as before, and each observer hears of a
run's beginning, its evaluation points and its end, after the store has them. A point the store
refuses (locked by another process, a full disk) is heard all the same, when it is measured, and once:
the loggers' curves have no holes where the store's record waits or lacks a point.

``ObservedStore(store, observers)`` stands in for a results store: ``begin_run``, ``add_eval_point``
and ``finish_run`` go to the store first, then to every observer; everything else is the store's own.
So the built-in loop, a search, the workers' coordinator and ``track()`` all feed the loggers and the
metrics endpoint through the one place they already write. An observer that raises is logged once and
heard no more: observing never fails a run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from powertrain.loggers.base import RunInfo
from powertrain.records import (
    CENSORED,
    EvalPoint,
    RunOutcome,
    RunRecord,
    estimated_on_nodes,
    outcome_of,
)
from powertrain.store.base import ResultStore
from powertrain.store.location import mask_urls

log = logging.getLogger(__name__)


class RunObserver:
    """Hears of runs as the store records them; every method optional."""

    def run_begun(self, info: RunInfo) -> None: ...
    def eval_point(self, run_id: int, point: EvalPoint) -> None: ...
    def run_nodes(self, run_id: int, nodes: list[dict[str, Any]]) -> None:
        """A distributed run some node of which estimated a figure rank 0's meters may measure
        (``records.estimated_on_nodes``), told before the point those nodes' figures make: the
        run's sum holds an estimate from here on, whatever ``run_begun``'s provenance said."""

    def run_finished(self, run_id: int, outcome: RunOutcome) -> None: ...
    def close(self) -> None: ...


class Observers(RunObserver):
    """Several observers as one; one that raises is warned about once and then left out."""

    def __init__(self, observers: Iterable[RunObserver] = ()) -> None:
        self.observers = list(observers)

    def __bool__(self) -> bool:
        return bool(self.observers)

    def _each(self, method: str, *args: Any) -> None:
        for observer in list(self.observers):
            call = getattr(observer, method, None)  # one of an older shape may lack a hook
            if call is None:
                continue
            try:
                call(*args)
            except Exception as exc:  # noqa: BLE001 - an observer never fails the run
                log.warning(
                    "%s failed (%s: %s); it gets nothing more, the store keeps every figure",
                    type(observer).__name__,
                    type(exc).__name__,
                    exc,
                )
                self.observers.remove(observer)

    def run_begun(self, info: RunInfo) -> None:
        self._each("run_begun", info)

    def eval_point(self, run_id: int, point: EvalPoint) -> None:
        self._each("eval_point", run_id, point)

    def run_nodes(self, run_id: int, nodes: list[dict[str, Any]]) -> None:
        self._each("run_nodes", run_id, nodes)

    def run_finished(self, run_id: int, outcome: RunOutcome) -> None:
        self._each("run_finished", run_id, outcome)

    def close(self) -> None:
        self._each("close")


class ObservedStore:
    """A results store whose runs are also told to ``observers`` (see the module's doc)."""

    def __init__(self, store: Any, observers: RunObserver) -> None:
        self._store, self._observers = store, observers
        self._open: set[int] = set()  # runs begun or resumed here and not finished
        self._keys: dict[tuple[str, str], int] = {}  # (study, run key) -> its open run here
        self._estimated: dict[int, dict[str, str]] = {}  # run id -> what its nodes estimated, told
        self._waiting: dict[int, list] = {}  # run id -> its nodes, told before it was begun here
        self._told: dict[int, int] = {}  # run id -> the last index of its points told

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:  # the store's settings (its owner, its lease) are the store's
            setattr(self._store, name, value)

    @property
    def unobserved(self) -> Any:
        """The store itself."""
        return self._store

    def begin_run(self, spec, hardware: dict, provenance: dict) -> int:
        earlier = self._keys.get((spec.study, spec.run_key))  # an open attempt it replaces
        points = self._store.eval_points(earlier) if earlier is not None else []
        run_id = self._store.begin_run(spec, hardware, provenance)
        if earlier is not None:  # a search begins a run it stopped afresh: that attempt ended
            self._finished(earlier, replaced(points))
        record = self._record(run_id)  # its start, as an export will read it (the tools' ids)
        info = RunInfo(
            spec.study,
            spec.run_key,
            run_id,
            dict(spec.setup),
            dict(spec.train),
            spec.seed,
            dict(provenance),
            dict(hardware),
            str(getattr(spec.stage, "value", spec.stage)),
            started_at=None if record is None else record.started_at,
        )
        self._begun(info)
        return run_id

    def _record(self, run_id: int) -> RunRecord | None:
        """The store's record of ``run_id``, for the observers, or None where it cannot be read: the
        store has the run already, so a read that fails (a PostgreSQL server lost just after the
        claim, its retries spent) is a warning and the loggers hear the run without its start,
        never the run's failure; a store of an older shape, without ``run``, is read from ``runs``."""
        try:
            read = getattr(self._store, "run", None)
            if read is None:
                return next((r for r in self._store.runs() if r.id == run_id), None)
            return read(run_id)
        except Exception as exc:  # noqa: BLE001 - observing never fails a run
            log.warning(
                "run %d's record could not be read back for its loggers (%s: %s); they get it "
                "without its start (an export may then write a second copy of it)",
                run_id,
                type(exc).__name__,
                mask_urls(str(exc)),  # a store's URL may hold its password
            )
            return None

    def _begun(self, info: RunInfo) -> None:
        self._open.add(info.run_id)
        self._keys[(info.study, info.run_key)] = info.run_id
        self._observers.run_begun(info)

    def add_eval_point(self, run_id: int, point: EvalPoint) -> None:
        try:
            self._store.add_eval_point(run_id, point)
        except Exception:  # refused (locked, a full disk): measured all the same, so told now
            self.tell_point(run_id, point)
            raise
        self.tell_point(run_id, point)

    def tell_point(self, run_id: int, point: EvalPoint) -> None:
        """The observers hear ``point`` once, in the order the run measured its points, whatever the
        store did with it: one it refused, or that waits behind one it refused (a tracked run's,
        ``store/pending.py``), is told when it is measured, and its later write is not news."""
        if point.index <= self._told.get(run_id, -1):
            return
        if run_id not in self._open:  # a paused run continued in its record: begun elsewhere
            record = self._record(run_id)
            if record is None:
                return
            self._begun(RunInfo.of_record(record))
            if run_id in self._waiting:  # its nodes came just before this point: first, them
                self._tell_nodes(run_id, self._waiting.pop(run_id))
        self._told[run_id] = point.index
        self._observers.eval_point(run_id, point)

    def note_nodes(self, run_id: int, nodes: list[dict[str, Any]]) -> None:
        """Rank 0 of a distributed run, its ranks' figures just combined (before it records the
        point they make): the observers hear it when some node estimated what they were not yet
        told of. Not stored: the outcome keeps the nodes, and the record's provenance follows them."""
        inner = getattr(self._store, "note_nodes", None)  # an observed store inside this one
        if inner is not None:
            inner(run_id, nodes)
        if run_id not in self._open:  # a paused run continued: begun here at its next point
            self._waiting[run_id] = nodes
        else:
            self._tell_nodes(run_id, nodes)

    def _tell_nodes(self, run_id: int, nodes: list[dict[str, Any]]) -> None:
        estimated = estimated_on_nodes(nodes)
        if estimated and estimated != self._estimated.get(run_id):
            self._estimated[run_id] = estimated
            self._observers.run_nodes(run_id, nodes)

    def finish_run(self, run_id: int, outcome: RunOutcome) -> None:
        self._store.finish_run(run_id, outcome)
        if run_id in self._open:  # a finished run never changes: a second finish is not news
            self._finished(run_id, outcome)

    def tell_finished(self, run_id: int, outcome: RunOutcome) -> None:
        """The observers hear of an end the store could not take (a tracked run kept whole beside
        it, ``store/pending.py``): their copies end as the run did."""
        if run_id in self._open:
            self._finished(run_id, outcome)

    def _finished(self, run_id: int, outcome: RunOutcome) -> None:
        self._open.discard(run_id)
        self._estimated.pop(run_id, None)
        self._told.pop(run_id, None)
        for key in [k for k, i in list(self._keys.items()) if i == run_id]:
            self._keys.pop(key, None)
        self._observers.run_finished(run_id, outcome)


def replaced(points: list[EvalPoint]) -> RunOutcome:
    """The end, for the observers, of an attempt the store replaced with a new one (not stored)."""
    last = points[-1] if points else None
    return outcome_of(
        CENSORED,
        "replaced: begun again from scratch; the store keeps the new attempt only",
        last.energy_j if last else {},
        last.elapsed_s if last else 0.0,
        points,
    )


ResultStore.register(ObservedStore)  # it is one, by delegation: track(db=...) takes it


def observed(store: Any, observers: RunObserver | None) -> Any:
    """``store`` itself when nothing observes it, else an ``ObservedStore``."""
    if not observers:
        return store
    return ObservedStore(store, observers)
