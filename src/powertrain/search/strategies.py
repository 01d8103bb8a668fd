"""The search strategies (``strategy.py`` says what one is), and the registry of them by name."""

from __future__ import annotations

import math

import numpy as np

from powertrain.errors import PowertrainError
from powertrain.records import RUNNING, EvalPoint
from powertrain.search.optuna_strategy import OptunaStrategy
from powertrain.search.settings import typed_settings
from powertrain.search.space import History, Start, Trial
from powertrain.search.strategy import (
    Strategy,
    at_least_one,
    best_run_stop,
    bound_stop,
    count_setting,
    next_seed,
)
from powertrain.train.stopping import Stop


def _first_unstarted(history: History, setups, per_setup: int | None = None) -> Start | None:
    for setup in setups:
        for seed in history.space.seeds[setup][:per_setup]:
            if history.trial(setup, seed) is None:
                return Start(setup, seed)
    return None


class Grid(Strategy):
    """Every (setup, seed), each to its target or limits."""

    name = "grid"
    tuned_on = ()  # nothing to tune

    def next_runs(self, history: History) -> list[Start]:
        return [
            Start(s, seed)
            for s in history.space.setups
            for seed in history.space.seeds[s]
            if history.trial(s, seed) is None
        ]


class Zeus(Strategy):
    """Zeus's rule, the baseline: one seed per setup, a run stopped once its energy passes ``beta`` x
    the best energy-to-target so far; the setup with the lowest energy-to-target is the pick,
    unconfirmed."""

    name = "zeus"
    confirm = False

    def __init__(self, rng=None, beta: float = 1.0) -> None:
        super().__init__(rng)
        self.beta = at_least_one("beta", beta)

    def next_runs(self, history: History) -> list[Start]:
        start = _first_unstarted(history, history.space.setups, per_setup=1)
        return [start] if start else []

    def stop(self, history, trial, point) -> Stop | None:
        return best_run_stop(history, point, self.beta)


class Bound(Strategy):
    """Setup by setup, every seed; a run stops once its setup's mean energy (seeds done plus this one
    so far) passes ``beta`` x the best setup's mean energy-to-target so far. A setup with a stopped or
    censored seed cannot be the pick, so its remaining seeds are skipped. With beta 1 the true best is
    never stopped, and no run spends more than in the grid."""

    name = "bound"

    def __init__(self, rng=None, beta: float = 1.0) -> None:
        super().__init__(rng)
        self.beta = at_least_one("beta", beta)

    def next_runs(self, history: History) -> list[Start]:
        alive = [
            s
            for s in history.space.setups
            if all(t.reached or t.status is RUNNING for t in history.of_setup(s))
        ]
        start = _first_unstarted(history, alive)
        return [start] if start else []

    def stop(self, history, trial, point) -> Stop | None:
        best = history.best_setup_mean_j()
        if best is None:
            return None
        others = [t for t in history.of_setup(trial.setup) if t is not trial]
        seeds = len(history.space.seeds[trial.setup])
        mean_j = (sum(t.lower_bound_j for t in others) + point.total_energy_j) / seeds
        return bound_stop(mean_j, self.beta * best, self.beta, "the best setup's mean")


