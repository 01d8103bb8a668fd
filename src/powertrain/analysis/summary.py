"""Per study and hardware: each setup's energy-to-target over seeds, its waste against the best setup,
whether differences are significant, the Pareto front, and what the whole sweep cost.

Censored runs are kept honestly. A setup's energy-to-target interval is given only when every seed
reached the target; otherwise the setup is reported as partly censored, with the mean over the seeds
that reached it (labelled as such) and a lower bound: the mean over all seeds of the energy to the target,
or, for a seed that never reached it, the energy it spent, which the target would have needed at least.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from powertrain.analysis.serial import fields_of
from powertrain.analysis.stats import Interval
from powertrain.carbon.footprint import check_run_figures
from powertrain.meters.base import is_estimated, runs_label
from powertrain.records import ALL_TASKS, CENSORED, DIVERGED, FAILED, REACHED, RunRecord, Stage
from powertrain.train.config import Paradigm

MULTITASK = ALL_TASKS  # the task name of a multitask study's joint runs ("all (multitask)")


@dataclass(frozen=True)
class SetupSummary:
    setup: dict[str, Any]
    seeds: int
    reached: int
    statuses: dict[str, int]
    energy_to_target_j: Interval | None  # every seed reached the target
    energy_to_target_reached_j: Interval | None  # over the seeds that did
    energy_to_target_at_least_j: float | None  # a lower bound when some seeds were censored
    time_to_target_s: Interval | None
    test_accuracy: Interval | None
    final_val_accuracy: Interval | None
    total_energy_j: Interval  # everything the runs spent, reached or not
    energy_by_component_j: dict[str, float]  # mean over seeds of what each component spent
    run_ids: tuple[int, ...]
    waste_ratio: float | None = None  # energy-to-target / the best setup's
    waste_ratio_at_least: float | None = None  # for partly censored setups: a lower bound
    differs_significantly_from_best: bool | None = None  # False where the 95% intervals overlap
    on_pareto_front: bool = False
    paradigm: str = "scratch"
    faults: tuple[str, ...] = ()  # what went wrong with its runs' figures, "run N: ..." each

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.setup.items())

    @property
    def reached_share(self) -> float:
        return self.reached / self.seeds if self.seeds else 0.0

    @property
    def verdict(self) -> str:
        if self.reached == self.seeds:
            return "all seeds reached"
        if self.reached == 0:
            return "never reached"
        return f"partly censored ({self.reached}/{self.seeds} reached)"

    @property
    def shown_energy_j(self) -> float | None:
        """The energy a figure shows: the mean to target, or the lower bound of a censored setup."""
        if self.energy_to_target_j is not None:
            return self.energy_to_target_j.mean
        return self.energy_to_target_at_least_j

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, SETUP_FIELDS)


SETUP_FIELDS = (
    "setup",
    "label",
    "paradigm",
    "seeds",
    "reached",
    "reached_share",
    "verdict",
    "statuses",
    "energy_to_target_j",
    "energy_to_target_reached_j",
    "energy_to_target_at_least_j",
    "time_to_target_s",
    "test_accuracy",
    "final_val_accuracy",
    "total_energy_j",
    "energy_by_component_j",
    "waste_ratio",
    "waste_ratio_at_least",
    "differs_significantly_from_best",
    "on_pareto_front",
    "run_ids",
    "faults",
)


@dataclass(frozen=True)
class GroupSummary:
    """One study's runs of one task on one machine: the unit within which setups are compared."""

    study: str
    hardware: str
    task: dict[str, Any]
    energy_method: str
    estimated: bool
    setups: tuple[SetupSummary, ...]
    best: SetupSummary | None
    worst: SetupSummary | None
    waste_ratio_max: float | None  # worst / best among setups where every seed reached
    waste_ratio_max_at_least: float | None  # the same, with censored setups' lower bounds
    sweep_energy_j: float  # what every run of the sweep spent together
    runs: int
    statuses: dict[str, int] = field(default_factory=dict)
    # In studies with several tasks: which one (MULTITASK, records.ALL_TASKS, for the joint runs).
    task_name: str | None = None
    idle_power_w: dict[str, float] | None = None  # the machine's idle baseline, where measured
    sweep_dynamic_energy_j: float | None = None  # what the sweep spent above that baseline

    @property
    def title(self) -> str:
        task = f" [{self.task_name}]" if self.task_name else ""
        return f"{self.study}{task} on {self.hardware}"

    @property
    def best_setup(self) -> str | None:
        return self.best.label if self.best else None

    @property
    def worst_setup(self) -> str | None:
        return self.worst.label if self.worst else None

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, GROUP_FIELDS)


GROUP_FIELDS = (
    "title",
    "study",
    "hardware",
    "task_name",
    "task",
    "energy_method",
    "estimated",
    "runs",
    "statuses",
    "best_setup",
    "worst_setup",
    "waste_ratio_max",
    "waste_ratio_max_at_least",
    "sweep_energy_j",
    "idle_power_w",
    "sweep_dynamic_energy_j",
    "setups",
)


def hardware_label(hardware: dict[str, Any]) -> str:
    """The machine's name in reports: its own ``label`` where it has one (runs imported from a CSV
    name their machine), else its chip and host."""
    if hardware.get("label"):
        return str(hardware["label"])
    chip = hardware.get("gpu_model") or hardware.get("cpu_model") or "unknown"
    return f"{chip} on {hardware.get('host', '?')}"


