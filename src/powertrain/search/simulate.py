"""Simulate a search strategy on a finished study: its stored evaluation points (each with the
cumulative energy spent so far) stand in for training, in many random orders, training nothing."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from powertrain.errors import PowertrainError
from powertrain.meters.base import runs_label
from powertrain.monitor import below_resolution
from powertrain.records import REACHED, EvalPoint, RunOutcome, RunRecord, Verdict
from powertrain.search.cost_axes import (
    WINDOW_J,
    axes_setting,
    declared_axes,
    first_trained,
    known_axes,
)
from powertrain.search.driver import run_search
from powertrain.search.sample import workload
from powertrain.search.simulation import WITHIN, Simulation
from powertrain.search.space import Space, Start, Trial
from powertrain.search.strategies import make_strategy
from powertrain.search.strategy import joules
from powertrain.train.stopping import PAUSED_NOTE, as_stop

if TYPE_CHECKING:  # annotations only: simulation reads a store, never depends on one
    from powertrain.store.base import ResultStore


@dataclass(frozen=True)
class Curve:
    """A stored run as simulation feeds it: its points, where it reached the target, what it cost."""

    points: list[EvalPoint]
    reached_index: int | None
    end_energy_j: float  # everything it spent up to where it ended (the target, or its limits)
    verdict: Verdict  # why it ended
    stop_reason: str
    imprecise: bool = False  # its energy is below what its meter resolves well (its faults say so)
    #: The stored outcome: where the run paused in a pricing window, the span that window priced.
    outcome: RunOutcome | None = None


@dataclass(frozen=True)
class StudyCurves:
    study: str
    machine: str
    method: str
    labels: dict[str, str]  # setup key -> "batch_size=32 learning_rate=0.03"
    curves: dict[tuple[str, int], Curve]
    target: float | None = None
    cost_axes: tuple[str, ...] = ()  # declared by the study (search.cost_axes)
    #: What it measures (``sample.workload``): whether it is a study a strategy was tuned on.
    workload: str = ""

    @property
    def grid_energy_j(self) -> float:
        return sum(c.end_energy_j for c in self.curves.values())

    def setup_means_j(self) -> dict[str, float]:
        """Mean energy-to-target of every setup all of whose seeds reached the target."""
        out = {}
        for key in self.labels:
            curves = [c for (s, _), c in self.curves.items() if s == key]
            if all(c.reached_index is not None for c in curves):
                out[key] = statistics.fmean(
                    c.points[c.reached_index].total_energy_j for c in curves
                )
        return out


def setup_key(setup: dict[str, Any]) -> str:
    return repr(sorted(setup.items()))


def machine_of(run: RunRecord) -> str:
    hw = run.hardware
    return (
        hw.get("label")
        or f"{hw.get('gpu_model') or hw.get('cpu_model') or 'unknown'} on {hw.get('host', '?')}"
    )


def load_curves(store: ResultStore, study: str, machine: str | None = None) -> StudyCurves:
    runs = [r for r in store.runs(study) if r.outcome is not None and r.stage == "train"]
    if not runs:
        raise PowertrainError(f"no finished runs of study {study!r} in the store")
    machines = sorted({machine_of(r) for r in runs})
    if machine is None and len(machines) > 1:
        raise PowertrainError(
            f"study {study!r} ran on several machines; name one with --machine: {', '.join(machines)}"
        )
    machine = machine or machines[0]
    runs = [r for r in runs if machine_of(r) == machine]
    if not runs:
        raise PowertrainError(
            f"study {study!r} has no runs on {machine!r}; it has {', '.join(machines)}"
        )
    labels = {setup_key(r.setup): " ".join(f"{k}={v}" for k, v in r.setup.items()) for r in runs}
    curves = {(setup_key(r.setup), r.seed): curve_of(r, store.eval_points(r.id)) for r in runs}
    config = next((s["config"] for s in store.studies() if s["name"] == study), {})
    target = (config.get("task") or {}).get("target_accuracy")
    method = runs_label(r.provenance for r in runs)  # not the first run's alone
    axes = declared_axes(config)
    return StudyCurves(
        study, machine, method, labels, curves, target, axes, workload(labels, config)
    )


def curve_of(run: RunRecord, points: list[EvalPoint]) -> Curve:
    """A finished run and its points as simulation feeds them."""
    o = run.outcome
    reached = None
    if o.status == REACHED and o.energy_to_target_j is not None:
        reached = next(
            (i for i, p in enumerate(points) if p.total_energy_j >= o.energy_to_target_j - 1e-9),
            None,
        )
    if reached is not None and reached < len(points) - 1:
        end = points[reached].total_energy_j  # recorded past the target: a search stops there
    else:
        end = max(o.total_energy_j, points[-1].total_energy_j if points else 0.0)
    imprecise = any(below_resolution(f) for f in o.faults)
    return Curve(points, reached, end, o.verdict, o.stop_reason, imprecise, o)


def feed(curve: Curve, start: Start, trial: Trial, stop) -> bool:
    """Run ``trial`` on its stored curve from where it stands, as ``driver.Pool.start`` says.
    Returns whether the curve answered the start: False when it ran out where a search had ended
    the run (paused, never continued, or stopped by that search's own bound: a start that goes on
    past it asks more of the run than was stored)."""
    trial.again()
    first = first_trained(curve.points)
    if start.window is not None and not trial.points and first is not None:
        pause_in_window(first, start.window, trial)
        stored_window(curve.outcome, trial)
        return True
    for i in range(len(trial.points), len(curve.points)):
        point = curve.points[i]
        trial.points.append(point)
        trial.energy_j = point.total_energy_j
        if i == curve.reached_index:
            trial.end(Verdict.TARGET, curve.stop_reason)
            trial.energy_to_target_j = point.total_energy_j
            trial.energy_j = curve.end_energy_j
            return True
        if (reason := stop(point)) is not None:
            reason = as_stop(reason)
            trial.end(reason.verdict, reason.reason)
            return True
        if start.budget_j is not None and point.total_energy_j >= start.budget_j:
            trial.end(Verdict.RUNG_PAUSE, budget_reason(start.budget_j))
            if start.budget_j <= WINDOW_J:  # priced at its first evaluation at the latest
                stored_window(curve.outcome, trial)
            return True
    trial.end(curve.verdict, curve.stop_reason)
    trial.energy_j = curve.end_energy_j
    if curve.outcome is not None:  # a stored pause in its pricing window: priced as a live run is
        trial.priced(curve.outcome)
    return not curve.verdict.by_search


def stored_window(outcome: RunOutcome | None, trial: Trial) -> None:
    """A run a live search's window paused and then continued: priced by the span its window
    measured (its outcome keeps it), as the values of its group left paused in their windows are,
    not from its first evaluation (which also pays its warm-up, the pause and the resume): every
    value of a group on one footing."""
    if outcome is not None and outcome.priced_steps:
        trial.window_progress = float(outcome.priced_steps)
        trial.window_energy_j = outcome.priced_energy_j


def budget_reason(budget_j: float) -> str:
    """Why a run's energy budget paused it: a first look (a budget of 0 J: ``auto``'s, ``halving``'s
    first rung), a cost axis's pricing at its first evaluation (the window's budget, ``WINDOW_J``: its
    window, if any, had not ended before it), or halving's rung."""
    if budget_j <= 0:
        return "the first look: paused at its first evaluation"
    if budget_j <= WINDOW_J:
        return "priced at its first evaluation (a cost axis's pricing ends there at the latest)"
    return f"halving: rung budget {joules(budget_j)} reached"


