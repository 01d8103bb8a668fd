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
from dataclasses import dataclass, field
from typing import Any

from powertrain.analysis.stats import Interval
from powertrain.analysis.summary import GroupSummary, SetupSummary, hardware_label
from powertrain.records import REACHED, RunRecord, Stage

AMORTISATION_USES = tuple(range(1, 11))  # the curve always covers these, and the break-even point
MAX_USES_SHOWN = 1000


@dataclass
class ParadigmResult:
    paradigm: str
    best: SetupSummary
    saving_j: float | None = None  # scratch's best minus this one's (before pretraining is counted)
    significant: bool | None = None  # False where the two 95% intervals overlap
    amortised_j: dict[int, float] = field(default_factory=dict)  # uses N -> energy per task
    break_even_uses: int | None = (
        None  # None: never pays off (or the pretraining energy is unknown)
    )


@dataclass
class TransferSummary:
    study: str
    hardware: str
    method: str
    pretrain_energy_j: float | None
    pretrain_source: str
    results: list[ParadigmResult]
    note: str = ""


def transfer(
    group: GroupSummary, pretrain_runs: list[RunRecord], study_config: dict[str, Any]
) -> TransferSummary | None:
    paradigms = {s.paradigm for s in group.setups}
    if not paradigms & {"finetune", "head-only"}:
        return None
    pretrain_cfg = study_config.get("pretrain") or {}
    finished = [r for r in pretrain_runs if r.outcome is not None]
    if finished:
        energy, source = finished[-1].outcome.total_energy_j, "measured"
    elif pretrain_cfg.get("energy_j") is not None:
        energy, source = float(pretrain_cfg["energy_j"]), "entered by the user"
    else:
        energy, source = None, "unknown"
    best_by_paradigm: dict[str, SetupSummary] = {}
    for s in group.setups:
        if s.energy_to_target_j is None:
            continue
        current = best_by_paradigm.get(s.paradigm)
        if current is None or s.energy_to_target_j.mean < current.energy_to_target_j.mean:
            best_by_paradigm[s.paradigm] = s
    scratch = best_by_paradigm.get("scratch")
    results = []
    for paradigm, best in best_by_paradigm.items():
        result = ParadigmResult(paradigm, best)
        if paradigm != "scratch" and scratch is not None:
            e, base = best.energy_to_target_j, scratch.energy_to_target_j
            result.saving_j = base.mean - e.mean
            result.significant = not e.overlaps(base) if e.n > 1 and base.n > 1 else None
            if energy is not None:
                if result.saving_j > 0:
                    result.break_even_uses = math.floor(energy / result.saving_j) + 1
                last = min(max(AMORTISATION_USES[-1], result.break_even_uses or 0), MAX_USES_SHOWN)
                result.amortised_j = {n: e.mean + energy / n for n in range(1, last + 1)}
        results.append(result)
    note = ""
    if scratch is None:
        note = (
            "No from-scratch setup reached the target with every seed: savings cannot be computed."
        )
    elif energy is None:
        note = "The pretraining energy is unknown (an external checkpoint): it is not amortised."
    return TransferSummary(group.study, group.hardware, group.method, energy, source, results, note)


@dataclass
class MultitaskComparison:
    hyperparameters: dict[str, Any]
    multitask_j: Interval | None  # energy to reach every target with one shared model
    separate_j: Interval | None  # the sum over tasks of single-task models' energy-to-target
    saving_j: Interval | None  # separate - multitask, per seed
    seeds_compared: int
    task_test_accuracy: dict[str, dict[str, float]]  # task -> {"multitask": .., "separate": ..}


@dataclass
class MultitaskSummary:
    study: str
    hardware: str
    method: str
    tasks: list[str]
    comparisons: list[MultitaskComparison]


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

    def hyper(run: RunRecord) -> tuple:
        return tuple(sorted((k, v) for k, v in run.setup.items() if k not in ("paradigm", "task")))

    comparisons = []
    for key in dict.fromkeys(hyper(r) for r in mine):
        joint = {
            r.seed: r for r in mine if hyper(r) == key and r.train.get("paradigm") == "multitask"
        }
        single = [r for r in mine if hyper(r) == key and r.train.get("paradigm") == "scratch"]
        if not joint:
            continue
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
        accuracy: dict[str, dict[str, float]] = {}
        for task in tasks:
            joint_acc = [r.outcome.task_test_accuracies.get(task) for r in joint.values()]
            single_acc = [r.outcome.test_accuracy for r in single if r.setup.get("task") == task]
            accuracy[task] = {
                "multitask": _mean([a for a in joint_acc if a is not None]),
                "separate": _mean([a for a in single_acc if a is not None]),
            }
        comparisons.append(
            MultitaskComparison(
                dict(key),
                Interval.of(multi_e),
                Interval.of(separate_e),
                Interval.of(savings),
                len(savings),
                accuracy,
            )
        )
    return MultitaskSummary(group.study, group.hardware, group.method, tasks, comparisons)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
