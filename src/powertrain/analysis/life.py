"""The whole life of a model: training energy plus inference energy over an expected number of queries,
and the number of queries from which a setup that is cheaper to train but dearer to run stops paying."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

from powertrain.analysis.serial import fields_of
from powertrain.analysis.stats import Interval
from powertrain.analysis.summary import GroupSummary, SetupSummary


def _indistinguishable(a: Interval | None, b: Interval | None) -> bool:
    """True when both have repeated measurements and their 95% intervals overlap."""
    return a is not None and b is not None and a.n > 1 and b.n > 1 and a.overlaps(b)


@dataclass(frozen=True)
class LifeRow:
    setup: SetupSummary
    training_j: float
    training_is_lower_bound: bool  # some seed never reached the target
    per_query_j: float  # at the most efficient batch size measured (mean over repeats)
    batch_size: int
    queries: int
    per_query_interval_j: Interval | None = None  # over the repeated measurements

    @property
    def label(self) -> str:
        return self.setup.label

    @property
    def inference_per_1000_j(self) -> float:
        return self.per_query_j * 1000

    @property
    def queries_j(self) -> float:
        return self.per_query_j * self.queries

    @property
    def whole_life_j(self) -> float:
        return self.training_j + self.queries_j

    def to_dict(self) -> dict[str, Any]:
        return fields_of(
            self,
            (
                "label",
                "training_j",
                "training_is_lower_bound",
                "inference_per_1000_j",
                "per_query_interval_j",
                "batch_size",
                "queries_j",
                "whole_life_j",
            ),
        )


@dataclass(frozen=True)
class Crossover:
    cheaper_to_train: str
    cheaper_to_run: str
    queries: float  # beyond this many queries the one cheaper to run has cost less over its life

    def to_dict(self) -> dict[str, Any]:
        return fields_of(self, ("cheaper_to_train", "cheaper_to_run", "queries"))


@dataclass(frozen=True)
class LifeSummary:
    study: str
    hardware: str
    energy_method: str
    queries: int
    setups: tuple[LifeRow, ...]  # cheapest whole life first
    crossovers: tuple[Crossover, ...]

    def to_dict(self) -> dict[str, Any]:
        return fields_of(
            self, ("study", "hardware", "energy_method", "queries", "setups", "crossovers")
        )


def whole_life(
    group: GroupSummary, inference: dict[int, list[dict]], queries: int
) -> LifeSummary | None:
    rows = []
    for s in group.setups:
        measured = next((inference[r] for r in s.run_ids if inference.get(r)), None)
        training = (
            s.energy_to_target_j.mean if s.energy_to_target_j else s.energy_to_target_at_least_j
        )
        if not measured or training is None:
            continue
        best = min(measured, key=lambda m: m["energy_per_1000_j"])
        repeats = [
            e / 1000 for e in best.get("energy_per_1000_j_repeats", [best["energy_per_1000_j"]])
        ]
        per_query = Interval.positive(repeats)
        rows.append(
            LifeRow(
                s,
                training,
                s.energy_to_target_j is None,
                per_query.mean,
                best["batch_size"],
                queries,
                per_query,
            )
        )
    if not rows:
        return None
    crossovers = []
    for a, b in combinations(rows, 2):
        cheap_train, cheap_run = (a, b) if a.training_j < b.training_j else (b, a)
        if _indistinguishable(cheap_train.per_query_interval_j, cheap_run.per_query_interval_j):
            continue  # the same cost to run, within what repeated measurement can tell apart
        if cheap_train.per_query_j > cheap_run.per_query_j:
            q = (cheap_run.training_j - cheap_train.training_j) / (
                cheap_train.per_query_j - cheap_run.per_query_j
            )
            crossovers.append(Crossover(cheap_train.setup.label, cheap_run.setup.label, q))
    crossovers.sort(key=lambda c: c.queries)
    return LifeSummary(
        group.study,
        group.hardware,
        group.energy_method,
        queries,
        tuple(sorted(rows, key=lambda r: r.whole_life_j)),
        tuple(crossovers),
    )
