"""What a simulation of a search strategy found (``simulate.simulate``): each order's pick and cost,
and their summary, rated against the study's best where it has one."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from powertrain.search.cost_axes import window_setting, window_words
from powertrain.search.sample import Sample, sample_of

WITHIN = 1.10  # "within 10 % of the best"

#: Why a simulation rates no pick against the best (``Simulation.summary``'s ``no_best``).
NO_BEST = "no setup reached the target on every seed, so there is no best to rate a pick against"


@dataclass
class Simulation:
    study: str
    machine: str
    method: str
    strategy: str
    settings: dict[str, Any]
    repeats: int
    seed: int
    confirm_seeds: int
    grid_energy_j: float
    best: str | None
    best_energy_to_target_j: float | None
    orders: list[dict[str, Any]] = field(default_factory=list)
    cost_axes: tuple[str, ...] = ()  # the axes the search priced instead of searching
    warnings: list[str] = field(default_factory=list)
    tuned_on: tuple[str, ...] = ()  # studies the strategy's settings were chosen on
    workload: str = ""  # what the study measures (``sample.workload``), which says if it is one
    #: The share of the steps to a run's first evaluation that priced the cost axes, as the setting
    #: (1: the whole way); None when it priced none.
    price_window: float | None = None

    def priced_note(self) -> str | None:
        """The cost axes it priced instead of searching, and over what window; None without."""
        if not self.cost_axes:
            return None
        window = window_words(window_setting(self.price_window or 1))
        return f"cost axes priced over {window}, not searched: {', '.join(self.cost_axes)}"

    @property
    def sample(self) -> Sample:
        """Whether this study is one the strategy's settings were chosen on, by what it measures
        (``sample.sample_of``), not by its name."""
        return sample_of(self.study, self.workload, self.tuned_on)

    @property
    def in_sample(self) -> bool:
        """Whether this study is one the strategy's settings were chosen on (its figures flatter)."""
        return self.sample.in_sample

    def sample_note(self) -> str:
        """In- or out-of-sample, and which settings that speaks of: those given here are not."""
        given = ", ".join(f"{k}={'none' if v is None else v}" for k, v in self.settings.items())
        given = f"; {given} given here" if given else ""
        its = "its default settings" if given else "its settings"
        chosen = f"{its} were chosen on {', '.join(self.tuned_on) or 'no study'}{given}"
        sample = self.sample
        if sample.by_name:
            return (
                f"in-sample: {self.strategy}'s {its[4:]} were chosen on a study named {self.study}"
                f" (by its name: what that study measured is not known here to compare){given}"
            )
        if sample.in_sample and sample.like == self.study:
            return f"in-sample: {self.strategy}'s {its[4:]} were chosen on this study{given}"
        if sample.in_sample:
            return (
                f"in-sample: {self.strategy}'s {its[4:]} were chosen on {sample.like}, whose "
                f"setups, target and task this study has{given}"
            )
        if sample.named_like:
            return (
                f"out-of-sample for {self.strategy}: named like {sample.named_like}, a study its "
                f"settings were chosen on, but its setups, target or task are not that study's; "
                f"{chosen}"
            )
        return f"out-of-sample for {self.strategy}: {chosen}"

    def summary(self) -> dict[str, Any]:
        """Shares of the grid and how often the pick was within 10 % of the best: None (and
        ``no_best`` says why) where the study has no best to be within 10 % of."""
        shares = [o["share"] for o in self.orders]
        good = [o["within_10pct"] for o in self.orders]
        goal = [o["within_10pct"] and o["share"] <= 0.1 for o in self.orders]
        rated = self.best is not None
        return {
            "share_median": float(np.median(shares)),
            "share_p90": float(np.percentile(shares, 90)),
            "energy_median_j": float(np.median([o["energy_j"] for o in self.orders])),
            "within_10pct": float(np.mean(good)) if rated else None,
            "within_10pct_at_most_tenth": float(np.mean(goal)) if rated else None,
            "named_worse": float(np.mean([_named_worse(o) for o in self.orders]))
            if rated
            else None,
            "no_best": None if rated else NO_BEST,
            "within_noise": float(np.mean([o["within_noise"] for o in self.orders])),
            "picks": dict(
                sorted(_count(o["pick"] for o in self.orders).items(), key=lambda kv: -kv[1])
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary(), "in_sample": self.in_sample}


def _named_worse(order: dict[str, Any]) -> bool:
    """A pick over 10 % above the best named without "within noise": a miss that misleads."""
    ratio, tied = order["ratio_to_best"], order["within_noise"]
    return bool(order["confirmed"] and ratio is not None and ratio > WITHIN and not tied)


def _count(items) -> dict:
    out: dict = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out
