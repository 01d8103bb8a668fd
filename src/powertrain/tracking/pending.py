"""What a tracked run keeps while its SQLite store is locked by another process past the wait for it
(``StoreLocked``: a long write elsewhere, a transaction left open in another program).

The training is the costly part, so a lock never ends it. A point the store refuses waits here, said
once, and goes in at the next evaluation the store takes; the run's end (its remaining points, its
timeline and outcome) is tried ``END_TRIES`` times. Should the store still refuse it then, the whole
run is written to a store of its own beside the file (``STEM.unrecorded-HOST-PID.db``), and a warning
names it with the command that merges it back (``powertrain merge``; the attempt left unfinished in
the store gives way to it once this process is gone). So too where a PostgreSQL store's server stays
away through the end (it keeps the points itself while it is away, ``store/postgres.py``), in the
working folder. Before the run begins, a locked store is one
clear error instead: nothing is recorded yet, and nothing is lost by saying so at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sqlite3
import time
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.records import EvalPoint, RunOutcome, RunRecord
from powertrain.store.pg_session import StoreUnreachable
from powertrain.store.sqlite_guard import WRITERS_AT_ONCE, StoreLocked, rescue_path
from powertrain.tracking import kept as kept_

log = logging.getLogger(__name__)

RETRY_WAIT_S = 0.05  # the wait of each try at an evaluation, once the store was found locked
END_TRIES = 3  # tries at writing the run's end, each waiting the store's own wait for its lock


class Pending:
    """The points of one run the store has not taken yet."""

    def __init__(self) -> None:
        self.points: list[EvalPoint] = []
        self.told = False
        self.begun: RunRecord | None = None  # the run's record as begun, for ``keep_beside``

    def add(self, store, run_id: int, point: EvalPoint) -> None:
        """``point`` into the store after any that wait; kept, and said once, while it is locked."""
        self.points.append(point)
        quick = getattr(store, "waiting_at_most", None) if self.told else None
        try:
            with quick(RETRY_WAIT_S) if quick is not None else contextlib.nullcontext():
                self.flush(store, run_id)  # once found locked, a short try: training goes on
        except StoreLocked as exc:
            if not self.told:
                self.told = True
                log.warning(
                    "the results store %s stayed locked by another process for %g s (a long write, "
                    "or a transaction left open in another program). Training goes on: this run's "
                    "points wait in memory, and go in once the store is free; %s",
                    getattr(exc, "path", "?"),
                    getattr(exc, "waited_s", 0),
                    WRITERS_AT_ONCE,
                )
        except Exception:  # another refusal (a full disk): the caller keeps this point, not here
            if self.points and self.points[-1] is point:
                self.points.pop()
            raise
        if self.points:  # it waits: an observed store's loggers hear it now all the same
            tell = getattr(store, "tell_point", None)
            if tell is not None:
                tell(run_id, point)

    def flush(self, store, run_id: int) -> None:
        while self.points:
            store.add_eval_point(run_id, self.points[0])
            self.points.pop(0)

    def finish(self, store, run_id: int, outcome: RunOutcome, timeline: dict, run) -> None:
        """The run's end: the points that wait, the timeline, the outcome; kept beside the store
        (``keep_beside``) where it stays locked through every try, or its server stays away (a
        PostgreSQL store has tried for a minute already). ``run``: the tracked run."""
        for attempt in range(1, END_TRIES + 1):
            try:
                self.flush(store, run_id)
                store.save_timeline(run_id, timeline)
                store.finish_run(run_id, outcome)
                return
            except (StoreLocked, StoreUnreachable) as exc:
                if attempt == END_TRIES or isinstance(exc, StoreUnreachable):
                    kept(store, self.begun, outcome, timeline, run, exc)
                    tell = getattr(store, "tell_finished", None)  # an observed store's loggers
                    if tell is not None:
                        tell(run_id, outcome)
                    return
                log.warning("%s; trying again to record the end of run %s", exc, run_id)


def kept(store, begun, outcome: RunOutcome, timeline: dict, run, exc) -> Path:
    """``keep_beside``, or one PowertrainError saying that the run's end is not recorded anywhere
    (the disk beside the store full or read-only, say)."""
    try:
        return keep_beside(store, begun, outcome, timeline, run, exc)
    except (OSError, sqlite3.Error, PowertrainError) as error:
        raise PowertrainError(
            f"{exc}. The run could not be kept beside it either ({error}): the end of run "
            f"{run.run_id} is not recorded; it stays unfinished in the store"
        ) from None


def keep_beside(store, begun: RunRecord | None, outcome: RunOutcome, timeline: dict, run, exc):
    """The whole run, finished, in a new SQLite store beside ``store``'s file (a PostgreSQL
    store's: in the working folder); a warning says where, and how to merge it back. ``begun``: the
    run's record as begun (else read now: a lock does not stop reading)."""
    from powertrain.store import open_store
    from powertrain.tracking.store import study_config

    tracker = run.tracker
    begun = begun or store.run(run.run_id)
    record = dataclasses.replace(
        begun, status=outcome.status, outcome=outcome, finished_at=time.time()
    )
    path = getattr(store, "path", None)
    into = str(path) if path is not None else str(store)  # a URL's password masked
    target = rescue_path(kept_.beside(store), "unrecorded")
    with open_store(target) as side:
        side.save_study(
            begun.study, study_config(begun.study, tracker.targets, tracker.model, tracker.data)
        )
        side.copy_run(record, list(run.points), timeline)
    log.warning(
        "%s. The end of run %s of study %r could not be written there: the run, with its %d "
        "points and its outcome (%s), is kept in %s. Once the store is free again and this "
        "process has ended: powertrain merge %s -o %s",
        exc,
        run.run_id,
        begun.study,
        len(run.points),
        outcome.status.value,
        target,
        target,
        into,
    )
    return target
