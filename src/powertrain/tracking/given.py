"""What each rank of a job gives ``track()`` beside its run key, which must be rank 0's (it alone
records the run): compared at the ranks' first exchange (``job.Job.problem``)."""

from __future__ import annotations

import os
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.store.location import locate, mask_url


def given(tracker) -> dict[str, str]:
    """What ``tracker`` was given that every rank must share with rank 0 (``job.GIVEN``): its
    study, its store (a file's absolute path, a URL with its password masked) and ``if_finished``."""
    return {
        "study": tracker.study,
        "store": store_name(tracker.db),
        "if_finished": tracker.if_finished,
    }


def store_name(db) -> str:
    """The store ``db`` names, as ranks on one file system compare it: the absolute path of a file
    (``runs.db`` in one working folder is the same file as its absolute path), a URL masked."""
    if db is not None and not isinstance(db, (str, os.PathLike)):  # a store object
        path, url = getattr(db, "path", None), getattr(db, "url", None)
        if path is None:
            return mask_url(str(url)) if url is not None else type(db).__name__
        db = path
    try:
        where = locate(db)
    except PowertrainError:  # not a store: opening it says so
        return str(db)
    return str(where) if where.is_postgres else str(Path(where.path).resolve())


#: What a rank's track() is given beside its run key, and how the error names it.
GIVEN = {"study": "study", "store": "db", "if_finished": "if_finished"}


def differs(mine, m) -> str | None:
    """Why the rank of ``m`` (a ``job.Message``) was given another study, store or ``if_finished``
    than rank 0 (``mine``), or None: a study name with the rank or the time in it, a db per rank,
    whose rank 0's alone would be used, silently. A store is compared on rank 0's machine only:
    another machine may mount the same file at another path."""
    for name, option in GIVEN.items():
        if name == "store" and not _same_machine(mine.reading, m.reading):
            continue
        ours, theirs = (mine.given or {}).get(name), (m.given or {}).get(name)
        if ours is not None and theirs is not None and ours != theirs:
            return (
                f"rank {m.rank} was given {option}={theirs!r}, rank 0 {option}={ours!r}: every "
                f"rank of a job must pass the same {option} to track() (rank 0 alone records the "
                "run, and would record it under its own)"
            )
    return None


def _same_machine(a, b) -> bool:
    """Whether two ranks' readings (``combine.RankReading``) are known to come from one machine
    (its boot id, else its name)."""
    if a is None or b is None:
        return False
    ours, theirs = a.machine or a.host, b.machine or b.host
    return bool(ours) and ours == theirs