class Halving(Strategy):
    """Successive halving with energy as the budget, one seed per setup. Rung 0 takes every setup to
    its first evaluation (or to ``min_budget_j`` joules); rung r > 0 gives every surviving setup
    ``growth``^r x the median energy rung 0 spent per setup (growth defaults to eta). After each rung
    the best 1/eta go on, ranked (``rank``) by validation accuracy at equal energy or by predicted
    energy-to-target; runs that reached the target rank first, by energy-to-target. A run is also
    stopped once it passes ``beta`` x the best energy-to-target so far: it can no longer win."""

    name = "halving"

    def __init__(
        self,
        rng=None,
        eta: float = 3.0,
        min_budget_j: float | None = None,
        beta: float = 1.0,
        finalists: int = 2,
        rank: str = "predicted",
        growth: float | None = None,
        look_at: str = "cheapest",
        hedge: float | None = None,
    ):
        super().__init__(rng)
        if rank not in ("accuracy", "predicted"):
            raise PowertrainError(f"halving: rank must be accuracy or predicted, got {rank!r}")
        self.rank, self.look_at = rank, first_look_energy(look_at, "halving")
        self.hedge = hedge_power(hedge, "halving")
        self.finalists = count_setting("finalists", finalists)
        self.eta = _above_one("eta (reduction factor)", eta)
        self.growth = self.eta if growth is None else _above_one("growth (budget factor)", growth)
        if min_budget_j is not None and not (math.isfinite(min_budget_j) and min_budget_j > 0):
            raise PowertrainError(f"halving: min_budget_j must be > 0 J, got {min_budget_j}")
        self.first_budget_j, self.beta = min_budget_j, at_least_one("beta", beta)
        self.budget_j: float | None = None  # the current rung's (None: rung 0)
        self.alive: list[str] | None = None

    def next_runs(self, history: History) -> list[Start]:
        space = history.space
        if self.alive is None:
            self.alive = list(space.setups)
        while True:
            budget_j = self.budget_j if self.budget_j is not None else self.first_budget_j or 0.0
            todo = [
                Start(s, space.seeds[s][0], budget_j)
                for s in self.alive
                if _needs(history.trial(s, space.seeds[s][0]), budget_j)
            ]
            if todo:
                return todo
            if any(history.trial(s, space.seeds[s][0]).status is RUNNING for s in self.alive):
                return []  # runs at once (search/concurrent.py): the rung is not done, wait
            trials = [history.trial(s, space.seeds[s][0]) for s in self.alive]
            if not any(t.reached or t.paused for t in trials):
                # every survivor ended at its limits or the bound: go on with the best of the rest
                trials = [t for t in history.trials.values() if t.paused]
                if not trials:
                    return []
            ranked = sorted(
                (t for t in trials if t.reached or t.paused),
                key=self._ranker(history, trials),
            )
            # never fewer than the finalists: they go on to the target together
            keep = ranked[: max(self.finalists, math.ceil(len(self.alive) / self.eta))]
            if self.hedge is not None and self.budget_j is None and self.rank == "accuracy":
                keep = self._hedged(keep, ranked, trials)
            self.alive = [t.setup for t in keep]
            if not any(t.paused for t in keep):
                return []
            if self.budget_j is None:  # rung 0 done: later rungs grow from what it cost a setup
                self.budget_j = max(float(np.median([t.energy_j for t in trials])), 1e-9)
            self.budget_j *= self.growth

    def stop(self, history, trial, point) -> Stop | None:
        return best_run_stop(history, point, self.beta)

    def _hedged(self, keep: list[Trial], ranked: list[Trial], trials: list[Trial]) -> list[Trial]:
        """Rung 0's survivors with the last place given to the best of the rest ranked with the
        accuracy below each first evaluation credited as concave (``hedge``'s power, not linear):
        a first evaluation that cost more was more training, which the linear view may undercount.
        Only where there are three places or more: the linear view keeps at least two."""
        if len(keep) < 3:
            return keep
        budget_j = LOOK_AT[self.look_at]([t.energy_j for t in trials])
        credited = sorted(ranked, key=lambda t: _rung_rank(t, budget_j, self.hedge))
        return [*keep[:-1], next(t for t in credited if t not in keep[:-1])]

    def _ranker(self, history: History, trials: list[Trial]):
        # equal energy: the rung's budget, or at rung 0 the least (or the median) its runs spent
        budget_j = self.budget_j or LOOK_AT[self.look_at]([t.energy_j for t in trials])
        if self.rank == "accuracy" or history.space.target is None:
            return lambda t: _rung_rank(t, budget_j)
        from powertrain.search.predict import predicted_energy_j, shape_prior

        prior = shape_prior([t.points for t in history.trials.values() if len(t.points) > 1])

        def by_prediction(t: Trial) -> tuple[int, float]:
            if t.reached:
                return (0, t.energy_to_target_j)
            e = predicted_energy_j(t.points, history.space.target, prior)
            return (1, e if e is not None else math.inf)

        return by_prediction


