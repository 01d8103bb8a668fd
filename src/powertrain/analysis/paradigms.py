"""The model's life: what pretraining and multitask training save, with the pretraining's cost counted.

Transfer (a study with a pretraining stage): each paradigm's best setup (lowest mean energy-to-target
among setups where every seed reached it) against training from scratch; the pretraining energy
amortised over N downstream uses, energy per task = fine-tuning + pretraining / N; and the break-even N,
the smallest number of uses from which pretraining pays off.

Multitask (a study with extra tasks): for the same hyperparameters and seed, the energy to reach every
target with one shared model against the sum over tasks of separate single-task models; the saving with
a 95% interval over seeds, and each task's test accuracy both ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from powertrain.analysis.serial import fields_of
from powertrain.analysis.stats import Interval
from powertrain.analysis.summary import GroupSummary, SetupSummary, hardware_label
from powertrain.records import REACHED, RunRecord, Stage

AMORTISATION_USES = tuple(range(1, 11))  # the curve always covers these, and the break-even point
MAX_USES_SHOWN = 1000


@dataclass(frozen=True)
class ParadigmResult:
    paradigm: str
    best: SetupSummary
    saving_vs_scratch_j: float | None = None  # scratch's best minus this one's (pretraining aside)
    saving_significant: bool | None = None  # False where the two 95% intervals overlap
    amortised_energy_per_task_j: dict[int, float] | None = None  # uses N -> energy per task
    break_even_uses: int | None = (
        None  # None: never pays off (or the pretraining energy is unknown)
    )

    @property
    def best_setup(self) -> str:
        return self.best.label

    @property
    def energy_to_target_j(self) -> Interval:
        return self.best.energy_to_target_j

    def to_dict(self) -> dict[str, Any]:
        return fields_of(
            self,
            (
                "paradigm",
                "best_setup",
                "energy_to_target_j",
                "saving_vs_scratch_j",
                "saving_significant",
                "amortised_energy_per_task_j",
                "break_even_uses",
            ),
        )


@dataclass(frozen=True)
class TransferSummary:
    study: str
    hardware: str
    energy_method: str
    pretrain_energy_j: float | None
    pretrain_energy_source: str
    paradigms: tuple[ParadigmResult, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return fields_of(
            self,
            (
                "study",
                "hardware",
                "energy_method",
                "pretrain_energy_j",
                "pretrain_energy_source",
                "note",
                "paradigms",
            ),
        )


def _pretrain_energy(pretrain_runs: list[RunRecord], config: dict) -> tuple[float | None, str]:
    finished = [r for r in pretrain_runs if r.outcome is not None]
    if finished:
        return finished[-1].outcome.total_energy_j, "measured"
    if config.get("energy_j") is not None:
        return float(config["energy_j"]), "entered by the user"
    return None, "unknown"


def _paradigm_result(
    paradigm: str, best: SetupSummary, scratch: SetupSummary | None, energy: float | None
) -> ParadigmResult:
    if paradigm == "scratch" or scratch is None:
        return ParadigmResult(paradigm, best)
    e, base = best.energy_to_target_j, scratch.energy_to_target_j
    saving = base.mean - e.mean
    break_even, amortised = None, None
    if energy is not None:
        if saving > 0:
            break_even = math.floor(energy / saving) + 1
        last = min(max(AMORTISATION_USES[-1], break_even or 0), MAX_USES_SHOWN)
        amortised = {n: e.mean + energy / n for n in range(1, last + 1)}
    significant = not e.overlaps(base) if e.n > 1 and base.n > 1 else None
    return ParadigmResult(paradigm, best, saving, significant, amortised, break_even)


def transfer(
    group: GroupSummary, pretrain_runs: list[RunRecord], study_config: dict[str, Any]
) -> TransferSummary | None:
    paradigms = {s.paradigm for s in group.setups}
    if not paradigms & {"finetune", "head-only"}:
        return None
    energy, source = _pretrain_energy(pretrain_runs, study_config.get("pretrain") or {})
    best_by_paradigm: dict[str, SetupSummary] = {}
    for s in group.setups:
        if s.energy_to_target_j is None:
            continue
        current = best_by_paradigm.get(s.paradigm)
        if current is None or s.energy_to_target_j.mean < current.energy_to_target_j.mean:
            best_by_paradigm[s.paradigm] = s
    scratch = best_by_paradigm.get("scratch")
    results = tuple(
        _paradigm_result(paradigm, best, scratch, energy)
        for paradigm, best in best_by_paradigm.items()
    )
    note = ""
    if scratch is None:
        note = (
            "No from-scratch setup reached the target with every seed: savings cannot be computed."
        )
    elif energy is None:
        note = "The pretraining energy is unknown (an external checkpoint): it is not amortised."
    return TransferSummary(
        group.study, group.hardware, group.energy_method, energy, source, results, note
    )


@dataclass(frozen=True)
class MultitaskComparison:
    hyperparameters: dict[str, Any]
    multitask_energy_to_targets_j: Interval | None  # to reach every target with one shared model
    separate_energy_to_targets_j: Interval | None  # sum over tasks of single-task models' energy
    saving_j: Interval | None  # separate - multitask, per seed (may be negative: a t interval)
    seeds_compared: int
    task_test_accuracy: dict[str, dict[str, float | None]]  # task -> {"multitask", "separate"}

    def to_dict(self) -> dict[str, Any]:
        return fields_of(
            self,
            (
                "hyperparameters",
                "multitask_energy_to_targets_j",
                "separate_energy_to_targets_j",
                "saving_j",
                "seeds_compared",
                "task_test_accuracy",
            ),
        )


@dataclass(frozen=True)
class MultitaskSummary:
    study: str
    hardware: str
    energy_method: str
    tasks: tuple[str, ...]
    comparisons: tuple[MultitaskComparison, ...]

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, ("study", "hardware", "energy_method", "tasks", "comparisons"))


def _hyper(run: RunRecord) -> tuple:
    return tuple(sorted((k, v) for k, v in run.setup.items() if k not in ("paradigm", "task")))


def multitask(
    group: GroupSummary, runs: list[RunRecord], tasks: list[str]
) -> MultitaskSummary | None:
    mine = [
        r
        for r in runs
        if r.stage is Stage.TRAIN
        and r.outcome is not None
        and hardware_label(r.hardware) == group.hardware
    ]
    if not any(r.train.get("paradigm") == "multitask" for r in mine):
        return None
    comparisons = []
    for key in dict.fromkeys(_hyper(r) for r in mine):
        same = [r for r in mine if _hyper(r) == key]
        joint = {r.seed: r for r in same if r.train.get("paradigm") == "multitask"}
        single = [r for r in same if r.train.get("paradigm") == "scratch"]
        if joint:
            comparisons.append(_compare_joint(dict(key), joint, single, tasks))
    return MultitaskSummary(
        group.study, group.hardware, group.energy_method, tuple(tasks), tuple(comparisons)
    )


def _compare_joint(
    hyperparameters: dict, joint: dict[int, RunRecord], single: list[RunRecord], tasks: list[str]
) -> MultitaskComparison:
    multi_e, separate_e, savings = [], [], []
    for seed, run in joint.items():
        per_task = {r.setup.get("task"): r for r in single if r.seed == seed}
        if (
            run.status != REACHED
            or set(per_task) != set(tasks)
            or any(r.status != REACHED for r in per_task.values())
        ):
            continue
        m = run.outcome.energy_to_target_j
        sep = sum(r.outcome.energy_to_target_j for r in per_task.values())
        multi_e.append(m)
        separate_e.append(sep)
        savings.append(sep - m)
    accuracy: dict[str, dict[str, float | None]] = {}
    for task in tasks:
        joint_acc = [r.outcome.task_test_accuracies.get(task) for r in joint.values()]
        single_acc = [r.outcome.test_accuracy for r in single if r.setup.get("task") == task]
        accuracy[task] = {
            "multitask": _mean([a for a in joint_acc if a is not None]),
            "separate": _mean([a for a in single_acc if a is not None]),
        }
    return MultitaskComparison(
        hyperparameters,
        Interval.positive(multi_e),
        Interval.positive(separate_e),
        Interval.of(savings),
        len(savings),
        accuracy,
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
