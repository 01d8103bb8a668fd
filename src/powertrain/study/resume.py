"""A paused run's checkpoint, as the one run body sees it: where it is (by run key, in the artifacts
folder, so that a run paused in one process can go on in another), whose it is (the run key and a hash
of the spec), and what it says the run had spent."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from powertrain.records import EvalPoint
from powertrain.store.location import DEFAULT_STORE_NAME
from powertrain.study.artifacts import checkpoint_path, shared_artifacts_dir
from powertrain.train.checkpoint import FORMAT, Checkpoint, Spent

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.plan import RunSpec

log = logging.getLogger(__name__)


class RunPlace(Protocol):
    """Where a run executes, as far as its checkpoint goes: its study, and the artifacts folder the
    checkpoint lies in (``execute.RunEnv`` is one)."""

    study: StudyConfig
    artifacts_dir: Path


@dataclass(frozen=True)
class StudyPlace:
    """A run place that opens nothing: a coordinator's, whose runs execute in workers or on Ray
    nodes that open their own environments, and which only finds and removes checkpoints."""

    study: StudyConfig
    artifacts_dir: Path


def spec_sha256(spec: RunSpec) -> str:
    """A hash of everything in the spec that determines the run (not ``replace_failed`` or
    ``replace_censored``, nor the ``window`` an attempt paused at: the run continued from it is the
    same run)."""
    attempt = ("replace_failed", "replace_censored", "window")
    identity = {k: v for k, v in asdict(spec).items() if k not in attempt}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def run_checkpoint(spec: RunSpec, env: RunPlace) -> Checkpoint | None:
    """The run's checkpoint (not yet read); None for a command task (its script trains)."""
    if env.study.task.command:
        return None
    path = checkpoint_path(env.artifacts_dir, spec.study, spec.run_key)
    return Checkpoint(path, spec.run_key, spec_sha256(spec))


def paused_spent(spec: RunSpec, env: RunPlace) -> Spent | None:
    """What the run had spent and recorded when it paused, when its checkpoint can be resumed; None
    when there is none, or it is not this run's (it is then removed, with a log line)."""
    checkpoint = run_checkpoint(spec, env)
    return checkpoint.spent() if checkpoint is not None else None


def discard(spec: RunSpec, env: RunPlace) -> None:
    """Remove the run's checkpoint (a search that ends without continuing the run)."""
    checkpoint = run_checkpoint(spec, env)
    if checkpoint is not None:
        checkpoint.remove()


def adopt_earlier(spec: RunSpec, env: RunPlace, points: list[EvalPoint]) -> None:
    """Bring a paused run's checkpoint into the store's own artifacts folder from the one the stores
    beside it all shared before (``runs/artifacts`` for ``runs/a.db-artifacts``), when it is this
    store's pause: its summary names the run and holds the stored pause's very ``points`` (their
    joules and seconds are one attempt's). Another store's is left there untouched (not read further,
    never removed). Copied, then removed there (unless the default store beside owns that folder: a
    copy of this store may hold the same pause): a process stopped on the way leaves it whole there."""
    if env.study.task.command or (shared := shared_artifacts_dir(env.artifacts_dir)) is None:
        return
    mine = checkpoint_path(env.artifacts_dir, spec.study, spec.run_key)
    earlier = checkpoint_path(shared, spec.study, spec.run_key)
    if mine.with_suffix(".json").exists():
        return
    if not _holds(earlier, spec, points):
        if earlier.with_suffix(".json").is_file():
            log.info(
                "run %s: its checkpoint in %s is not this store's pause (another store's beside "
                "it): left there untouched, the run begun afresh",
                spec.run_key,
                shared,
            )
        return
    mine.parent.mkdir(parents=True, exist_ok=True)
    suffixes = (".next.pt", ".pt", ".json")  # the summary last: it counts once it is there
    for suffix in suffixes:
        if (file := earlier.with_suffix(suffix)).is_file():
            part = mine.with_suffix(suffix + ".part")
            shutil.copyfile(file, part)
            os.replace(part, mine.with_suffix(suffix))
    kept = (shared.parent / DEFAULT_STORE_NAME).exists()  # the default store's folder: its copy too
    for suffix in () if kept else suffixes:
        earlier.with_suffix(suffix).unlink(missing_ok=True)
    how = "copied" if kept else "moved"
    log.info(
        "run %s: its checkpoint %s from %s into this store's %s", spec.run_key, how, shared, mine
    )


def _holds(path: Path, spec: RunSpec, points: list[EvalPoint]) -> bool:
    """Whether the checkpoint at ``path`` is this run's pause with ``points`` (read, never changed)."""
    try:
        summary = json.loads(path.with_suffix(".json").read_text())
        identity = (summary["format"], summary["run_key"], summary["spec_sha256"])
        kept = [EvalPoint(**p) for p in summary["points"]]
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return False
    return identity == (FORMAT, spec.run_key, spec_sha256(spec)) and kept == list(points)
