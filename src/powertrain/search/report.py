"""What the report shows of search, worked out for the analysis (render only draws it):

- the last live search's own cost (``cost.py``, kept in the store), where one ran;
- the strategies simulated on the study's stored curves (``REPORT_ORDERS`` random orders each, to keep
  the report fast), where the study has enough finished runs: at least two setups, every run finished
  on its own (none stopped by a search: a stopped curve cannot stand for the run), and a setup all of
  whose seeds reached the target.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.records import Stage, Verdict
from powertrain.search.simulate import load_curves, machine_of, simulate
from powertrain.search.simulation import Simulation

REPORT_ORDERS = 50
REPORT_STRATEGIES = ("auto", "zeus", "bound", "halving", "thompson")  # auto: the recommended


@dataclass(frozen=True)
class SearchSection:
    study: str
    live: dict[str, Any] | None  # the last live search's cost, as the store holds it
    simulations: tuple[Simulation, ...] = ()  # drawn by the report; summarised in JSON
    why_no_simulation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        first = self.simulations[0] if self.simulations else None
        return {
            "study": self.study,
            "live": self.live,
            "simulated_on": None
            if first is None
            else {
                "machine": first.machine,
                "method": first.method,
                "orders": first.repeats,
                "grid_energy_j": first.grid_energy_j,
                "best": first.best,
                "best_energy_to_target_j": first.best_energy_to_target_j,
                "warnings": list(first.warnings),  # of the curves: the same for every strategy
            },
            "simulations": [
                {
                    "strategy": s.strategy,
                    "settings": s.settings,
                    "in_sample": s.in_sample,
                    "cost_axes": list(s.cost_axes),
                    # the share of the steps to a run's first evaluation that priced them (1: all)
                    "price_window": s.price_window,
                    **s.summary(),
                }
                for s in self.simulations
            ],
            "why_no_simulation": self.why_no_simulation,
        }


def search_sections(
    store, studies: list[str], orders: int = REPORT_ORDERS
) -> tuple[SearchSection, ...]:
    """A section for every study with a live search's cost or enough runs to simulate."""
    out, costs = [], store.search_costs()
    for study in dict.fromkeys(studies):
        live = costs.get(study)
        why = why_no_simulation(store, study)
        sims = () if why else _simulations(store, study, orders)
        if live is not None or sims:
            out.append(SearchSection(study, live, sims, why))
    return tuple(out)


def why_no_simulation(store, study: str) -> str | None:
    """None when the study's stored curves can be simulated, else why not."""
    runs = [r for r in store.runs(study) if r.stage is Stage.TRAIN]
    if any(r.outcome is None for r in runs):
        return "some runs have not finished"
    if any(r.outcome.verdict.by_search for r in runs):
        return _ended_by_search(runs)
    machine = _main_machine(runs)
    runs = [r for r in runs if machine_of(r) == machine]
    setups = Counter(repr(sorted(r.setup.items())) for r in runs)
    if len(setups) < 2:
        return "fewer than two setups"
    if len(set(setups.values())) != 1:
        return "the setups have different numbers of seeds"
    return None


def _ended_by_search(runs) -> str:
    """What a search did to the runs it ended: stopped them, or paused them and never went on (a
    store may hold only the pauses a search left, not promoted)."""
    paused = sum(r.outcome.verdict is Verdict.RUNG_PAUSE for r in runs)
    stopped = sum(r.outcome.verdict.by_search for r in runs) - paused
    parts = [f"stopped {_runs(stopped)}"] if stopped else []
    if paused:
        it = "it" if paused == 1 else "them"
        parts.append(f"paused {_runs(paused)} and never went on with {it}")
    return f"a search {' and '.join(parts)}: their curves end early"


def _runs(n: int) -> str:
    return f"{n} run" + ("s" if n != 1 else "")


def _main_machine(runs) -> str | None:
    counts = Counter(machine_of(r) for r in runs)
    return counts.most_common(1)[0][0] if counts else None


def _simulations(store, study: str, orders: int) -> tuple[Simulation, ...]:
    runs = [r for r in store.runs(study) if r.stage is Stage.TRAIN]
    try:
        curves = load_curves(store, study, _main_machine(runs))
    except PowertrainError:
        return ()
    if not curves.setup_means_j():  # no setup reached the target on every seed: nothing to pick
        return ()
    return tuple(simulate(curves, strategy=s, repeats=orders) for s in REPORT_STRATEGIES)