def summarise(
    runs: list[RunRecord], study_config: dict[str, Any] | None = None
) -> list[GroupSummary]:
    """Summaries per (study, task, hardware) of finished runs; runs still running are left out.
    Setups are only compared with setups of the same task on the same machine. A run whose stored
    energy or duration is no figure (NaN, infinite, negative) is a PowertrainError naming it."""
    groups: dict[tuple[str, str, str | None], list[RunRecord]] = {}
    for run in runs:
        if run.outcome is not None and run.stage is Stage.TRAIN:
            check_run_figures(run)  # a NaN or negative joule is one line, never a figure shown
            key = (run.study, hardware_label(run.hardware), task_of(run))
            groups.setdefault(key, []).append(run)
    return [
        _summarise_group(study, hw, task, group, (study_config or {}).get(study, {}))
        for (study, hw, task), group in groups.items()
    ]


def task_of(run: RunRecord) -> str | None:
    """The task a run learned, in studies with several (None in single-task studies)."""
    if run.train.get("paradigm") == Paradigm.MULTITASK:
        return MULTITASK
    return run.setup.get("task")


def _summarise_group(
    study: str, hardware: str, task_name: str | None, runs: list[RunRecord], config: dict
) -> GroupSummary:
    by_setup: dict[str, list[RunRecord]] = {}
    for run in runs:
        by_setup.setdefault(repr(sorted(run.setup.items())), []).append(run)
    setups = _compare_with_best([_summarise_setup(group) for group in by_setup.values()])
    complete = [s for s in setups if s.energy_to_target_j is not None]
    best = min(complete, key=lambda s: s.energy_to_target_j.mean) if complete else None
    worst = max(complete, key=lambda s: s.energy_to_target_j.mean) if complete else None
    ratios_at_least = [
        r for s in setups if (r := s.waste_ratio or s.waste_ratio_at_least) is not None
    ]
    return GroupSummary(
        study=study,
        hardware=hardware,
        task=config.get("task", {}),
        energy_method=runs_label(r.provenance for r in runs),
        estimated=any(is_estimated(r.provenance) for r in runs),
        setups=tuple(setups),
        best=best,
        worst=worst,
        waste_ratio_max=(worst.energy_to_target_j.mean / best.energy_to_target_j.mean)
        if best
        else None,
        waste_ratio_max_at_least=max(ratios_at_least) if ratios_at_least else None,
        sweep_energy_j=sum(r.outcome.total_energy_j for r in runs),
        runs=len(runs),
        statuses=dict(Counter(_status(r.status) for r in runs)),
        task_name=task_name,
    )


def _status(status: Any) -> str:
    return getattr(status, "value", status)


def _compare_with_best(setups: list[SetupSummary]) -> list[SetupSummary]:
    """Each setup with its waste against the best, its significance and its place on the front."""
    complete = [s for s in setups if s.energy_to_target_j is not None]
    best = min(complete, key=lambda s: s.energy_to_target_j.mean) if complete else None
    front = _pareto_front(setups)
    compared = []
    for s in setups:
        extra: dict[str, Any] = {"on_pareto_front": any(s is f for f in front)}
        if best is not None and s.energy_to_target_j is not None:
            extra["waste_ratio"] = s.energy_to_target_j.mean / best.energy_to_target_j.mean
            extra["differs_significantly_from_best"] = (
                None if s is best else not s.energy_to_target_j.overlaps(best.energy_to_target_j)
            )
        elif best is not None and s.energy_to_target_at_least_j is not None:
            extra["waste_ratio_at_least"] = (
                s.energy_to_target_at_least_j / best.energy_to_target_j.mean
            )
        compared.append(replace(s, **extra))
    return compared


def _summarise_setup(runs: list[RunRecord]) -> SetupSummary:
    outcomes = [r.outcome for r in runs]
    reached = [o for o in outcomes if o.status == REACHED]
    usable = [o for o in outcomes if o.status in (REACHED, CENSORED, DIVERGED)]
    at_least = [o.energy_to_target_j if o.status == REACHED else o.total_energy_j for o in usable]
    components = sorted({c for o in outcomes for c in o.energy_j})
    every_seed = len(reached) == len(runs)
    return SetupSummary(
        setup=runs[0].setup,
        seeds=len(runs),
        reached=len(reached),
        statuses=dict(Counter(_status(o.status) for o in outcomes)),
        energy_to_target_j=Interval.positive([o.energy_to_target_j for o in reached])
        if every_seed
        else None,
        energy_to_target_reached_j=Interval.positive([o.energy_to_target_j for o in reached]),
        energy_to_target_at_least_j=(sum(at_least) / len(at_least))
        if at_least and not every_seed
        else None,
        time_to_target_s=Interval.positive([o.time_to_target_s for o in reached])
        if every_seed
        else None,
        test_accuracy=Interval.of(
            [o.test_accuracy for o in outcomes if o.test_accuracy is not None]
        ),
        final_val_accuracy=Interval.of(
            [o.final_val_accuracy for o in outcomes if o.final_val_accuracy is not None]
        ),
        total_energy_j=Interval.positive([o.total_energy_j for o in outcomes]),
        energy_by_component_j={
            c: sum(o.energy_j.get(c, 0.0) for o in outcomes) / len(outcomes) for c in components
        },
        run_ids=tuple(r.id for r in runs),
        paradigm=runs[0].train.get("paradigm", "scratch"),
        faults=tuple(f"run {r.id}: {fault}" for r in runs for fault in r.outcome.faults),
    )


def _pareto_front(setups: list[SetupSummary]) -> list[SetupSummary]:
    """Setups that no other beats on both mean energy spent (lower) and mean test accuracy (higher)."""
    points = [
        (s, s.total_energy_j.mean, s.test_accuracy.mean)
        for s in setups
        if s.test_accuracy is not None and s.statuses.get(FAILED, 0) < s.seeds
    ]
    return [
        s
        for s, energy, acc in points
        if not any(
            (e <= energy and a >= acc) and (e < energy or a > acc)
            for other, e, a in points
            if other is not s
        )
    ]
