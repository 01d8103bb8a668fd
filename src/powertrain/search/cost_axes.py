"""Cost axes: an axis that changes what a step costs but not what it learns (a GPU power limit, by
construction; also clock limits, data-loader workers, ``torch.compile``, channels-last).

A search over a grid with cost axes learns the curve once per setup of the other axes (a *group*):
as Zeus profiles power limits just in time (``zeus/optimizer/power_limit.py``: a measured window of
a few dozen iterations per limit), it first trains every cost-axis value of a group for a short
window, prices each by the energy per unit of progress measured there, and from then on trains the
group only at its cheapest value. The window is ``price_window`` (:data:`PRICE_WINDOW`, a tenth) of
the steps to the run's first evaluation, after which the run pauses without evaluating
(``Start.window``; live, later if its priced part has not yet lasted ``MIN_PRICED_UPDATES`` of its
meters' updates, 2 s of NVML's counter, and at its first evaluation if that comes first); a run
that cannot pause between evaluations (a command's) pauses at its first evaluation
(``Start.budget_j``), and ``price_window: 1`` asks that of every run. Let the first evaluation
come late enough that a tenth of the way there is long enough to measure: the window is
what is priced. The strategy inside (:class:`Priced` wraps any) sees one setup per group.
Simulation and live search do the same: what a window spent is counted, and the cheapest value's
run goes on from where it paused. (A replay knows a run's energy at its evaluations only, and takes
it as linear in progress up to the first: constant power, as the traces' energies are made.)

``gpu_power_limit_w`` is a cost axis without being declared; others are declared with
``search.cost_axes`` in a study or ``powertrain import --cost-axis``. A declared axis that did change
the curve (accuracies at the same step differ between its values) is reported by
:func:`curve_changes`.
"""

from __future__ import annotations

import ast
import functools
import logging
from collections.abc import Callable, Iterable

from powertrain.errors import PowertrainError
from powertrain.records import RUNNING, EvalPoint
from powertrain.search.space import History, Space, Start, Trial
from powertrain.study.search_config import cost_axis_names
from powertrain.train.limits import MIN_PRICED_UPDATES
from powertrain.train.stopping import Stop

log = logging.getLogger(__name__)

DEFAULT_COST_AXES = ("gpu_power_limit_w",)
WINDOW_J = 1e-12  # a profiling window's budget: pause at the first evaluation at the latest
#: The share of the steps to its first evaluation over which a value is priced: as Zeus profiles a
#: power limit over a few dozen iterations, not an epoch (50 of the ~390 of a CIFAR epoch at batch
#: size 128). On a workload that reaches its target in two or three evaluations, a whole first
#: evaluation per value costs more than a search may (the development set with evaluations every
#: 11 epochs, whose target comes at the second: 8 % of the grid on pricing alone).
PRICE_WINDOW = 0.1
CURVE_TOLERANCE = 0.02  # accuracy difference between cost-axis values that counts as a change
#: The settings of the pricing (``make_strategy`` takes them for every strategy it wraps), not of a
#: strategy: they describe the study's grid and how its cost axes are priced.
PRICING_SETTINGS = ("cost_axes", "price_window")


def axes_of(setup_key: str) -> dict:
    """The axes of a setup key (``repr(sorted(setup.items()))``, see ``simulate.setup_key``)."""
    return dict(_parsed(setup_key))


@functools.lru_cache(maxsize=65_536)
def _parsed(setup_key: str) -> tuple[tuple, ...]:
    """A setup key's (axis, value) pairs, parsed once per key: a search over cost axes groups the
    same setups at every step, and a replay does it once per order."""
    try:
        return tuple(dict(ast.literal_eval(setup_key)).items())
    except (ValueError, SyntaxError, TypeError):
        return ()


def group_key(setup_key: str, cost_axes: Iterable[str]) -> str:
    axes = axes_of(setup_key)
    return repr(sorted((k, v) for k, v in axes.items() if k not in set(cost_axes)))


def curve_key(setup_key: str, seed: int, cost_axes: Iterable[str]) -> tuple[str, int]:
    """The learning curve a run follows: its seed and its setup without the cost axes (``cost_axes``
    and those that are one by default). Runs that differ only in a cost axis (twins) share it."""
    return group_key(setup_key, (*cost_axes, *DEFAULT_COST_AXES)), seed


