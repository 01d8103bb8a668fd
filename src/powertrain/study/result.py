"""What running a study yields (``StudyResult``; the pretrained weights its fine-tuned runs start from,
``Pretrained``), and the callbacks that watch it happen (``Reporter``: the command line draws them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from powertrain.records import EvalPoint, RunOutcome
from powertrain.study.config import Setup, StudyConfig

if TYPE_CHECKING:  # a field's type only (importing executors/ from here would run its __init__)
    from powertrain.study.executors.machine import MachineTotal


class Reporter:
    """Progress callbacks; the CLI draws them, the default ignores them."""

    def study_started(self, study: StudyConfig, total: int, to_run: int) -> None: ...
    def run_started(self, setup: Setup, seed: int) -> None: ...
    def eval_point(self, point: EvalPoint) -> None: ...
    def run_finished(self, setup: Setup, seed: int, outcome: RunOutcome, method: str) -> None: ...
    def study_finished(self, result: StudyResult) -> None: ...


@dataclass(frozen=True)
class Pretrained:
    path: Path
    energy_j: float | None  # None: unknown (an external checkpoint whose cost nobody gave)
    source: str  # "measured", "entered by the user", "unknown"
    run_id: int | None = None


@dataclass
class StudyResult:
    ran: int = 0  # the grid's runs executed now (the pretraining stage is not one)
    skipped: int = 0
    outcomes: list[RunOutcome] = field(default_factory=list)
    pretrained: Pretrained | None = None
    claimed_elsewhere: int = 0  # runs another process was training, left to it
    study: str = ""  # the name its runs are stored under (NAME@2 for a changed definition)
    changes: list[str] = field(default_factory=list)  # what changed, when it became a new version
    # the machine's own total over the sweep, of the devices parallel runs shared (their parts are
    # apportioned); None when no device was shared
    machine_total: MachineTotal | None = None
    #: What the pauses of a search that the grid continued from their checkpoints had spent in
    #: that search (in their records, not the grid's spending: ``study/over_search.py``).
    carried_j: float = 0.0
    #: The same, per component (the machine's total over the sweep leaves it out of the runs'
    #: parts: it was spent before the sweep).
    carried_energy_j: dict[str, float] = field(default_factory=dict)
