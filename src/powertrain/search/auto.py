"""``auto``: the strategy to use when you do not know your workload. It screens, then races.

1. **Screen** one seed per setup. Where the setups are few beside the grid's runs (at most
   ``screen_share`` of them: a grid with several seeds per setup, or one whose cost axes were priced
   away), every setup's first seed runs to the target. Else a **first look**: every setup to its first
   evaluation, then the best ``screen`` of them (by validation accuracy at equal energy, ``rank``) on
   to the target in one go. The equal energy (``look_at``) is the **cheapest** first evaluation's,
   every other setup's first accuracy scaled down linearly from 0 J to it. ``median`` (setups
   evaluated earlier held at what they reached, those later scaled down) was tried and not made the
   default: it mended a grid whose first evaluations lasted a few of the CPU-time estimate's 10 ms
   ticks (holdout-mlp-tabular; since the estimate counts microseconds the cheapest does too) but,
   out of sample, drops a best setup whose first evaluation is cheap (holdout-mlp-quantiles);
   docs/search.md has both rules' figures. The last of three or more places is a **hedge**: it goes
   to the best of the rest with each first accuracy scaled down as (energy ratio) ** ``hedge``
   (0.25) instead of linearly, crediting a first evaluation that cost more with more of what it
   learnt (a best setup that evaluates dear is not seen by the linear view; None: every place by
   it). No halving rungs between: on small grids a middle rung costs as much as a contender's seeds
   and ranks no better than the first evaluation. Either way a run is **held** (paused) at
   ``beta`` x the best single run so far: one seed is a noisy measure, so a setup is not dropped for
   being a little worse than the best run, and a held run comes back (step 4) if that best run turns
   out lucky.
2. **Race** the contenders by sequential elimination: the setups whose screening run came within
   ``spread`` x the best one (a run is compared by where it most likely crossed the target, halfway
   between the evaluation that found it there and the one before, so one seed that landed an
   evaluation late on a workload evaluated seldom does not drop a setup; at least two, at most ``contenders``, and at most all but one of the
   setups screening ran on to the target: the race narrows what the screen sent on, since every
   contender raced costs about the leader's seeds again, and a grid with few seeds per setup has
   room for few such). The leader (the best screening
   run) runs its first ``seeds`` seeds first: they are its confirmation, needed anyway. Each other
   contender then runs its seeds at the leader's **pace**: its k-th seed stops once its seeds together
   pass ``margin`` x the leader's mean x k. A contender as good as the leader costs what the
   leader's seeds cost; a worse one stops as soon as its seeds fall behind, seed by seed.
3. **Separate or say so**: while the leader and a contender differ by less than their seeds'
   spread tells apart (log energy-to-target, difference under ``z`` standard errors), both get another
   seed, up to ``max_seeds`` or the seeds the study has. What is still inseparable then is reported
   ("these setups are within noise of each other") rather than one of them named the best.
4. **Bring back what a lucky run held**: a bound at ``beta`` x one run is only as good as that run.
   Once the race is over, a setup whose screening run was held below ``margin`` x the leader's mean
   energy-to-target was not shown worse than it: the one held cheapest goes on from where it paused,
   into the race at the leader's pace, and step 3 follows again.

The race's seeds are the confirmation: the pick is the setup with the lowest mean energy-to-target
over its seeds, every one of its first ``seeds`` seeds having reached the target. Over a grid with
cost axes it runs on one setup per setup of the other axes (``cost_axes.Priced``). Its settings were
chosen on the development set (the Zeus NSDI'23 CIFAR-100 and ImageNet traces) and the project's own
grids; see docs/search.md for which figures are in-sample.
"""

from __future__ import annotations

import math

import numpy as np

from powertrain.errors import PowertrainError
from powertrain.records import RUNNING, Verdict
from powertrain.search.cost_axes import label
from powertrain.search.space import History, Start, Trial
from powertrain.search.strategies import (
    Halving,
    Zeus,
    first_look_energy,
    hedge_power,
    register,
)
from powertrain.search.strategy import Strategy, at_least_one, bound_stop, count_setting
from powertrain.train.stopping import PAUSED_NOTE, Stop

PRIOR_SD = 0.15  # seed-to-seed spread of log energy-to-target before any setup has two seeds
TO_THE_TARGET = 1e6  # the first look's second budget, in first-evaluation budgets: no pause before