def treated_axes(setups: Iterable[str], cost_axes: Iterable[str]) -> tuple[str, ...]:
    """The cost axes that take more than one value over ``setups`` (the ones worth pricing)."""
    values: dict[str, set] = {}
    for key in setups:
        for axis, value in axes_of(key).items():
            values.setdefault(axis, set()).add(repr(value))
    return tuple(a for a in dict.fromkeys(cost_axes) if len(values.get(a, ())) > 1)


def groups_of(setups: Iterable[str], cost_axes: Iterable[str]) -> dict[str, list[str]]:
    """Group key -> its setups (in the order given), for the treated ``cost_axes``."""
    out: dict[str, list[str]] = {}
    for key in setups:
        out.setdefault(group_key(key, cost_axes), []).append(key)
    return out


def axes_setting(cost_axes) -> tuple[str, ...]:
    """``cost_axes`` as names: a list, or text separated by commas (a ``--set`` value), each once
    (the study file's rule, ``cost_axis_names``)."""
    return tuple(cost_axis_names(cost_axes, "cost_axes")) if cost_axes else ()


def declared_axes(config: dict) -> tuple[str, ...]:
    """The cost axes a stored study declares: an import's ``search.cost_axes`` (a list), or a live
    run's, among its ``search.settings`` (text, as ``StudyConfig.to_dict`` keeps them)."""
    search = config.get("search") or {}
    axes = search.get("cost_axes") or (search.get("settings") or {}).get("cost_axes")
    return axes_setting(axes) if axes else ()


def known_axes(cost_axes: tuple[str, ...], setups: Iterable[str], study: str) -> tuple[str, ...]:
    """``cost_axes``, each an axis of ``setups`` (setup keys of ``study``), or an error naming
    those it has: an axis it has not would be priced nowhere."""
    known = list(dict.fromkeys(a for key in setups for a in axes_of(key)))
    unknown = [a for a in cost_axes if a not in known]
    if unknown:
        raise PowertrainError(
            f"cost_axes {', '.join(unknown)} is not an axis of study {study}; its axes are "
            f"{', '.join(known) or 'none'}"
        )
    return cost_axes


def price(trial: Trial) -> float:
    """Energy per unit of progress (step, else epoch) over the run's pricing window: the steps it
    priced before its window paused it, its warm-up and the checkpoint's save left out
    (``Trial.window_energy_j / window_progress``), else its start to its first evaluation after
    training (``first_trained``). (A second window would span the pause and the resume from the
    checkpoint, whose start-up costs more than a window.)"""
    from powertrain.search.predict import progress

    if trial.window_progress:
        return trial.window_energy_j / trial.window_progress
    first = first_trained(trial.points)
    done = float(progress([first])[0]) if first is not None else 0.0
    return first.total_energy_j / done if done > 0 else float("inf")


def first_trained(points: list[EvalPoint]) -> EvalPoint | None:
    """The first evaluation that follows some training (energy above 0 J), where a pricing window
    ends: one made before training (epoch 0, as many loops evaluate) costs 0 J under every value."""
    return next((p for p in points if p.total_energy_j > 0), None)


def window_setting(window) -> float | None:
    """``price_window`` as ``Start.window``: a share of the steps to the first evaluation in (0, 1];
    None for 1 (the window is the whole way to the first evaluation)."""
    try:
        share = float(window)
    except (TypeError, ValueError):
        share = float("nan")
    if not 0 < share <= 1:
        raise PowertrainError(
            f"price_window takes the share of the steps to the first evaluation that prices a "
            f"cost-axis value, in (0, 1] (1: the whole way), got {window!r}"
        )
    return None if share == 1 else share


def window_words(window: float | None) -> str:
    """What a pricing window (``Start.window``) covers, in words."""
    if window is None:
        return "the steps to a run's first evaluation"
    return f"{window:.0%} of the steps to a run's first evaluation"


