"""What a run records: evaluation points as they happen, and its outcome at the end. The shared types of
the flow (status, verdict, stage, the multitask marker) live here, near the bottom of the import order:
every stage may import this module, and it imports only how a figure says how it knows
(``meters/base.py``: ``Provenance`` and the one measured/estimated labeller)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from powertrain.meters.base import Provenance, is_estimated, measurement_label


class Status(StrEnum):
    """A run's status. Every status but RUNNING is final."""

    RUNNING = "running"
    REACHED = "reached"
    CENSORED = "censored"
    DIVERGED = "diverged"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self is not Status.RUNNING


class Verdict(StrEnum):
    """Why a run ended (or paused): the typed reason beside the run's ``stop_reason`` (the details, in
    words for people). The store keeps it in its own column; code decides from it, never from prose.
    ``status`` is the status it ends a run with; ``by_search``: a search ended the run, so what it
    spent is a lower bound, not how far the setup goes alone; ``search_only``: only a search ends a
    run so (never the grid's own run), so the grid runs it again; ``words``: how a report says it."""

    TARGET = "target"
    MAX_EPOCHS = "max_epochs"
    MAX_TIME = "max_time"
    MAX_ENERGY = "max_energy"
    ENDED = "ended"  # its training ended short of the target (a tracked block, a command)
    HANDLER = "handler"  # a stopping handler of the caller's said stop
    DIVERGED = "diverged"
    FAILED = "failed"
    SEARCH_BOUND = "search_bound"
    RUNG_PAUSE = "rung_pause"
    PREDICTED_MISS = "predicted_miss"
    CONFIRMATION = "confirmation"

    @property
    def status(self) -> Status:
        return _VERDICT_STATUS.get(self, Status.CENSORED)

    @property
    def by_search(self) -> bool:
        return self in _SEARCH_VERDICTS

    @property
    def search_only(self) -> bool:
        """A search's own bookkeeping ended the run (its bound, halving's rung or a pricing
        window's pause, its confirmation): the grid never ends a run so, so for the grid it is not
        finished (``plan.SEARCH_ONLY``). A predicted miss is ``by_search`` but not this: the grid's
        own ``predict_stop`` gives it too, and would again."""
        return self in _SEARCH_ONLY

    @property
    def words(self) -> str:
        return _VERDICT_WORDS[self]

    @classmethod
    def of_status(cls, status: Status) -> Verdict:
        """The verdict an outcome that does not say its own gets: what its status implies."""
        implied = {
            Status.REACHED: cls.TARGET,
            Status.DIVERGED: cls.DIVERGED,
            Status.FAILED: cls.FAILED,
        }
        return implied.get(Status(status), cls.ENDED)


_VERDICT_STATUS = {
    Verdict.TARGET: Status.REACHED,
    Verdict.DIVERGED: Status.DIVERGED,
    Verdict.FAILED: Status.FAILED,
}
_SEARCH_ONLY = frozenset({Verdict.SEARCH_BOUND, Verdict.RUNG_PAUSE, Verdict.CONFIRMATION})
_SEARCH_VERDICTS = _SEARCH_ONLY | {Verdict.PREDICTED_MISS}
_VERDICT_WORDS = {
    Verdict.TARGET: "reached the target",
    Verdict.MAX_EPOCHS: "ran to max_epochs",
    Verdict.MAX_TIME: "ran to max_time_s",
    Verdict.MAX_ENERGY: "ran to max_energy_j",
    Verdict.ENDED: "ended short of the target",
    Verdict.HANDLER: "stopped by a stopping handler",
    Verdict.DIVERGED: "diverged",
    Verdict.FAILED: "failed",
    Verdict.SEARCH_BOUND: "stopped by the search (past its energy bound)",
    Verdict.RUNG_PAUSE: "paused by the search (a rung's energy budget, or held at a bound that may lift)",
    Verdict.PREDICTED_MISS: "stopped by the search (predicted to miss the target)",
    Verdict.CONFIRMATION: "stopped by the search's confirmation",
}


class Stage(StrEnum):
    """What a run is for: one of the grid's runs, or the pretraining stage its fine-tuned runs start from."""

    TRAIN = "train"
    PRETRAIN = "pretrain"


class TaskScope(StrEnum):
    """The typed marker of the runs that learn every task of a study at once (the multitask paradigm);
    ``task_of(run)`` in analysis returns it where single-task runs give their task's name."""

    ALL = "all (multitask)"


ALL_TASKS = TaskScope.ALL