LOOK_AT = {  # rung 0's equal energy, from what its runs spent
    "cheapest": min,
    "median": lambda energies_j: float(np.median(energies_j)),
}


def first_look_energy(look_at: str, strategy: str) -> str:
    """``look_at`` when it names a rung-0 equal energy (``LOOK_AT``), else PowertrainError."""
    if look_at not in LOOK_AT:
        raise PowertrainError(
            f"{strategy}: look_at must be {' or '.join(LOOK_AT)}, got {look_at!r}"
        )
    return look_at


def _needs(trial: Trial | None, budget_j: float) -> bool:
    return trial is None or (trial.paused and trial.energy_j < budget_j)


def hedge_power(hedge: float | None, strategy: str) -> float | None:
    """``hedge`` when it is None or a power in (0, 1] (``Halving._hedged``), else PowertrainError."""
    if hedge is None:
        return None
    if not isinstance(hedge, (int, float)) or not 0 < hedge <= 1:
        raise PowertrainError(
            f"{strategy}: hedge must be a power above 0 and at most 1, got {hedge!r}"
        )
    return float(hedge)


def _rung_rank(trial: Trial, budget_j: float, power: float = 1.0) -> tuple[int, float]:
    if trial.reached:
        return (0, trial.energy_to_target_j)
    return (1, -accuracy_at(trial.points, budget_j, power))


def accuracy_at(points: list[EvalPoint], energy_j: float, power: float = 1.0) -> float:
    """Validation accuracy at a cumulative energy, interpolated linearly between evaluations; before
    the first, from nothing learnt at 0 J as (energy / the first's) ** ``power`` of the first's
    accuracy. Linear (1, the default): a setup whose first evaluation came at more energy is not
    credited, at less energy, with an accuracy it had not been seen to reach; a power below 1 credits
    it with more, as a learning curve that rises fastest at its start would."""
    if not points or energy_j <= 0:
        return 0.0
    first = points[0]
    if energy_j < first.total_energy_j:
        return first.val_accuracy * (energy_j / first.total_energy_j) ** power
    energies = [p.total_energy_j for p in points]
    return float(np.interp(energy_j, energies, [p.val_accuracy for p in points]))


class Thompson(Strategy):
    """Seeds as repeated trials: each setup's log energy-to-target is normal with an unknown mean
    (a wide prior around everything seen so far) and a pooled spread; Thompson sampling picks the setup
    whose draw is lowest for the next seed. Runs are stopped at ``beta`` x the best run so far; a stopped
    or censored run counts as one spread above what it spent. The search ends once the leader is the best
    in ``confidence`` of the posterior draws, or after ``max_runs`` runs."""

    name = "thompson"

    def __init__(
        self,
        rng=None,
        beta: float = 1.0,
        confidence: float = 0.9,
        max_runs: int | None = None,
        draws: int = 400,
        finalists: int = 2,
    ):
        super().__init__(rng)
        self.finalists = count_setting("finalists", finalists)
        self.beta, self.confidence = at_least_one("beta", beta), confidence
        self.max_runs = None if max_runs is None else count_setting("max_runs", max_runs, 10**6)
        self.draws = count_setting("draws", draws, 10**6)
        if not 0 < confidence < 1:
            raise PowertrainError(f"thompson: confidence must be between 0 and 1, got {confidence}")

    def next_runs(self, history: History) -> list[Start]:
        space = history.space
        open_setups = [s for s in space.setups if next_seed(history, s) is not None]
        limit = self.max_runs or 2 * len(space.setups)
        if not open_setups or len(history.trials) >= limit:
            return []
        means, sds = self._posterior(history)
        if history.best_run_j() is not None and self._leader_confidence(history, means, sds) >= (
            self.confidence
        ):
            return []
        draws = {s: self.rng.normal(means[s], sds[s]) for s in open_setups}
        choice = min(open_setups, key=draws.get)
        return [Start(choice, next_seed(history, choice))]

    def stop(self, history, trial, point) -> Stop | None:
        return best_run_stop(history, point, self.beta)

    def _posterior(self, history: History):
        obs = {s: _log_observations(history, s) for s in history.space.setups}
        everything = [x for v in obs.values() for x, _ in v]
        prior_mean = float(np.mean(everything)) if everything else 0.0
        prior_sd, noise = 1.0, _pooled_sd(history)
        means, sds = {}, {}
        for s, values in obs.items():
            xs = [x + (noise if censored else 0.0) for x, censored in values]
            precision = 1 / prior_sd**2 + len(xs) / noise**2
            means[s] = (prior_mean / prior_sd**2 + sum(xs) / noise**2) / precision
            sds[s] = precision**-0.5
        return means, sds

    def _leader_confidence(self, history, means, sds) -> float:
        reached = history.reached_by_setup()
        leader = min(reached, key=lambda s: means[s])
        setups = list(history.space.setups)
        draws = self.rng.normal(
            [means[s] for s in setups], [sds[s] for s in setups], (self.draws, len(setups))
        )
        return float(np.mean(np.argmin(draws, axis=1) == setups.index(leader)))


