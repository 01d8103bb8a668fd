"""What a run records: evaluation points as they happen, and its outcome at the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: A run's status. Every status but RUNNING is final.
RUNNING, REACHED, CENSORED, DIVERGED, FAILED = (
    "running",
    "reached",
    "censored",
    "diverged",
    "failed",
)
FINAL_STATUSES = (REACHED, CENSORED, DIVERGED, FAILED)


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation: where training was, what it had cost so far (cumulative, per component)."""

    index: int
    step: int
    epoch: float
    samples_seen: int
    train_loss: float | None
    val_accuracy: float
    elapsed_s: float
    energy_j: dict[str, float]
    task_accuracies: dict[str, float] = field(default_factory=dict)  # val_accuracy is their mean

    @property
    def total_energy_j(self) -> float:
        return sum(self.energy_j.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_energy_j": self.total_energy_j}


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended. ``*_to_target`` are the cumulative figures at the first evaluation that reached
    the target; None when it never did (a censored run keeps everything it spent in ``total_*``)."""

    status: str
    stop_reason: str
    total_energy_j: float
    energy_j: dict[str, float]
    duration_s: float
    steps: int
    final_val_accuracy: float | None = None
    test_accuracy: float | None = None
    energy_to_target_j: float | None = None
    time_to_target_s: float | None = None
    steps_to_target: int | None = None
    error: str | None = None
    task_test_accuracies: dict[str, float] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)  # what went wrong with the run's figures


@dataclass(frozen=True)
class RunRecord:
    """A run as the store holds it."""

    id: int
    study: str
    run_key: str
    setup: dict[str, Any]  # the grid's values
    train: dict[str, Any]  # every hyperparameter
    seed: int
    status: str
    hardware: dict[str, Any]
    provenance: dict[str, dict[str, Any]]  # per component: meter, method, estimated, details
    started_at: float
    outcome: RunOutcome | None = None
    finished_at: float | None = None
    stage: str = "train"  # or "pretrain"

    @property
    def estimated(self) -> bool:
        return is_estimated(self.provenance)

    @property
    def method_label(self) -> str:
        return method_label(self.provenance)


def is_estimated(provenance: dict[str, dict[str, Any]]) -> bool:
    return any(p.get("estimated", True) for p in provenance.values())


def method_label(provenance: dict[str, dict[str, Any]]) -> str:
    """e.g. ``ESTIMATE (cpu estimate, ram estimate)`` or ``measured (gpu counter, cpu counter)``."""
    parts = ", ".join(f"{c} {p.get('method')}" for c, p in provenance.items())
    return f"{'ESTIMATE' if is_estimated(provenance) else 'measured'} ({parts})"