# Aliases, so that ``from powertrain.records import REACHED`` keeps working.
RUNNING, REACHED, CENSORED, DIVERGED, FAILED = (
    Status.RUNNING,
    Status.REACHED,
    Status.CENSORED,
    Status.DIVERGED,
    Status.FAILED,
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

    @classmethod
    def measured(
        cls,
        index: int,
        step: int,
        epoch: float,
        samples_seen: int,
        train_loss: float | None,
        accuracies: Mapping[str, float],
        elapsed_s: float,
        energy_j: Mapping[str, float],
    ) -> EvalPoint:
        """The point every route records (the built-in loop, ``track()``): accuracies per task, their
        mean the validation accuracy, the energy so far per component."""
        return cls(
            index=index,
            step=step,
            epoch=epoch,
            samples_seen=samples_seen,
            train_loss=train_loss,
            val_accuracy=sum(accuracies.values()) / len(accuracies),
            elapsed_s=elapsed_s,
            energy_j=dict(energy_j),
            task_accuracies=dict(accuracies),
        )


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended. ``*_to_target`` are the cumulative figures at the first evaluation that reached
    the target; None when it never did (a censored run keeps everything it spent in ``total_*``)."""

    status: Status
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
    #: A distributed run's figures per node (host, ranks, GPUs, joules and method per component, who
    #: read each); empty for one process. ``energy_j`` is their sum (``tracking/combine.py``).
    nodes: list[dict[str, Any]] = field(default_factory=list)
    verdict: Verdict | None = (
        None  # why it ended; None: what its status implies (Verdict.of_status)
    )
    #: A run a search's pricing window paused (then, or before it was continued): the steps it
    #: priced (those after its warm-up up to the pause) and the energy they used, every component's
    #: (its ``total_energy_j`` is all it spent, warm-up and checkpoint included). None otherwise.
    priced_steps: int | None = None
    priced_energy_j: float | None = None

    def __post_init__(self) -> None:
        status = Status(self.status)
        verdict = Verdict.of_status(status) if self.verdict is None else Verdict(self.verdict)
        if verdict.status is not status:
            raise ValueError(f"a run that {verdict.words} ends {verdict.status}, not {status}")
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "verdict", verdict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value, "verdict": self.verdict.value}


@dataclass(frozen=True)
class RunRecord:
    """A run as the store holds it."""

    id: int
    study: str
    run_key: str
    setup: dict[str, Any]  # the grid's values
    train: dict[str, Any]  # every hyperparameter
    seed: int
    status: Status
    hardware: dict[str, Any]
    #: Per component: meter, method, estimated, details. Rank 0's meters begin the record; a
    #: distributed run's nodes (``outcome.nodes``) then say what was added up (``with_nodes``).
    provenance: dict[str, dict[str, Any]]
    started_at: float
    outcome: RunOutcome | None = None
    finished_at: float | None = None
    stage: Stage = Stage.TRAIN

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "stage", Stage(self.stage))
        if self.outcome is not None and self.outcome.nodes:
            object.__setattr__(self, "provenance", with_nodes(self.provenance, self.outcome.nodes))

    @property
    def estimated(self) -> bool:
        return is_estimated(self.provenance)

    @property
    def method_label(self) -> str:
        return measurement_label(self.provenance)

    @property
    def provenances(self) -> dict[str, Provenance]:
        """The provenance per component as typed ``Provenance`` objects."""
        return {c: Provenance.from_dict(p) for c, p in self.provenance.items()}


def with_nodes(
    provenance: Mapping[str, dict[str, Any]], nodes: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``provenance`` (rank 0's meters) as a distributed run's ``nodes`` say their figures were
    made: a component whose figure was an estimate on some node (one without the counter rank 0's
    node has) is an estimate in the run's sum, and is labelled so, with the nodes named; one that only
    other nodes had is added. Nodes that do not say (a run of an older version) change nothing."""
    out = {c: dict(p) for c, p in provenance.items()}
    for component, where in estimated_on_nodes(nodes).items():
        p = out.get(component)
        if p is not None and p.get("estimated", True):
            continue
        if p is None:  # only other nodes had it: their method ("estimate" where they name none)
            named = [(n.get("method") or {}).get(component) for n in nodes]
            p = {"meter": "unknown", "method": next(filter(None, named), "estimate"), "details": {}}
        mixed = f"estimated on {where}: the run's sum includes those estimates"
        out[component] = {
            **p,
            "estimated": True,
            "details": {**(p.get("details") or {}), "nodes": mixed},
        }
    return out


def estimated_on_nodes(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """{component: the nodes that estimated it, named ("node 1 (host)")} for a distributed run's
    ``nodes`` (``RunOutcome.nodes``); empty where none did or none says."""
    out: dict[str, str] = {}
    for node in nodes:
        for component, estimated in (node.get("estimated") or {}).items():
            if estimated:
                name = f"node {node.get('node')} ({node.get('host', '?')})"
                out[component] = f"{out[component]}, {name}" if component in out else name
    return out


def outcome_of(
    status: Status,
    reason: str,
    energy_j: Mapping[str, float],
    duration_s: float,
    points: list[EvalPoint],
    *,
    steps: int | None = None,
    reached: EvalPoint | None = None,
    test: Mapping[str, float] | None = None,
    error: str | None = None,
    faults: list[str] | tuple[str, ...] = (),
    verdict: Verdict | None = None,
    nodes: list[dict[str, Any]] | tuple = (),
    priced_steps: int | None = None,
    priced_energy_j: float | None = None,
) -> RunOutcome:
    """The one way a run's outcome is made from its points, for every route (the built-in loop,
    ``track()``): the figures to the target from ``reached`` when the run reached it; ``steps`` the
    last point's unless given; ``test`` the test accuracy per task, if taken; ``priced_*`` the span
    a run paused in its pricing window priced (``RunOutcome``)."""
    last = points[-1] if points else None
    hit = reached if Status(status) is Status.REACHED else None
    return RunOutcome(
        status=status,
        stop_reason=reason,
        total_energy_j=sum(energy_j.values()),
        energy_j=dict(energy_j),
        duration_s=duration_s,
        steps=(last.step if last else 0) if steps is None else steps,
        final_val_accuracy=last.val_accuracy if last else None,
        test_accuracy=sum(test.values()) / len(test) if test else None,
        energy_to_target_j=hit.total_energy_j if hit else None,
        time_to_target_s=hit.elapsed_s if hit else None,
        steps_to_target=hit.step if hit else None,
        error=error,
        task_test_accuracies=dict(test or {}),
        faults=list(faults),
        verdict=verdict,
        nodes=list(nodes),
        priced_steps=priced_steps,
        priced_energy_j=priced_energy_j,
    )