def curve_changes(
    curves: dict[tuple[str, int], list[float]], cost_axes: Iterable[str], tolerance=CURVE_TOLERANCE
) -> list[str]:
    """One line per group whose seeds learnt differently under different cost-axis values:
    ``curves`` maps (setup key, seed) to its accuracies at each evaluation."""
    axes = tuple(cost_axes)
    seen: dict[tuple[str, int], tuple[str, list[float]]] = {}
    changed: dict[str, float] = {}
    for (setup, seed), accuracies in curves.items():
        key = (group_key(setup, axes), seed)
        if key not in seen:
            seen[key] = (setup, accuracies)
            continue
        n = min(len(accuracies), len(seen[key][1]))
        gap = max(
            (abs(a - b) for a, b in zip(accuracies[:n], seen[key][1][:n], strict=True)), default=0.0
        )
        if gap > tolerance:
            changed[key[0]] = max(changed.get(key[0], 0.0), gap)
    return [
        f"cost axis {', '.join(axes)} changed the learning curve of {label(g)} (accuracy differs "
        f"by up to {gap:.3f} at the same evaluation): it is not a pure cost axis there"
        for g, gap in changed.items()
    ]


def check_declared(runs: dict, cost_axes: Iterable[str], source: str) -> list[str]:
    """Declared cost axes checked against imported runs (``(setup key, seed) -> run`` with
    ``points``): an unknown axis is an error; a curve an axis changed is a warning line."""
    axes = tuple(cost_axes)
    known = {a for key, _ in runs for a in axes_of(key)}
    unknown = [a for a in axes if a not in known]
    if unknown:
        raise PowertrainError(
            f"{source}: --cost-axis {', '.join(unknown)} is not a setup column; "
            f"the setup columns are {', '.join(sorted(known)) or 'none'}"
        )
    curves = {k: [p.val_accuracy for p in r.points] for k, r in runs.items()}
    return curve_changes(curves, axes) if axes else []


def undeclared(runs: dict, cost_axes: Iterable[str], source: str) -> list[str]:
    """A line per setup axis not declared a cost axis (nor one by default) that behaves as one in
    imported runs (``(setup key, seed) -> run`` with ``points``): it takes more than one value, and
    every seed of every setup of the other axes learnt the same curve under each of its values
    (accuracy within :data:`CURVE_TOLERANCE` at every evaluation). Searched as an ordinary axis, it
    makes a search train the same curve once per value; declared, each value is priced instead."""
    declared = {*cost_axes, *DEFAULT_COST_AXES}
    curves = {k: [p.val_accuracy for p in r.points] for k, r in runs.items()}
    axes = {a for key, _ in curves for a in axes_of(key)} - declared
    lines = []
    for axis in sorted(axes):
        if not treated_axes((key for key, _ in curves), [axis]) or curve_changes(curves, [axis]):
            continue
        shared = {(group_key(key, [axis]), seed) for key, seed in curves}
        if len(shared) < len(curves):  # some curve was seen under two values at least
            lines.append(
                f"{source}: column {axis} never changed a learning curve (each seed of each setup "
                f"of the other columns learnt the same under every {axis} value); if it changes "
                f"only what a step costs, as a power limit does, declare it with --cost-axis {axis}"
                " so that a search prices it instead of training each value"
            )
    return lines


def label(setup_key: str) -> str:
    """``batch_size=32 learning_rate=0.003`` for a setup (or group) key; "the only setup" when it
    has no axes."""
    return " ".join(f"{k}={v}" for k, v in axes_of(setup_key).items()) or "the only setup"