def pause_in_window(first: EvalPoint, window: float, trial: Trial) -> None:
    """Pause ``trial`` in its pricing window: after ``window`` of the way to its first evaluation
    ``first``, at that share of its energy. A stored curve knows nothing between its evaluations; the
    energy is taken as linear in progress up to the first (constant power: so the traces' energies
    are made, and the live window's warm-up is not modelled)."""
    from powertrain.search.predict import progress

    trial.energy_j = window * first.total_energy_j
    trial.window_progress = window * float(progress([first])[0])
    trial.window_energy_j = trial.energy_j  # linear up to the first evaluation: no warm-up
    trial.end(
        Verdict.RUNG_PAUSE,
        f"priced over {window:.0%} of the way to its first evaluation {PAUSED_NOTE}",
    )


class CurvePool:
    """The search's pool on stored curves: one run at a time, each settled as it starts."""

    def __init__(self, curves: dict[tuple[str, int], Curve]) -> None:
        self.curves = curves

    def capacity(self) -> int:
        return 1

    def in_flight(self) -> int:
        return 0

    def start(self, start: Start, trial: Trial, stop) -> None:
        """Feeds the run's curve; a stop a search made is replayed as stored (the report simulates
        no such store), a pause past which the search asks more cannot be."""
        curve = self.curves[(start.setup, start.seed)]
        if not feed(curve, start, trial, stop) and not start.window and trial.paused:
            raise PowertrainError(
                f"run {start.setup} seed {start.seed} was paused by a search and never continued:"
                " its stored curve ends there, and a simulation cannot train it on; simulate a"
                " study whose runs ran on their own (a grid)"
            )

    def wait(self) -> None:
        raise RuntimeError("a simulated run ends as it starts: there is nothing to wait for")


