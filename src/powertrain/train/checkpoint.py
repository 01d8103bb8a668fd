"""A paused run's whole state, kept on disk so that it continues later exactly where it stopped, as if
it had never paused (a search's rung budget pauses runs; a promoted one is continued, not re-run).

Two files per run, named by its key: ``<key>.pt`` holds the state (model, optimiser, scheduler,
GradScaler, the torch, CUDA, NumPy and Python random states, the data order: the shuffle generator's
state at the start of the current epoch and how many of that epoch's batches were done, the step and
sample counters, the training loss summed since the last evaluation), saved with ``torch.save`` of plain containers and loaded only with
``torch.load(..., weights_only=True)``; ``<key>.json`` holds what the run had spent when it paused
(energy per component, seconds, both including the save) and its evaluation points so far. The JSON is
written last: a checkpoint counts only with both files, each written atomically (a file beside it,
then a rename), each naming the run key and a hash of the run's spec; any other file is not resumed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from powertrain.records import EvalPoint

log = logging.getLogger(__name__)

FORMAT = 1


@dataclass(frozen=True)
class Spent:
    """What a paused run had spent and recorded by the time it paused (its checkpoint's summary)."""

    energy_j: dict[str, float]  # per component, cumulative since the run's first start
    duration_s: float
    points: list[EvalPoint]
    #: What the attempts' windows noted (a meter's faults, a figure below what it resolves), each
    #: marked as from before a pause: the run's figure includes theirs, so its outcome keeps them.
    faults: tuple[str, ...] = ()

    @property
    def total_energy_j(self) -> float:
        return sum(self.energy_j.values())


@dataclass(frozen=True)
class Checkpoint:
    """Where a run's state is kept while it is paused, and whose it is. ``earlier``: continue from it
    (what :meth:`spent` read: the earlier attempts' figures and points); None: the run starts afresh,
    and the files are only written (when it pauses) or removed (when it ends)."""

    path: Path  # the state; the summary is beside it, ``.json``
    run_key: str
    spec_sha256: str
    earlier: Spent | None = None

    @property
    def summary_path(self) -> Path:
        return self.path.with_suffix(".json")

    def _identity(self) -> dict[str, Any]:
        return {"format": FORMAT, "run_key": self.run_key, "spec_sha256": self.spec_sha256}

    def spent(self) -> Spent | None:
        """The summary, when both files are there and are this run's; None otherwise (a file that is
        there but not this run's, or not whole, is removed, with one log line)."""
        if not self.path.is_file() or not self.summary_path.is_file():
            if self.path.exists() or self.summary_path.exists():
                self._discard("it is not whole (a process stopped while saving it)")
            return None
        try:
            summary = json.loads(self.summary_path.read_text())
            if {k: summary.get(k) for k in self._identity()} != self._identity():
                self._discard("it belongs to another run or spec")
                return None
            points = [EvalPoint(**p) for p in summary["points"]]
            energy_j = {str(k): float(v) for k, v in summary["energy_j"].items()}
            faults = tuple(str(f) for f in summary.get("faults", ()))  # none in older summaries
            spent = Spent(energy_j, float(summary["duration_s"]), points, faults)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            self._discard(f"it cannot be read ({exc})")
            return None
        why = self._state_unusable()
        if why is not None:  # its summary vouches for a state file since cut short or replaced
            self._discard(why)
            return None
        return spent

    def _state_unusable(self) -> str | None:
        """Why the state file cannot be resumed (not whole, not torch's, another run's), or None.
        Mapped, not read: its tensors are not loaded here."""
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True, mmap=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            return f"its state cannot be read ({str(exc).splitlines()[0] if str(exc) else exc!r})"
        if not isinstance(state, dict) or any(
            state.get(k) != v for k, v in self._identity().items()
        ):
            return "its state belongs to another run or spec"
        return None

    def _discard(self, why: str) -> None:
        log.warning("run %s: not resuming %s: %s; starting afresh", self.run_key, self.path, why)
        self.remove()

    def save_state(self, state: dict[str, Any]) -> None:
        with contextlib.suppress(
            FileNotFoundError
        ):  # an older summary must not vouch for new state
            self.summary_path.unlink()
        _atomic(self.path, lambda f: torch.save({**self._identity(), **state}, f))

    def save_spent(self, spent: Spent) -> None:
        summary = {
            **self._identity(),
            "energy_j": spent.energy_j,
            "duration_s": spent.duration_s,
            "points": [asdict(p) for p in spent.points],
            "faults": list(spent.faults),
        }
        _atomic(self.summary_path, lambda f: f.write(json.dumps(summary).encode()))

    def load_state(self) -> dict[str, Any]:
        """The saved state; raises ValueError when the file is not this run's."""
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ValueError(f"{self.path} holds more than plain state: {exc}") from None
        if not isinstance(state, dict) or any(
            state.get(k) != v for k, v in self._identity().items()
        ):
            raise ValueError(f"{self.path} is not the checkpoint of run {self.run_key}")
        return state

    def remove(self) -> None:
        for path in (self.path, self.summary_path):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                path.unlink()


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "wb") as f:
            write(f)
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def rng_state() -> dict[str, Any]:
    """Every global random state a run draws from, as plain containers."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": [version, list(internal), py_gauss],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, py_gauss = state["python"]
    random.setstate((version, tuple(internal), py_gauss))
