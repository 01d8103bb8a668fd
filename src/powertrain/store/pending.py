"""What a tracked run keeps while its SQLite store is locked by another process past the wait for it
(``StoreLocked``: a long write elsewhere, a transaction left open in another program).

The training is the costly part, so a lock never ends it. A point the store refuses waits here, said
once, and goes in at the next evaluation the store takes; from the first that waits, the run and its
points are kept on disk too, in a store beside the file (removed once the store has them all), so a
process killed meanwhile loses none of them. The run's end (its remaining points, its timeline and
outcome) is tried ``END_TRIES`` times. Should the store still refuse it then, the whole
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
from powertrain.store import kept as kept_
from powertrain.store.pg_session import StoreUnreachable
from powertrain.store.sqlite_guard import WRITERS_AT_ONCE, StoreLocked, StoreRemoved, rescue_path

log = logging.getLogger(__name__)

#: What a store's refusal of a run's end may be: locked, its server away, its file removed
#: (``sqlite_guard``), its disk full or failing (SQLite's own error), the file system's.
REFUSALS = (StoreLocked, StoreUnreachable, StoreRemoved, sqlite3.OperationalError, OSError)

RETRY_WAIT_S = 0.05  # the wait of each try at an evaluation, once the store was found locked
END_TRIES = 3  # tries at writing the run's end, each waiting the store's own wait for its lock


class Pending:
    """The points of one run the store has not taken yet; kept on disk too, in a store beside it
    (``side``), from the first that waits until the store has them all: a process killed meanwhile
    leaves them there, where ``powertrain merge`` (or the next track of the run) takes them back."""

    def __init__(self) -> None:
        self.points: list[EvalPoint] = []
        self.told = False
        self.begun: RunRecord | None = None  # the run's record as begun, for ``keep_beside``
        self.side: Path | None = None  # the copy beside the store that holds the waiting points
        self._side: tuple | None = None  # (that copy, opened; the run's id there)
        self._on_side: set[int] = set()  # the indices of the points written there
        self._side_error: str | None = None  # why no copy could be kept beside, said once

    def add(self, store, run_id: int, point: EvalPoint) -> None:
        """``point`` into the store after any that wait; kept, and said once, while it is locked."""
        self.points.append(point)
        quick = getattr(store, "waiting_at_most", None) if self.told else None
        locked = None
        try:
            with quick(RETRY_WAIT_S) if quick is not None else contextlib.nullcontext():
                self.flush(store, run_id)  # once found locked, a short try: training goes on
        except StoreLocked as exc:
            locked = exc
        except Exception:  # another refusal (a full disk): the caller keeps this point, not here
            if self.points and self.points[-1] is point:
                self.points.pop()
            _tell(store, run_id, point)  # refused before the store was offered it, maybe
            raise
        if not self.points:  # the store has them all: the copy beside it is not needed
            self.drop_side()
            return
        _tell(store, run_id, point)  # it waits: an observed store's loggers hear it now
        self._keep_on_side(store, run_id)
        if locked is not None and not self.told:
            self.told = True
            log.warning(
                "the results store %s stayed locked by another process for %g s (a long write, "
                "or a transaction left open in another program). Training goes on: this run's "
                "points wait, %s, and go in once the store is free; %s",
                getattr(locked, "path", "?"),
                getattr(locked, "waited_s", 0),
                self._where(store),
                WRITERS_AT_ONCE,
            )

    def _where(self, store) -> str:
        if self.side is None:
            return f"in memory only (they could not be kept beside the store: {self._side_error})"
        return (
            f"kept in {self.side} too (should this process end before the store takes them: "
            f"powertrain merge {self.side} -o {kept_.beside(store)})"
        )

    def _keep_on_side(self, store, run_id: int) -> None:
        """The run, as begun, with every point it has so far, in a store beside ``store``: made at
        the first point that waits, each later one added. A copy that cannot be written (the disk
        beside full, say) is said once; the points wait in memory all the same."""
        if self._side_error is not None:
            return
        try:
            if self._side is None:
                self._side = self._open_side(store, run_id)
            side, side_id = self._side
            for point in self.points:
                if point.index not in self._on_side:
                    side.add_eval_point(side_id, point)
                    self._on_side.add(point.index)
        except (OSError, sqlite3.Error, PowertrainError) as error:
            self._side_error = f"{type(error).__name__}: {error}"
            if self.told:
                log.warning("the waiting points could not be kept beside the store: %s", error)

    def _open_side(self, store, run_id: int) -> tuple:
        from powertrain.store import open_store

        begun = self.begun or store.run(run_id)  # a lock does not stop reading
        if begun is None:
            raise PowertrainError(f"run {run_id}'s record could not be read")
        config = next((s["config"] for s in store.studies() if s["name"] == begun.study), {})
        points = {p.index: p for p in [*store.eval_points(run_id), *self.points]}
        self.side = rescue_path(kept_.beside(store), "unrecorded")
        try:
            side = open_store(self.side)
            try:
                side.save_study(begun.study, config)
                side_id = side.copy_run(begun, [points[i] for i in sorted(points)])
                if side_id is None:
                    raise PowertrainError(f"{self.side} holds this run already")
            except BaseException:
                side.close()
                raise
        except BaseException:  # nothing kept there: no copy is named, none half-made is left
            self.drop_side()
            raise
        self._on_side = set(points)
        return side, side_id

    def drop_side(self) -> None:
        """The copy beside the store, once the store has every point (or the run's end) again."""
        self._close_side()
        if self.side is not None:
            for path in (self.side, *(Path(f"{self.side}{x}") for x in ("-wal", "-shm"))):
                path.unlink(missing_ok=True)
        self.side, self._on_side = None, set()

    def left_unfinished(self, store, run_id: int) -> None:
        """The run left unfinished (an interrupt): where the points that wait for the lock are."""
        self._close_side()
        if self.points and self.side is not None:
            log.warning(
                "run %s is left unfinished; its %d points that waited for the store's lock are "
                "kept with it in %s (once this process has ended: powertrain merge %s -o %s)",
                run_id,
                len(self.points),
                self.side,
                self.side,
                kept_.beside(store),
            )

    def _close_side(self) -> None:
        if self._side is not None:
            side, self._side = self._side[0], None
            with contextlib.suppress(Exception):
                side.close()

    def flush(self, store, run_id: int) -> None:
        while self.points:
            store.add_eval_point(run_id, self.points[0])
            self.points.pop(0)

    def finish(
        self, store, run_id: int, outcome: RunOutcome, timeline, run=None, refusals=REFUSALS
    ):
        """The run's end: the points that wait, the timeline, the outcome; kept beside the store
        (``keep_beside``, in the copy that holds its waiting points, if any) where it stays locked
        through every try, or its server stays away (a PostgreSQL store has tried for a minute
        already). ``run``: the tracked run, if it is one (else its points and study are read from
        the store, which a lock does not stop). ``refusals``: the errors whose end is kept (any
        other goes up). The copy's path where it was kept, else None."""
        for attempt in range(1, END_TRIES + 1):
            try:
                self.flush(store, run_id)
                if timeline is not None:
                    store.save_timeline(run_id, timeline)
                store.finish_run(run_id, outcome)
                self.drop_side()
                return None
            except refusals as exc:  # a lock is tried again; another refusal is kept at once
                if attempt == END_TRIES or not isinstance(exc, StoreLocked):
                    return self.keep(store, run_id, outcome, timeline, run, exc)
                log.warning(
                    "the results store %s is still locked by another process; trying again "
                    "(%d of %d) to record the end of run %s",
                    getattr(exc, "path", "?"),
                    attempt + 1,
                    END_TRIES,
                    run_id,
                )
            except KeyboardInterrupt:  # the wait for the lock stopped, not the run: kept, then up
                if self.told or attempt > 1:
                    why = "the wait for the results store's lock was interrupted"
                    self.keep(store, run_id, outcome, timeline, run, why)
                raise
        return None

    def keep(self, store, run_id: int, outcome: RunOutcome, timeline, run, exc) -> Path:
        """The run's end kept beside the store (``kept``), its loggers told; ``NotKept`` where it
        cannot be."""
        self._close_side()  # its copy of the run is finished in place
        refused = vars(run).get("_unrecorded") if run is not None else None
        if refused is not None:  # every point goes with it: it lacks none there
            outcome = dataclasses.replace(outcome, faults=refused.kept_whole(outcome.faults))
            run.outcome = outcome
        path = kept(store, Whole.of(store, run_id, self, run), outcome, timeline, exc, self.side)
        tell = getattr(store, "tell_finished", None)  # an observed store's loggers
        if tell is not None:
            tell(run_id, outcome)
        return path


def _tell(store, run_id: int, point: EvalPoint) -> None:
    """An observed store's loggers hear ``point`` now, once (``loggers/observe.py``)."""
    tell = getattr(store, "tell_point", None)
    if tell is not None:
        tell(run_id, point)


@dataclasses.dataclass
class Whole:
    """What a run kept beside its store holds: its record as begun, every point, its study."""

    run_id: int
    begun: RunRecord | None
    points: list[EvalPoint]
    study: dict | None  # its config; None: read from the store

    @classmethod
    def of(cls, store, run_id: int, waiting: Pending, run=None) -> Whole:
        if run is not None:  # a tracked run: its own points, its study as its tracker defines it
            return cls(run_id, waiting.begun, list(run.points), run.study_config)
        points = {p.index: p for p in [*store.eval_points(run_id), *waiting.points]}
        return cls(run_id, waiting.begun, [points[i] for i in sorted(points)], None)


class NotKept(PowertrainError):
    """A run's end that neither its store nor a copy beside it took: the message says what it
    measured, so that the figures are not lost with it."""


def kept(store, whole: Whole, outcome: RunOutcome, timeline, exc, side=None) -> Path:
    """``keep_beside``, or ``NotKept`` saying that the run's end is not recorded anywhere (the disk
    beside the store full or read-only, say) and what it measured."""
    try:
        return keep_beside(store, whole, outcome, timeline, exc, side)
    except (OSError, sqlite3.Error, PowertrainError) as error:
        estimate = " (an ESTIMATE)" if whole.begun is not None and whole.begun.estimated else ""
        raise NotKept(
            f"{exc}. The run could not be kept beside it either ({error}): the end of run "
            f"{whole.run_id} is not recorded; it stays unfinished in the store, begun afresh next "
            f"time. What it measured: {outcome.status.value}, {outcome.total_energy_j:.1f} J"
            f"{estimate} in {outcome.duration_s:.1f} s over {len(whole.points)} evaluations"
        ) from None


def keep_beside(store, whole: Whole, outcome: RunOutcome, timeline, exc, side=None) -> Path:
    """The whole run, finished, in a new SQLite store beside ``store``'s file (a PostgreSQL
    store's: in the working folder), or in ``side``, the copy that kept its waiting points (the
    finished run replaces the unfinished one there); a warning says where, and how to merge it
    back. ``whole.begun``: the run's record as begun (else read now: a lock does not stop
    reading)."""
    from powertrain.store import open_store

    if getattr(store, "path", None) is None and not getattr(store, "shared_by_hosts", False):
        raise PowertrainError("a store in memory has no file to keep it beside")
    begun = whole.begun or store.run(whole.run_id)
    if begun is None:
        raise PowertrainError(f"run {whole.run_id}'s record could not be read")
    config = whole.study
    if config is None:
        config = next((s["config"] for s in store.studies() if s["name"] == begun.study), {})
    record = dataclasses.replace(
        begun, status=outcome.status, outcome=outcome, finished_at=time.time()
    )
    path = getattr(store, "path", None)
    into = str(path) if path is not None else str(store)  # a URL's password masked
    target = side or rescue_path(kept_.beside(store), "unrecorded")
    with open_store(target) as copy:
        copy.save_study(begun.study, config)
        if copy.copy_run(record, whole.points, timeline) is None:
            raise PowertrainError(f"{target} holds this run already and did not take its end")
    log.warning(
        "%s. The end of run %s of study %r could not be written there: the run, with its %d "
        "points and its outcome (%s), is kept in %s. Once the store takes writes again and this "
        "process has ended: powertrain merge %s -o %s",
        exc,
        whole.run_id,
        begun.study,
        len(whole.points),
        outcome.status.value,
        target,
        target,
        into,
    )
    return target
