"""A paused run's whole state, kept on disk so that it continues later exactly where it stopped, as if
it had never paused (a search's rung budget pauses runs; a promoted one is continued, not re-run).

Two files per run, named by its key: ``<key>.pt`` holds the state (model, optimiser, scheduler,
GradScaler, the torch, CUDA, NumPy and Python random states, the data order: the shuffle generator's
state at the start of the current epoch and how many of that epoch's batches were done, the step and
sample counters, the training loss summed since the last evaluation), saved with ``torch.save`` of plain containers and loaded only with
``torch.load(..., weights_only=True)``; ``<key>.json`` holds what the run had spent when it paused
(energy per component, seconds, both including the save), its evaluation points so far, the faults
its windows noted and the meters that measured it. A checkpoint counts only with both files, each
written atomically (a file beside it, then a rename), each naming the run key and a hash of the run's
spec; any other file is not resumed, nor is a run paused under other meters (its joules so far are
theirs: an estimate continued under a counter would be labelled measured).

A run that pauses again (a continued one) keeps its earlier checkpoint whole until the new one is:
the new state goes to ``<key>.next.pt`` under a new ``saved_id``, then the summary naming that id
replaces the old one (the moment the new checkpoint counts), then the state is moved over
``<key>.pt``. Killed at any point, the summary on disk names a state that is there: the earlier one
before the summary's rename, the new one (in either file, moved into place when next read) after it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import pickle
import platform
import random
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from powertrain.meters.base import measurement_label
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
    #: Each component's meter (``meter_labels``) when it paused: its joules so far are theirs, so an
    #: attempt under other meters does not continue it. Empty in older summaries (not known).
    meter_labels: dict[str, str] = field(default_factory=dict)
    #: The span its pricing window priced (steps after the warm-up, their joules) where a window
    #: paused it: the run's final outcome keeps it, so that a search prices the run that went on on
    #: the same footing as the values left paused in their windows. None: no window priced it.
    priced: tuple[int, float] | None = None
    #: The machine its last attempt ran on (``platform.node()``, as a run's hardware names its
    #: host): an attempt continuing it elsewhere says so. None in older summaries (not known).
    host: str | None = None
    #: The run's joules when ``host`` took it on (0: every attempt ran there): the attempts on it
    #: spent the rest, which a move to another machine names as spent there.
    host_since_j: float = 0.0

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

    @property
    def next_path(self) -> Path:
        """Where a new state is written while the summary still names the one at ``path``."""
        return self.path.with_suffix(".next.pt")

    def _identity(self) -> dict[str, Any]:
        return {"format": FORMAT, "run_key": self.run_key, "spec_sha256": self.spec_sha256}

    def spent(self, meter_labels: Mapping[str, str] | None = None) -> Spent | None:
        """The summary, when both files are there and are this run's; None otherwise (a file that is
        there but not this run's, or not whole, is removed, with one log line). ``meter_labels``:
        those (``meter_labels()``) of the meters that would continue it; a run paused under other
        meters is not continued under these (its checkpoint is removed too)."""
        if not self.summary_path.is_file():
            if self.path.exists() or self.next_path.exists() or self.summary_path.exists():
                self._discard("it is not whole (a process stopped while saving it)")
            return None
        try:
            summary = json.loads(self.summary_path.read_text())
            if not isinstance(summary, dict):
                raise TypeError("its summary is not a JSON object")
            if {k: summary.get(k) for k in self._identity()} != self._identity():
                self._discard("it belongs to another run or spec")
                return None
            points = [_point(p) for p in summary["points"]]
            if not isinstance(summary["energy_j"], dict):
                raise TypeError("its energy_j is not a JSON object")
            energy_j = {str(k): float(v) for k, v in summary["energy_j"].items()}
            duration_s = float(summary["duration_s"])
            if not all(math.isfinite(x) and x >= 0 for x in (*energy_j.values(), duration_s)):
                raise ValueError("its energy or duration is not a finite, non-negative number")
            faults = summary.get("faults", [])  # none in older summaries
            if not isinstance(faults, list) or not all(isinstance(f, str) for f in faults):
                raise TypeError("its faults are not a list of texts")
            labels = summary.get("meter_labels", {})  # none in older summaries
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
                raise TypeError("its meter_labels are not an object of texts")
            priced = _priced(summary.get("priced"))  # none in older summaries
            state_id = summary.get("state_id")  # none in older summaries: the state at ``path``
            host = summary.get("host")  # none in older summaries
            if host is not None and not isinstance(host, str):
                raise TypeError("its host is not a text")
            host_since_j = float(summary.get("host_since_j", 0.0))  # none in older summaries
            if not (math.isfinite(host_since_j) and host_since_j >= 0):
                raise ValueError("its host_since_j is not a finite, non-negative number")
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            self._discard(f"it cannot be read ({exc})")
            return None
        why = self._settle(state_id)
        if why is not None:  # its summary vouches for a state file since cut short or replaced
            self._discard(why)
            return None
        if meter_labels is not None and labels and labels != dict(meter_labels):
            self._discard(
                f"its joules so far were measured by other meters ({_listed(labels)}; "
                f"now {_listed(meter_labels)})"
            )
            return None
        return Spent(
            energy_j, duration_s, points, tuple(faults), labels, priced, host, host_since_j
        )

    def _settle(self, state_id: Any) -> str | None:
        """Put the state the summary names (``state_id``) at ``path``: it is there, or at
        ``next_path`` where a save stopped before moving it. None when done; else why it cannot be
        resumed (not whole, not torch's, another run's, not the one the summary names)."""
        found = {path: self._saved_id(path) for path in (self.next_path, self.path)}
        mine = [path for path, saved in found.items() if saved == (state_id, None)]
        if not mine:
            if not self.path.exists():
                return "its state file is missing"
            _, why = found[self.path]
            return why or "its state is not the one its summary names"
        if mine[0] == self.next_path:
            os.replace(self.next_path, self.path)
        else:  # a newer state whose summary was never written
            with contextlib.suppress(FileNotFoundError):
                self.next_path.unlink()
        return None

    def _saved_id(self, path: Path) -> tuple[Any, str | None]:
        """The ``saved_id`` of the state at ``path`` (None in older states), or why it cannot be
        resumed. Mapped, not read: its tensors are not loaded here."""
        if not path.is_file():
            return None, "its state file is missing"
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else repr(exc)
            return None, f"its state cannot be read ({why})"
        if not isinstance(state, dict) or any(
            state.get(k) != v for k, v in self._identity().items()
        ):
            return None, "its state belongs to another run or spec"
        return state.get("saved_id"), None

    def _discard(self, why: str) -> None:
        log.warning("run %s: not resuming %s: %s; starting afresh", self.run_key, self.path, why)
        self.remove()

    def save_state(self, state: dict[str, Any]) -> str:
        """Write the new state beside the one the summary names (which stays whole, and counts,
        until ``save_spent`` writes the summary naming this one); its ``saved_id``."""
        saved_id = secrets.token_hex(8)
        saved = {**self._identity(), "saved_id": saved_id, **state}
        _atomic(self.next_path, lambda f: torch.save(saved, f))
        return saved_id

    def save_spent(self, spent: Spent, state_id: str | None = None) -> str:
        """Write the summary naming the state ``save_state`` wrote (``state_id``; None: the one
        found, new or in place), from then on the checkpoint, then move that state into place; the
        id it names. ``StateTaken`` when that state is gone (another process read this checkpoint
        meanwhile and kept the one in place): the summary is not written, rather than paired with
        another state."""
        found = [(p, self._saved_id(p)) for p in (self.next_path, self.path)]
        found = [(p, saved) for p, (saved, why) in found if why is None]
        if state_id is not None:
            found = [(p, saved) for p, saved in found if saved == state_id]
        if not found:
            raise StateTaken(f"{self.path}: the state saved for this summary is not there")
        state, state_id = found[0]
        summary = {
            **self._identity(),
            "state_id": state_id,
            "energy_j": spent.energy_j,
            "duration_s": spent.duration_s,
            "points": [asdict(p) for p in spent.points],
            "faults": list(spent.faults),
            "meter_labels": spent.meter_labels,
            "priced": list(spent.priced) if spent.priced is not None else None,
            "host": spent.host,
            "host_since_j": spent.host_since_j,
        }
        _atomic(self.summary_path, lambda f: f.write(json.dumps(summary).encode()))
        if state == self.next_path:
            os.replace(self.next_path, self.path)
        return state_id

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
        """Remove its files, and what a save killed before a rename left (``_atomic``'s)."""
        for path in (self.path, self.next_path, self.summary_path):
            for each in (path, _partial(path)):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    each.unlink()


class StateTaken(OSError):
    """``save_spent``'s refusal when the state it was to name is gone: another process (a second store
    over the same artifacts folder, running the same run key) read the checkpoint meanwhile and settled
    on the state in place. The checkpoint on disk is that process's from then on."""


def written(checkpoint: Checkpoint, save, *what) -> str | None:
    """``save(*what)``: the id of the state saved; None (with a log line) when the disk refuses: the
    run stays paused, without a checkpoint to continue from (it is then run again from its start).
    ``StateTaken`` is raised: the checkpoint there is another process's, not to be removed."""
    try:
        return save(*what)
    except StateTaken as exc:
        log.warning(
            "run %s: paused without a checkpoint: %s (taken by another process meanwhile, whose "
            "checkpoint it is now)",
            checkpoint.run_key,
            exc,
        )
        raise
    except OSError as exc:
        log.warning("run %s: its checkpoint could not be saved: %s", checkpoint.run_key, exc)
        return None


def since_first_start(
    earlier: Spent | None,
    energy_j: dict[str, float],
    duration_s: float,
    points: list[EvalPoint],
    faults: tuple[str, ...] = (),
) -> Spent:
    """An attempt's figures (and faults) on this machine as the run's since its first start: the
    earlier attempts' (``earlier``, what its checkpoint kept) added, their faults first, and a note
    where they ran on another machine."""
    here = platform.node() or None  # '': its name not found (as an older summary's None)
    if earlier is None:
        return Spent(dict(energy_j), duration_s, points, tuple(faults), host=here)
    before = earlier.energy_j
    total = {c: before.get(c, 0.0) + energy_j.get(c, 0.0) for c in {*before, *energy_j}}
    faults = (*earlier.faults, *_moved_note(earlier, here), *faults)
    # the joules spent before this machine took the run on: all earlier ones, unless the
    # attempt before ran here too (then since it took the run on)
    since = earlier.host_since_j if here == earlier.host else earlier.total_energy_j
    duration_s += earlier.duration_s
    return Spent(total, duration_s, points, faults, host=here, host_since_j=since)


def _moved_note(earlier: Spent, here: str | None) -> tuple[str, ...]:
    """The note that an attempt on ``here`` continued a pause made on another machine: the run's
    figure adds up joules of two machines, while its record names one."""
    if not earlier.host or not here or earlier.host == here:  # a machine not known: unsaid
        return ()
    there_j = max(earlier.total_energy_j - earlier.host_since_j, 0.0)  # not before, elsewhere
    return (
        f"continued on {here} from a pause on {earlier.host}: {there_j:.3g} J of "
        "its figure were spent before it, there (its record names one machine)",
    )


def meter_labels(provenance: Mapping[str, Any]) -> dict[str, str]:
    """Each component's ``measurement_label`` ("measured: rapl/counter", "ESTIMATE: estimate/
    estimate"), from a Measurement's or a run environment's provenance."""
    return {str(getattr(c, "value", c)): measurement_label(p) for c, p in provenance.items()}


def _point(saved: Any) -> EvalPoint:
    """A point as ``save_spent`` wrote it; TypeError for one of other types (carried into the
    continued run, it would end the run, or a later read of its record, in a traceback)."""
    point = EvalPoint(**saved)
    whole = (point.index, point.step, point.samples_seen)
    loss = () if point.train_loss is None else (point.train_loss,)  # None: no loss to report
    numbers = (point.epoch, point.val_accuracy, point.elapsed_s, *loss)
    by_name = (point.energy_j, point.task_accuracies)
    if not (
        all(isinstance(x, int) and not isinstance(x, bool) for x in whole)
        and all(map(_is_number, numbers))
        and all(isinstance(d, dict) and all(map(_is_number, d.values())) for d in by_name)
    ):
        raise TypeError(f"its point {point.index!r} is not a point's shape")
    return point


def _priced(saved: Any) -> tuple[int, float] | None:
    """The priced span as ``save_spent`` wrote it (``[steps, joules]``, or null); ValueError else."""
    if saved is None:
        return None
    if not (isinstance(saved, list) and len(saved) == 2 and all(map(_is_number, saved))):
        raise ValueError(f"its priced span {saved!r} is not [steps, joules]")
    steps, joules = saved
    if not (isinstance(steps, int) and steps > 0 and math.isfinite(joules)):
        raise ValueError(f"its priced span {saved!r} is not [steps, joules]")
    return steps, float(joules)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _listed(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{c} {label}" for c, label in sorted(labels.items()))


def _partial(path: Path) -> Path:
    """Where ``_atomic`` writes ``path`` before its rename (left there by a kill in between)."""
    return path.with_name(path.name + ".partial")


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(path)
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
    """Put back the random states ``rng_state`` saved; those of GPUs this machine does not have are
    left out (a run paused on a machine of more GPUs, continued on one of fewer: only the GPUs it
    trains on here draw, and setting an absent GPU's state would fail the run)."""
    torch.set_rng_state(state["torch"])
    gpus = torch.cuda.device_count() if state["cuda"] and torch.cuda.is_available() else 0
    for index, cuda_state in enumerate(state["cuda"][:gpus]):
        torch.cuda.set_rng_state(cuda_state, index)
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, py_gauss = state["python"]
    random.setstate((version, tuple(internal), py_gauss))