class Priced:
    """Any strategy (``inner``) over a grid with cost axes: profile every cost-axis value of each
    group over its pricing window, then let ``inner`` search one setup per group, its cheapest value.
    Without a cost axis that varies, it is ``inner`` unchanged."""

    def __init__(
        self, inner, cost_axes: Iterable[str] = (), warn=log.warning, window=PRICE_WINDOW
    ) -> None:
        self.inner, self.warn, self.window = inner, warn, window_setting(window)
        self.cost_axes = tuple(dict.fromkeys((*cost_axes, *DEFAULT_COST_AXES)))
        self.name, self.confirm, self.finalists = inner.name, inner.confirm, inner.finalists
        self.treated: tuple[str, ...] | None = None
        self.prices: dict[str, float] = {}  # setup key -> energy per unit of progress
        self.warnings: list[str] = []
        self.view: History | None = None
        self._handed: set[tuple[str, int]] = set()

    def __getattr__(self, name):  # the inner strategy's own read-outs (verdict, ...)
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def next_runs(self, history: History) -> list[Start]:
        if self.treated is None:
            self.treated = treated_axes(history.space.setups, self.cost_axes)
        if not self.treated:
            return self.inner.next_runs(history)
        if self.view is None:
            todo = self._profiles(history)
            if todo or any(t.status is RUNNING for t in history.trials.values()):
                return todo
            self.view = History(self._reduced(history))
            self._carry_over(history)
            if hasattr(self.inner, "grid_runs"):  # the full grid's size, which the view hides
                self.inner.grid_runs = sum(len(v) for v in history.space.seeds.values())
        starts = self.inner.next_runs(self.view)
        self._handed.update((s.setup, s.seed) for s in starts)
        return starts

    def _profile_seed(self, space: Space, members: list[str]) -> dict[str, int]:
        """The seed each member is profiled on: the group's first seed wherever a member has it, so
        that the values are compared on one curve."""
        first = space.seeds[members[0]][0]
        return {s: first if first in space.seeds[s] else space.seeds[s][0] for s in members}

    def _profiles(self, history: History) -> list[Start]:
        space, out = history.space, []
        for members in groups_of(space.setups, self.treated).values():
            for s, seed in self._profile_seed(space, members).items():
                if history.trial(s, seed) is None:
                    out.append(Start(s, seed, WINDOW_J, self.window))
        return out

    def _reduced(self, history: History) -> Space:
        space, picks, seeds = history.space, [], {}
        for members in groups_of(space.setups, self.treated).values():
            profiled = self._profile_seed(space, members)
            trials = {s: history.trial(s, seed) for s, seed in profiled.items()}
            self.prices.update({s: price(t) for s, t in trials.items()})
            pick = min(members, key=self.prices.get)
            picks.append(pick)  # its profiled run goes on first
            seeds[pick] = (profiled[pick], *[x for x in space.seeds[pick] if x != profiled[pick]])
            self._check(trials)
        return Space(tuple(picks), seeds, space.target)

    def _carry_over(self, history: History) -> None:
        """A pick's profiling run that ended at its first evaluation (it reached the target there, or
        its curve ended) is in the view as it is: ``inner`` must not start it again. One paused
        there stays out, for ``inner`` to start (it goes on from where it paused)."""
        for setup, seeds in self.view.space.seeds.items():
            trial = history.trial(setup, seeds[0])
            if trial is not None and not trial.paused:
                self.view.trials[(setup, seeds[0])] = trial
                self._handed.add((setup, seeds[0]))

    def _check(self, trials: dict[str, Trial]) -> None:
        firsts = {(s, t.seed): [t.points[0].val_accuracy] for s, t in trials.items() if t.points}
        for line in curve_changes(firsts, self.treated):
            if self.warn is not None:
                self.warn(line)
            self.warnings.append(line)

    def stop(self, history, trial, point) -> Stop | None:
        if not self.treated:
            return self.inner.stop(history, trial, point)
        return None if self.view is None else self.inner.stop(self.view, trial, point)

    def handler(self, history: History, trial: Trial) -> Callable[[EvalPoint], Stop | None]:
        key = (trial.setup, trial.seed)
        if self.view is not None and key in self._handed:
            self.view.trials[key] = trial
        return lambda point: self.stop(history, trial, point)

    def candidates(self, history: History) -> list[str]:
        return self.inner.candidates(self.view if self.view is not None else history)

    def seed_order(self, history: History, setup: str) -> tuple[int, ...]:
        """A pick's seeds as ``inner`` ran them, its profiled seed first (see ``_reduced``): the
        confirmation reuses the runs the search made, not the full grid's first seeds."""
        if self.view is not None and setup in self.view.space.seeds:
            return self.view.space.seeds[setup]
        return history.space.seeds[setup]

    def notes(self) -> list[str]:
        """What the search says about the cost axes (and the inner strategy's verdict, if any)."""
        verdict = getattr(self.inner, "verdict", lambda: None)()
        if not self.treated:
            return [verdict] if verdict else []
        longer = f" or, if longer, {MIN_PRICED_UPDATES} of its meters' updates after its warm-up"
        longer = "" if self.window is None else longer  # a live window's minimum (none: no window)
        return [
            *([verdict] if verdict else []),
            f"cost axes {', '.join(self.treated)}: each value priced by energy per step over "
            f"{window_words(self.window)}{longer} (a command's: all of them), the curve learnt "
            "once per setup of the other axes",
            *self.warnings,
        ]
