"""Runs a tracked process kept beside its results store (``pending.keep_beside``: the store stayed
locked through the run's end) and that were not merged back yet: the attempt they finish is
unfinished in the store meanwhile, and what it spent or how it ended is read here (a restart
counts its joules, ``attempts.py``; a run tracked again finds it finished, ``store.finished_run``).
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from pathlib import Path
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.records import RUNNING, RunRecord

log = logging.getLogger(__name__)


def beside(store) -> Path:
    """The path the runs kept beside ``store`` are named after: its file as opened (whatever the
    working folder is now), or for a PostgreSQL store ``powertrain.db`` in the working folder."""
    path = getattr(store, "_watched", getattr(store, "path", None))
    return Path(path) if path is not None else Path.cwd() / "powertrain.db"


def kept_copy(store, record: RunRecord) -> RunRecord | None:
    """The finished copy of ``record`` (an attempt left unfinished in ``store``) that its process
    kept beside the store and that was not merged back yet, or None."""
    found = find(store, record)
    return found[0] if found is not None else None


def find(store, record: RunRecord, finished: bool = True) -> tuple[RunRecord, Path] | None:
    """``kept_copy``, and the file it is kept in; with ``finished`` False, the unfinished copy
    instead (a process ended while points of it waited for the lock: ``pending.py``)."""
    from powertrain.store import existing_store

    where = beside(store)
    for side in sorted(where.parent.glob(f"{where.stem}.unrecorded-*{where.suffix or '.db'}")):
        try:
            with existing_store(side) as kept:
                runs = kept.runs(record.study)
        except (OSError, sqlite3.Error, PowertrainError):  # not a store (any more): not this run
            continue
        for run in runs:
            same = (run.run_key, run.started_at, run.hardware)
            if (run.outcome is not None) == finished and same == (
                record.run_key,
                record.started_at,
                record.hardware,
            ):
                return run, side
    return None


def take_back(store, study: str, run_key: str) -> int:
    """The points a process ended (killed) while they waited for the lock left in a copy beside
    ``store`` (``pending.py``): an attempt of this run unfinished in the store, held by no process,
    with fewer points than its copy, is replaced by that copy (``copy_run`` decides), and the copy,
    holding nothing else, removed. So the next track of the run (a restart that counts the earlier
    attempt's joules, say) finds them. Returns how many attempts were taken back."""
    from powertrain.store import existing_store

    taken = 0
    for record in store.runs(study):
        found = find(store, record, finished=False) if record.run_key == run_key else None
        if record.status != RUNNING or found is None:
            continue
        copy, side = found
        with existing_store(side) as kept:
            points, alone = kept.eval_points(copy.id), len(kept.runs()) == 1
        if store.copy_run(copy, points) is None:  # held by a live process, or not further on
            continue
        taken += 1
        log.warning(
            "run %s of study %r was left unfinished by a process that ended while its last "
            "points waited for the store's lock; its %d points are taken back from %s",
            record.id,
            study,
            len(points),
            side,
        )
        for path in (side, *(Path(f"{side}{x}") for x in ("-wal", "-shm"))) if alone else ():
            path.unlink(missing_ok=True)
    return taken


def with_kept_ends(store: Any, records: list[RunRecord]) -> list[RunRecord]:
    """``records``, each attempt unfinished in the store whose end was kept beside it (a lock:
    ``pending.py``) in its finished copy's place, said with the command that merges it back: a
    study run again does not train it twice (and its copy, merged after, does not add a second
    finished attempt of the run)."""
    return [(finished_copy(store, r) or r) if r.status == RUNNING else r for r in records]


def finished_copy(store: Any, record: RunRecord) -> RunRecord | None:
    """``record``'s finished copy kept beside the store, said with the command that merges it back;
    numbered as the store numbers the attempt."""
    found = find(store, record)
    if found is None:
        return None
    copy, side = found
    log.warning(
        "run %s of study %r is unfinished in the store, but finished (%s): its end is kept in %s, "
        "not merged back yet (powertrain merge %s -o %s)",
        record.id,
        record.study,
        copy.status.value,
        side,
        side,
        beside(store),
    )
    return dataclasses.replace(copy, id=record.id)