def _log_observations(history: History, setup: str) -> list[tuple[float, bool]]:
    return [
        (math.log(max(t.lower_bound_j, 1e-9)), not t.reached)
        for t in history.of_setup(setup)
        if t.reached or t.stopped or t.finished
    ]


def _pooled_sd(history: History, default: float = 0.3) -> float:
    groups = [
        [math.log(v) for v in vs] for vs in history.reached_by_setup().values() if len(vs) > 1
    ]
    dof = sum(len(g) - 1 for g in groups)
    if dof < 2:
        return default
    ss = sum(sum((x - np.mean(g)) ** 2 for x in g) for g in groups)
    return max(math.sqrt(ss / dof), 0.05)


def _above_one(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 1):
        raise PowertrainError(f"halving: {name} must be > 1, got {value}")
    return float(value)


STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s for s in (Grid, Zeus, Bound, Halving, Thompson, OptunaStrategy)
}


def strategy_class(name: str) -> type[Strategy]:
    """The strategy registered as ``name``, or PowertrainError listing the names there are."""
    if name not in STRATEGIES:
        raise PowertrainError(
            f"no search strategy named {name!r}; choose one of {', '.join(STRATEGIES)}"
        )
    return STRATEGIES[name]


def register(strategy: type[Strategy]) -> type[Strategy]:
    """Add a strategy to the registry by its ``name`` (a decorator too); a name is taken once."""
    if strategy.name in STRATEGIES:
        raise PowertrainError(f"a search strategy named {strategy.name!r} is registered already")
    STRATEGIES[strategy.name] = strategy
    return strategy


def make_strategy(
    name: str,
    rng: np.random.Generator | None = None,
    cost_axes=(),
    warn=...,
    price_window=None,
    **settings,
) -> Strategy:
    """A strategy by name, with its settings (e.g. ``beta``, ``eta``), checked against their types.
    Over a grid whose ``cost_axes`` (and ``gpu_power_limit_w``) vary, it searches one setup per setup
    of the other axes, each cost-axis value priced over a short window (``cost_axes.Priced``: a
    ``price_window`` share of the steps to its first evaluation, a tenth unless said); grid runs
    every (setup, seed), as its live search does, and optuna samples a cost axis as any other."""
    cls = strategy_class(name)
    strategy = cls(rng, **typed_settings(name, cls, settings))
    if name in (Grid.name, OptunaStrategy.name):
        if price_window is not None:
            raise PowertrainError(
                f"strategy {name} prices no cost axis (grid runs every value, optuna samples it as "
                f"any other axis), so it takes no price_window; got {price_window!r}"
            )
        return strategy
    from powertrain.search.cost_axes import PRICE_WINDOW, Priced, axes_setting

    window = PRICE_WINDOW if price_window is None else price_window
    if warn is ...:  # a cost axis that changed the curve: logged, unless told where to say it
        return Priced(strategy, axes_setting(cost_axes), window=window)
    return Priced(strategy, axes_setting(cost_axes), warn, window)
