"""Where a tracked run meets the results store. ``begin_run`` is the one call written against the
store's ``begin_run`` signature, so a change of that contract is one change here."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import FAILED, FINAL_STATUSES, RUNNING, RunRecord
from powertrain.store import kept as kept_
from powertrain.store.base import ResultStore

log = logging.getLogger(__name__)

SOURCE = "track"  # marks a study made by track() or a framework callback, not by a study file


def open_db(db: str | Path | ResultStore | None) -> tuple[ResultStore, bool]:
    """The store and whether we opened it (and so close it)."""
    if isinstance(db, ResultStore):
        return db, False
    from powertrain.store import open_store

    return open_store(db), True


_IN_PROGRESS: set[tuple] = set()  # (store, study, run key) of the runs tracked in this process now
_IN_PROGRESS_LOCK = threading.Lock()


def hold(store: ResultStore, study: str, key: str) -> tuple:
    """Mark this run as being tracked in this process, or refuse: a second ``track()`` of the run in
    progress (inside its own block, or from another thread) would begin it afresh, deleting the run
    being recorded. Undone by ``release``, however the run ends. A job's other ranks, which open
    no store (``store`` None), refuse it too, at once, rather than wait for rank 0 in vain."""
    path = getattr(store, "path", None)
    where = str(Path(path).resolve()) if path is not None and str(path) != ":memory:" else id(store)
    held = (where, study, key)
    with _IN_PROGRESS_LOCK:
        if held in _IN_PROGRESS:
            raise PowertrainError(
                f"this run of study {study!r} (the same setup and seed) is being tracked already in "
                "this process; a track() of it inside its own block would replace it. Track "
                "another seed, setup or study, or end the first block before"
            )
        _IN_PROGRESS.add(held)
    return held


def release(held: tuple | None) -> None:
    with _IN_PROGRESS_LOCK:
        _IN_PROGRESS.discard(held)


def run_key(setup: dict, train: dict, seed: int, targets: dict[str, float]) -> str:
    """Everything that determines a tracked run, hashed the way study run keys are."""
    identity = {"source": SOURCE, "setup": setup, "train": train, "seed": seed, "targets": targets}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[
        :20
    ]


def study_config(study: str, targets: dict[str, float], model: str, data: str) -> dict[str, Any]:
    """What ``ls``, ``report`` and ``compare`` read of a study: its task and target."""
    task: dict[str, Any] = {"dataset": data, "model": model}
    if len(targets) == 1:
        task["target_accuracy"] = next(iter(targets.values()))
    else:
        task["targets"] = dict(targets)
    return {"name": study, "source": SOURCE, "task": task, "targets": dict(targets)}


def save_study(store: ResultStore, config: dict[str, Any]) -> None:
    """Record the study, refusing to mix tracked runs into a study file's study, or one target with
    another (a study compares its runs against one target)."""
    name = config["name"]
    existing = next((s["config"] for s in store.studies() if s["name"] == name), None)
    if existing is not None and existing.get("source") != SOURCE:
        raise PowertrainError(
            f"study {name!r} in the store was made by `powertrain run` from a study file; "
            "track your own loop under another study name"
        )
    if existing is not None and existing.get("targets") != config["targets"]:
        raise PowertrainError(
            f"study {name!r} was tracked with target {existing.get('targets')}, not "
            f"{config['targets']}; a study compares its runs against one target: use another "
            "study name for another target"
        )
    store.save_study(name, config)


def finished_run(store: ResultStore, study: str, key: str, retry_failed: bool) -> RunRecord | None:
    """The finished run at this key that a new attempt would clash with, or None. An attempt
    unfinished in the store whose end was kept beside it (a lock) is finished: begun again, it
    would be trained twice, and both counted once the copy is merged back."""
    for record in store.runs(study):
        if record.run_key != key:
            continue
        if record.status == RUNNING:
            record = kept_.finished_copy(store, record) or record
        if record.status not in FINAL_STATUSES or (retry_failed and record.status == FAILED):
            continue
        return record
    return None


def begin_run(
    store: ResultStore,
    study: str,
    key: str,
    setup: dict,
    train: dict,
    seed: int,
    hardware: dict,
    provenance: dict,
    replace_failed: bool,
) -> int:
    """Start the attempt (the store removes an unfinished earlier one): the one call on the store's
    ``begin_run``."""
    from powertrain.study.plan import RunSpec

    spec = RunSpec(study, key, setup, train, seed, replace_failed=replace_failed)
    try:
        return store.begin_run(spec, hardware, provenance)
    except RunClaimed as exc:
        raise PowertrainError(
            f"{exc} now: the same study, setup and seed, tracked in another process. Track another "
            "seed, setup or study, or again once that run has ended"
        ) from None
    except ValueError as exc:  # finished by another process since ``finished_run`` looked
        raise FinishedMeanwhile(str(exc)) from None


class FinishedMeanwhile(PowertrainError):
    """The run was finished by another process between the look for it and its claim."""


def begun(store: ResultStore, run_id: int) -> RunRecord | None:
    """The run's record as begun (its start and hardware: what a copy of it is matched by), or None
    where the store cannot say now (a server gone just after the claim)."""
    try:
        return store.run(run_id)
    except PowertrainError:
        return None