def simulate(
    store_or_curves: ResultStore | StudyCurves,
    study: str | None = None,
    strategy: str = "bound",
    *,
    repeats: int = 200,
    seed: int = 0,
    confirm_seeds: int = 3,
    machine: str | None = None,
    cost_axes: tuple[str, ...] | None = None,
    **settings,
) -> Simulation:
    """Simulate ``strategy`` in ``repeats`` random orders of setups and seeds; deterministic for a seed."""
    if not 1 <= repeats <= 100_000:
        raise PowertrainError(f"repeats must be between 1 and 100000, got {repeats}")
    if not (isinstance(seed, int) and seed >= 0):  # numpy's generators take no other
        raise PowertrainError(f"--seed must be a whole number >= 0, got {seed}")
    data = (
        store_or_curves
        if isinstance(store_or_curves, StudyCurves)
        else load_curves(store_or_curves, study, machine)
    )
    axes = data.cost_axes if cost_axes is None else axes_setting(cost_axes)
    if cost_axes is not None:  # the caller's, each an axis of the study's setups
        known_axes(axes, data.labels, data.study)
    make_strategy(strategy, cost_axes=axes, **settings)  # checked once, before any simulation
    means = data.setup_means_j()
    best = min(means, key=means.get) if means else None
    sim = Simulation(
        data.study,
        data.machine,
        data.method,
        strategy,
        settings,
        repeats,
        seed,
        confirm_seeds,
        data.grid_energy_j,
        data.labels.get(best),
        means.get(best),
    )
    search = _replay_orders(sim, data, axes, means, best)
    sim.cost_axes = tuple(getattr(search, "treated", None) or ())
    sim.price_window = (getattr(search, "window", None) or 1.0) if sim.cost_axes else None
    sim.tuned_on = tuple(getattr(search, "tuned_on", ()))
    sim.workload = data.workload
    sim.warnings = [
        *curve_warnings(data, sim.cost_axes),
        *precision_warnings(data),
        *searched_warnings(data),
    ]
    return sim


def _replay_orders(sim: Simulation, data: StudyCurves, axes, means, best):
    """``sim``'s strategy in each of its orders of setups and seeds, into ``sim.orders``; the last
    order's search (what it treated as cost axes, what it was tuned on)."""
    setups = sorted(data.labels)
    seeds = {s: sorted(seed_ for key, seed_ in data.curves if key == s) for s in setups}
    pool = CurvePool(data.curves)
    for r in range(sim.repeats):
        rng = np.random.default_rng([sim.seed, r])
        order = tuple(setups[i] for i in rng.permutation(len(setups)))
        space = Space(
            order, {s: tuple(rng.permutation(seeds[s]).tolist()) for s in setups}, data.target
        )
        search = make_strategy(sim.strategy, rng, cost_axes=axes, warn=None, **sim.settings)
        outcome = run_search(search, space, pool, sim.confirm_seeds)
        sim.orders.append(_order_result(data, means, best, outcome))
        sim.orders[-1]["within_noise"] = bool(getattr(search, "within_noise", False))
    return search


def searched_warnings(data: StudyCurves) -> list[str]:
    """A line when a search ended some of the study's runs (stopped them, or paused them and went
    no further): their curves end early, so the replay is of what that search ran, not the grid."""
    ended = sum(c.verdict.by_search for c in data.curves.values())
    if not ended:
        return []
    return [
        f"{ended} of {len(data.curves)} runs were ended by a search (stopped, or paused and not "
        "promoted): their curves end early, so the grid's energy, its best setup and how near a "
        "pick came to it are those of what that search ran, not of the full grid; run the grid "
        "(powertrain run STUDY.yaml) to replay it whole"
    ]


def precision_warnings(data: StudyCurves) -> list[str]:
    """A line when runs' energy figures are below what their meters resolve well: the ranking of
    setups (and "within 10 % of the best") rests on figures whose error may pass 1 in 10."""
    return precision_note(sum(c.imprecise for c in data.curves.values()), len(data.curves))


def precision_note(imprecise: int, runs: int) -> list[str]:
    """The line of ``precision_warnings`` for ``imprecise`` of ``runs`` runs, if any."""
    if not imprecise:
        return []
    return [
        f"{imprecise} of {runs} runs' energy is below what their meter resolves well (their "
        "faults say so): errors may pass 1 in 10, so which setup is best, and a pick within 10 % "
        "of it, may be chance here; longer runs resolve it (for the CPU-time estimate, so does a "
        "meter with energy counters)"
    ]


def curve_warnings(data: StudyCurves, cost_axes: tuple[str, ...]) -> list[str]:
    """A line per setup whose curve a cost axis changed (see ``cost_axes.curve_changes``)."""
    if not cost_axes:
        return []
    from powertrain.search.cost_axes import curve_changes

    accuracies = {k: [p.val_accuracy for p in c.points] for k, c in data.curves.items()}
    return curve_changes(accuracies, cost_axes)


def _order_result(data: StudyCurves, means, best, outcome) -> dict[str, Any]:
    ratio = means[outcome.pick] / means[best] if outcome.pick in means and best else None
    return {
        "pick": data.labels.get(outcome.pick),
        "confirmed": outcome.confirmed,
        "energy_j": outcome.total_j,
        "search_energy_j": outcome.search_j,
        "share": outcome.total_j / data.grid_energy_j,
        "runs": outcome.runs,
        "ratio_to_best": ratio,
        "within_10pct": (
            bool(outcome.confirmed and ratio is not None and ratio <= WITHIN) if best else None
        ),
    }
