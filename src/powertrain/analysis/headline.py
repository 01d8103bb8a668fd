"""The one line a study comes down to: the best setup's energy to the target with its interval, the worst,
how many times more the worst needed, and whether the figures were measured or estimated.

Computed from the summaries, so ``powertrain run``, ``make demo`` and a Python user print the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from powertrain.analysis.summary import GroupSummary, SetupSummary
from powertrain.monitor import below_resolution


@dataclass(frozen=True)
class Headline:
    title: str
    method: str
    estimated: bool
    setups: int
    setups_reached: int  # setups whose every seed reached the target
    best: str | None = None
    best_energy_j: float | None = None
    best_low_j: float | None = None
    best_high_j: float | None = None
    best_seeds: int = 0
    best_interval_wide: bool = False  # too few seeds for the interval to say much (stats.Interval)
    best_runs: int = 0
    best_imprecise_runs: int = 0  # the best's runs whose energy is below what their meter resolves
    best_ties: int = (
        0  # other setups whose 95% interval overlaps the best's: not told apart from it
    )
    worst: str | None = None
    worst_energy_j: float | None = None
    ratio: float | None = None  # worst / best, among setups where every seed reached
    ratio_at_least: float | None = None  # counting censored setups' lower bounds, when larger

    @property
    def text(self) -> str:
        if self.best is None:
            return (
                f"no setup reached the target with every seed ({self.setups} setups) "
                f"[{self.method}]"
            )
        parts = [f"best {self.best}: {self.best_energy_j:.1f} J to target {self._interval()}"]
        if self.best_ties and self.best_seeds >= 2 and not self.best_interval_wide:
            others = f"{self.best_ties} other setup" + ("s" if self.best_ties != 1 else "")
            parts.append(f"not told apart from {others} (their 95% intervals overlap)")
        if self.best_imprecise_runs:
            parts.append(
                f"{self.best_imprecise_runs} of its {self.best_runs} runs' energy is below what "
                "their meter resolves well (may be 1 in 10 off, or more: see their faults)"
            )
        if self.worst is not None and self.worst != self.best:
            parts.append(
                f"worst {self.worst}: {self.worst_energy_j:.1f} J, {self.ratio:.1f}x the best"
            )
        if self.ratio_at_least is not None:
            parts.append(
                f"{self.setups - self.setups_reached} of {self.setups} setups not always at the "
                f"target, one of them needing >= {self.ratio_at_least:.1f}x the best"
            )
        return "; ".join(parts) + f" [{self.method}]"

    def _interval(self) -> str:
        if self.best_seeds < 2 or self.best_interval_wide:
            seeds = f"{self.best_seeds} seed" + ("s" if self.best_seeds != 1 else "")
            return f"({seeds}: too few for an interval)"
        return f"(95% interval {self.best_low_j:.1f} to {self.best_high_j:.1f} J, {self.best_seeds} seeds)"

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "text": self.text}


def headline(group: GroupSummary) -> Headline:
    """The headline of one group (a study's task on one machine)."""
    common = {
        "title": group.title,
        "method": group.energy_method,
        "estimated": group.estimated,
        "setups": len(group.setups),
        "setups_reached": sum(1 for s in group.setups if s.energy_to_target_j is not None),
    }
    best, worst = group.best, group.worst
    if best is None:
        return Headline(**common)
    at_least = group.waste_ratio_max_at_least
    return Headline(
        **common,
        best=best.label,
        best_energy_j=best.energy_to_target_j.mean,
        best_low_j=best.energy_to_target_j.low,
        best_high_j=best.energy_to_target_j.high,
        best_seeds=best.energy_to_target_j.n,
        best_interval_wide=best.energy_to_target_j.wide,
        best_runs=len(best.run_ids),
        best_imprecise_runs=imprecise_runs(best),
        best_ties=sum(s.differs_significantly_from_best is False for s in group.setups),
        worst=worst.label if worst is not None else None,
        worst_energy_j=worst.energy_to_target_j.mean if worst is not None else None,
        ratio=group.waste_ratio_max,
        ratio_at_least=at_least
        if at_least is not None and at_least > (group.waste_ratio_max or 0) + 1e-9
        else None,
    )


def imprecise_runs(setup: SetupSummary) -> int:
    """How many of ``setup``'s runs have a figure below what its meter resolves well (its faults,
    ``run N: ...`` each, say so)."""
    return len({f.split(":", 1)[0] for f in setup.faults if below_resolution(f)})


def study_headlines(store, study: str | None = None) -> list[Headline]:
    """The headline of every group of a study (all studies when None) in a results store."""
    from powertrain.analysis.summary import summarise

    return [headline(g) for g in summarise(store.runs(study))]
