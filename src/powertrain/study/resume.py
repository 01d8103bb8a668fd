"""A paused run's checkpoint, as the one run body sees it: where it is (by run key, in the artifacts
folder, so that a run paused in one process can go on in another), whose it is (the run key and a hash
of the spec), and what it says the run had spent."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from powertrain.study.artifacts import checkpoint_path
from powertrain.train.checkpoint import Checkpoint, Spent

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.plan import RunSpec


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
