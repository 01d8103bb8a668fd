"""Runs a tracked process kept beside its results store (``pending.keep_beside``: the store stayed
locked through the run's end) and that were not merged back yet: the attempt they finish is
unfinished in the store meanwhile, and what it spent or how it ended is read here (a restart
counts its joules, ``attempts.py``; a run tracked again finds it finished, ``store.finished_run``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.records import RunRecord


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


def find(store, record: RunRecord) -> tuple[RunRecord, Path] | None:
    """``kept_copy``, and the file it is kept in."""
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
            if run.outcome is not None and same == (
                record.run_key,
                record.started_at,
                record.hardware,
            ):
                return run, side
    return None
