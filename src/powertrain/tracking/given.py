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
