"""The same study on several machines: energy-to-target per setup on each, and the cheapest machine."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from powertrain.analysis.serial import fields_of
from powertrain.analysis.summary import GroupSummary


@dataclass(frozen=True)
class MachineRow:
    setup: str  # the setup's label
    energy_to_target_j: dict[str, float]  # machine -> mean energy to target, where every seed did
    cheapest_machine: str | None

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, ("setup", "energy_to_target_j", "cheapest_machine"))


@dataclass(frozen=True)
class MachineComparison:
    study: str  # with the task in brackets in studies with several tasks
    machines: tuple[str, ...]
    energy_methods: tuple[str, ...]  # how each machine's energy was obtained, in machine order
    setups: tuple[MachineRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, ("study", "machines", "energy_methods", "setups"))


def compare_machines(groups: list[GroupSummary] | tuple[GroupSummary, ...]) -> tuple:
    """For each study (and task) run on two or more machines, one MachineComparison."""
    by_study: dict[str, list[GroupSummary]] = defaultdict(list)
    for g in groups:
        by_study[g.study + (f" [{g.task_name}]" if g.task_name else "")].append(g)
    comparisons = []
    for study, gs in by_study.items():
        if len(gs) < 2:
            continue
        labels = list(dict.fromkeys(s.label for g in gs for s in g.setups))
        rows = []
        for label in labels:
            values = {
                g.hardware: s.energy_to_target_j.mean
                for g in gs
                for s in g.setups
                if s.label == label and s.energy_to_target_j is not None
            }
            cheapest = min(values, key=values.get) if values else None
            rows.append(MachineRow(label, values, cheapest))
        comparisons.append(
            MachineComparison(
                study,
                tuple(g.hardware for g in gs),
                tuple(g.energy_method for g in gs),
                tuple(rows),
            )
        )
    return tuple(comparisons)