@register
class Auto(Strategy):
    name = "auto"
    tuned_on = (  # the development set (Zeus NSDI'23 traces) and the grids looked at
        "cifar100-v100",
        "cifar100-a40",
        "imagenet-v100",
        "imagenet-a40",
        "holdout-grid",
        "holdout-cnn-mnist",
        "paper-grid",
        # look_at's default was kept after replaying both rankings on every study, these too
        "holdout-cnn-digits",
        "holdout-mlp-tabular",
        "holdout-mlp-quantiles",
        # step 4 (bringing back what a lucky run held) was written after auto missed here
        "holdout-mlp-spirals",
        # the first look's hedge was chosen after replaying it on every grid above and these
        "holdout-cnn-waves",
        "holdout-cnn-shapes",
        "holdout-mlp-hastie",
        "holdout-gpu-shapes",
        "holdout-mlp-classif",
        "holdout-mlp-blobs",
    )
    finalists = 1  # the race has confirmed its pick: the driver's confirmation reuses its seeds

    def __init__(
        self,
        rng=None,
        beta: float = 1.5,
        screen: int = 3,
        spread: float = 1.25,
        contenders: int = 4,
        seeds: int = 3,
        max_seeds: int = 6,
        z: float = 1.0,
        margin: float = 1.0,
        screen_share: float = 0.05,
        rank: str = "accuracy",
        look_at: str = "cheapest",
        hedge: float | None = 0.25,
    ):
        super().__init__(rng)
        self.beta, self.spread = at_least_one("beta", beta), at_least_one("spread", spread)
        self.margin = at_least_one("margin", margin)
        self.contenders = count_setting("contenders", contenders)
        self.seeds = count_setting("seeds", seeds)
        self.max_seeds = max(self.seeds, count_setting("max_seeds", max_seeds))
        self.z = float(z) if math.isfinite(z) and z >= 0 else at_least_one("z", z)
        self.first_look = count_setting("screen", screen)
        if rank not in ("accuracy", "predicted"):
            raise PowertrainError(f"auto: rank must be accuracy or predicted, got {rank!r}")
        self.rank, self.look_at = rank, first_look_energy(look_at, "auto")
        self.hedge = hedge_power(hedge, "auto")
        self.every = Zeus(self.rng, beta=beta)
        self.screen_share = screen_share
        self.screen: Strategy | None = None
        self.grid_runs: int | None = None  # the full grid's runs (set by cost_axes.Priced)
        self.racing: list[str] | None = None  # contenders, leader first, once screening is done
        self.depth = self.seeds  # seeds each contender runs now (fewer where a setup has fewer)
        self.unraced: list[str] = []  # within spread of the best screening run, past the race's cap
        self.held: list[str] = []  # setups whose screening run the bound paused (step 4)
        self.tied: list[str] = []  # setups the race could not tell from the pick

    @property
    def within_noise(self) -> bool:
        return len(self.tied) > 1

    def verdict(self) -> str | None:
        if not self.within_noise:
            return None
        return (
            f"these setups are within noise of each other: {'; '.join(map(label, self.tied))} "
            f"(the first has the lowest mean energy-to-target over its seeds; up to {self.depth} seeds "
            "each could not tell them apart, so it is not named the best)"
        )

    def next_runs(self, history: History) -> list[Start]:
        if self.screen is None:
            self.screen = self._screening(history.space)
        if self.racing is None:
            # a held run stays paused: the screen would take it on to its budget
            starts = [s for s in self.screen.next_runs(history) if s.setup not in self.held]
            if starts or _running(history):
                return starts
            self.racing = self._contenders(history)
        while True:
            start = self._next_seed(history)
            if start is not None or _running(history):
                return [start] if start else []
            if not self._deepen(history) and not self._bring_back(history):
                return []

    def _screening(self, space) -> Strategy:
        """One seed of every setup (bounded at ``beta`` x the best run) when that is at most
        ``screen_share`` of the grid's runs, else the first look: halving with one cut, after the
        first evaluation, down to ``screen`` setups that then run to the target."""
        grid_runs = self.grid_runs or sum(len(v) for v in space.seeds.values())
        if len(space.setups) <= self.screen_share * grid_runs:
            return self.every
        return Halving(
            self.rng,
            eta=max(2.0, len(space.setups)),  # keeps the finalists only
            beta=self.beta,
            finalists=self.first_look,
            growth=TO_THE_TARGET,
            rank=self.rank,
            look_at=self.look_at,
            hedge=self.hedge,
        )

    def _contenders(self, history: History) -> list[str]:
        """The setups whose screening run came within ``spread`` x the best one (each by where it most
        likely crossed the target, ``_crossed_j``, against ``spread`` x the best run's
        energy-to-target at the evaluation that found it), best first: at
        least two, at most ``contenders`` and at most all but one of the setups screening ran on to
        the target (the race narrows what the screen sent on; it never re-runs all of it)."""
        screened = [t for t in history.trials.values() if t.seed == history.space.seeds[t.setup][0]]
        firsts = {t.setup: t.energy_to_target_j for t in screened if t.reached}
        if not firsts:
            return []
        seeded = [s for s in firsts if len(history.space.seeds[s]) >= self.seeds]
        ranked = sorted(seeded or firsts, key=firsts.get)  # a setup with too few seeds, last resort
        best = firsts[ranked[0]]
        crossed = {t.setup: _crossed_j(t) for t in screened if t.reached}
        close = [s for s in ranked if crossed[s] <= self.spread * best]
        # paused by the first look's cut (not sent on), or held by the bound on the way (sent on)
        sent_on = sum(not t.paused or t.setup in self.held for t in screened)
        cap = min(self.contenders, max(2, sent_on - 1))
        self.unraced = close[cap:]
        # close keeps the ranking's order, but where they crossed it need not be its first few
        return (close if len(close) > 1 else ranked)[: min(max(2, len(close)), cap)]

    def _next_seed(self, history: History) -> Start | None:
        for setup in self.racing:
            if self._out(history, setup):
                continue
            for seed in self._seeds(history, setup):
                trial = history.trial(setup, seed)
                if trial is None or trial.paused:
                    return Start(setup, seed)
        return None

    def _out(self, history: History, setup: str) -> bool:
        return any(t.stopped or t.missed for t in self._raced(history, setup))

    def _seeds(self, history: History, setup: str) -> tuple[int, ...]:
        """The seeds ``setup`` races now: its first ``depth`` (all it has, where it has fewer)."""
        return history.space.seeds[setup][: self.depth]

    def _raced(self, history: History, setup: str) -> list[Trial]:
        return [
            t for s in self._seeds(history, setup) if (t := history.trial(setup, s)) is not None
        ]

    def _complete(self, history: History) -> dict[str, list[Trial]]:
        """The contenders still in every one of whose raced seeds has reached the target."""
        out = {}
        for setup in self.racing:
            trials = self._raced(history, setup)
            done = len(trials) == len(self._seeds(history, setup))
            if done and all(t.reached for t in trials):
                out[setup] = trials
        return out

    def _means(self, history: History) -> dict[str, list[float]]:
        """Log energy-to-target of each complete contender's raced seeds."""
        return {
            s: [_log_j(t.energy_to_target_j) for t in trials]
            for s, trials in self._complete(history).items()
        }

    def _deepen(self, history: History) -> bool:
        """Another seed for the contenders the leader cannot be told from; False when the race is over
        (the ties it could not separate recorded)."""
        logs = self._means(history)
        if not logs:
            return False
        leader = min(logs, key=lambda s: np.mean(logs[s]))
        sd = _pooled_sd(logs.values())
        tied = [s for s in logs if s == leader or self._close(logs[s], logs[leader], sd)]
        more = [s for s in tied if len(history.space.seeds[s]) > self.depth]
        if len(tied) > 1 and more and self.depth < self.max_seeds:
            self.depth += 1
            self.racing = sorted(tied, key=lambda s: np.mean(logs[s]))  # the leader first
            return True
        # a contender stopped at the leader's pace, or a close setup past the race's cap, is out, but
        # said to be within noise when its seeds that reached the target cannot tell it from the leader
        out = self._out_of_race(history)
        tied += [s for s in out if self._close(out[s], logs[leader], sd)]
        every = {**out, **logs}

        def as_picked(setup: str) -> tuple[bool, float]:
            # the contenders every raced seed of which reached the target first (the pick among
            # them), each by its mean energy-to-target, as the pick is (not of its logs)
            return setup not in logs, float(np.mean(np.exp(every[setup])))

        self.tied = sorted(tied, key=as_picked) if len(tied) > 1 else []
        return False

    def _close(self, logs: list[float], leader_logs: list[float], sd: float) -> bool:
        """Whether a setup's mean log energy-to-target is within ``z`` standard errors of the leader's."""
        se = sd * math.sqrt(1 / len(logs) + 1 / len(leader_logs))
        return float(np.mean(logs)) - float(np.mean(leader_logs)) < self.z * se

    def _out_of_race(self, history: History) -> dict[str, list[float]]:
        """Log energy-to-target of the seeds that reached it, for the contenders a seed of which the
        pace stopped (a stopped seed says only that it would have cost more than it spent) and the
        close setups the cap left with their screening run alone."""
        first = {s: history.trial(s, history.space.seeds[s][0]) for s in self.unraced}
        out = {s: [_log_j(t.energy_to_target_j)] for s, t in first.items()}
        for setup in self.racing:
            trials = self._raced(history, setup)
            reached = [_log_j(t.energy_to_target_j) for t in trials if t.reached]
            if reached and any(t.stopped for t in trials) and not any(t.missed for t in trials):
                out[setup] = reached
        return out

    def _bring_back(self, history: History) -> bool:
        """Step 4: the held setup that spent least comes back into the race when that is below
        ``margin`` x the leader's mean (or when no contender reached the target on all its seeds);
        False when none does. As for contenders, one with fewer than ``seeds`` seeds comes back only
        when no setup raced has that many (it could be confirmed on no more than it has)."""
        leader_j = self._leader_mean(history)
        limit_j = math.inf if leader_j is None else self.margin * leader_j
        spent = {s: history.trial(s, history.space.seeds[s][0]).energy_j for s in self.held}
        back = [s for s in self.held if spent[s] < limit_j]
        if any(len(history.space.seeds[s]) >= self.seeds for s in self.racing):
            back = [s for s in back if len(history.space.seeds[s]) >= self.seeds]
        if not back:
            return False
        setup = min(back, key=spent.get)
        self.held.remove(setup)
        self.racing.append(setup)
        return True

    def stop(self, history, trial, point) -> Stop | None:
        if self.racing is None:
            stop = self.screen.stop(history, trial, point)
            if stop is None or stop.verdict is not Verdict.SEARCH_BOUND or not self._sent_on():
                return stop
            self.held.append(trial.setup)  # the bound holds it, paused: step 4 may bring it back
            return Stop(Verdict.RUNG_PAUSE, f"{stop.reason}, held {PAUSED_NOTE}")
        leader_j = self._leader_mean(history)
        seeds = self._seeds(history, trial.setup) if trial.setup in self.racing else ()
        if leader_j is None or trial.seed not in seeds:
            return None
        # its k-th raced seed: the leader's pace allows k x its mean
        k = seeds.index(trial.seed) + 1
        earlier = [history.trial(trial.setup, s) for s in seeds[: k - 1]]
        done = sum(t.energy_to_target_j for t in earlier if t is not None and t.reached)
        return bound_stop(
            done + point.total_energy_j,
            self.margin * leader_j * k,
            self.margin,
            "the leader's pace (mean x seeds)",
        )

    def _sent_on(self) -> bool:
        """Whether screening runs now go to the target: always when every setup's first seed does,
        after its first cut when the first look screens."""
        return not isinstance(self.screen, Halving) or self.screen.budget_j is not None

    def _leader_mean(self, history: History) -> float | None:
        """The lowest mean energy-to-target of a complete contender (every raced seed reached it)."""
        means = [
            float(np.mean([t.energy_to_target_j for t in trials]))
            for trials in self._complete(history).values()
        ]
        return min(means) if means else None

    def candidates(self, history: History) -> list[str]:
        """Contenders all of whose raced seeds reached the target, by mean energy-to-target."""
        if not self.racing:
            return []
        means = {s: float(np.mean(np.exp(v))) for s, v in self._means(history).items()}
        return sorted(means, key=means.get)


def _crossed_j(trial: Trial) -> float:
    """Where a run that reached the target most likely crossed it: halfway between the evaluation
    that found it there and the one before (the whole step is the evaluations' spacing, not the
    run's cost). A run that found it at its first evaluation is taken at that: where it crossed is
    not known, and every setup evaluated on the same schedule shares that."""
    p = trial.points
    return (p[-2].total_energy_j + p[-1].total_energy_j) / 2 if len(p) > 1 else p[-1].total_energy_j


def _running(history: History) -> bool:
    return any(t.status is RUNNING for t in history.trials.values())


def _pooled_sd(groups) -> float:
    groups = [g for g in groups if len(g) > 1]
    dof = sum(len(g) - 1 for g in groups)
    ss = sum(float(np.sum((np.array(g) - np.mean(g)) ** 2)) for g in groups)
    return math.sqrt((ss + 2 * PRIOR_SD**2) / (dof + 2))  # the prior counts as two seeds


def _log_j(energy_j: float) -> float:
    """The log of an energy-to-target; one too small to measure (0 J in a store imported before such
    traces were refused) counts as a microjoule rather than failing the search."""
    return math.log(max(energy_j, 1e-6))
