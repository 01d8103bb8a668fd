"""The ``optuna`` strategy over a known set of setups (a study's grid live; a finished study's stored
setups in simulation): Optuna's TPE sampler picks each trial's setup through its ask/tell interface, the
grid's axes as categorical choices.

- A trial runs its setup's next unused seed (a setup asked again gets its next seed; a setup with none
  left is told the mean energy-to-target of its seeds that reached the target, without a run).
- Optuna is told the run's energy-to-target; a run that missed the target (its limits, or stopped by
  the bound) is told as pruned: worse than any that reached it.
- With ``beta``, a run is stopped once its energy passes beta x the best energy-to-target so far
  (None, the default as live: no bound).
- Several trials at once (a pool with room for more: workers, Ray): the driver asks again while it
  has room, each ask a new Optuna trial drawn with the constant liar (``tpe``), and each trial is
  told as its run ends; a trial that draws a setup whose seeds are all under way is told once they
  end. With room for one, every trial is told before the next is asked: a seed gives the same search.
- After ``trials`` trials the driver confirms the candidates (lowest mean energy-to-target first) on
  the search's confirmation seeds (``driver.pick_confirmed``).

Optuna is imported only when the first trial is asked for, so that naming the strategy (settings
checked, ``make_strategy``) costs nothing. The sampler's seed is drawn from the strategy's ``rng``: a
simulation with a fixed seed is deterministic.
"""

from __future__ import annotations

import ast
import statistics
import warnings

from powertrain.search.space import History, Start, Trial
from powertrain.search.strategy import (
    Strategy,
    at_least_one,
    best_run_stop,
    count_setting,
    next_seed,
)
from powertrain.study.search_config import SearchConfig
from powertrain.train.stopping import Stop

DEFAULT_TRIALS = SearchConfig.trials  # what a live search uses unless the study says otherwise
WHOLE_SETUP = "setup"  # the one categorical axis when the setups are not a full product of axes


class OptunaStrategy(Strategy):
    """TPE over the space's setups; see the module's notes."""

    name = "optuna"

    def __init__(
        self,
        rng=None,
        trials: int = DEFAULT_TRIALS,
        beta: float | None = None,
        finalists: int = 1,
    ) -> None:
        super().__init__(rng)
        self.trials = count_setting("trials", trials, 10_000)
        self.beta = None if beta is None else at_least_one("beta", beta)
        self.finalists = count_setting("finalists", finalists)
        self.ostudy = None  # the Optuna study, made on the first ask
        self.axes: tuple[dict[str, list[str]], dict[tuple, str]] = ({}, {})
        self.pending: dict[tuple[str, int], object] = {}  # (setup, seed) -> its Optuna trial
        self.waiting: list[tuple[str, object]] = []  # trials of a setup whose seeds all started

    def next_runs(self, history: History) -> list[Start]:
        """The next trial's run: one at a time, and the driver asks again while its pool has room
        (several trials under way at once, each told as it ends)."""
        if self.ostudy is None:
            self.ostudy = self.make_study(history)
        self.tell_finished(history)
        while len(self.ostudy.trials) < self.trials:
            asked = self.ostudy.ask()
            setup = self.suggest(asked, history)
            if setup is None:  # a combination the setups refuse
                self.tell(asked, None)
                continue
            seed = next_seed(history, setup)
            if seed is not None:
                self.pending[(setup, seed)] = asked
                return [Start(setup, seed)]
            # Every seed of it started: what they give is all there is to tell, once they end.
            self.waiting.append((setup, asked))
            self.tell_finished(history)
        return []

    def stop(self, history: History, trial: Trial, point) -> Stop | None:
        return best_run_stop(history, point, self.beta)

    def candidates(self, history: History) -> list[str]:
        """Setups by the mean energy-to-target of their seeds that reached it, those none of whose
        seeds missed it first."""
        return ranked(history)

    # The parts a sampled (continuous, multi-objective) search changes: see optuna_live.

    def make_study(self, history: History):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():  # multivariate TPE is still marked experimental in places
            warnings.simplefilter("ignore")
            sampler = self.sampler(history, seed=int(self.rng.integers(2**31)))
        return optuna.create_study(directions=self.directions(), sampler=sampler)

    def sampler(self, history: History, seed: int):
        self.axes = grid_axes(history.space.setups)
        return tpe(seed, multivariate=len(self.axes[0]) > 1)

    def directions(self) -> list[str]:
        return ["minimize"]  # energy-to-target

    def suggest(self, asked, history: History) -> str | None:
        choices, setups = self.axes
        values = tuple(
            asked.suggest_categorical(axis, options) for axis, options in choices.items()
        )
        return setups.get(values)

    def tell(self, asked, trials: list[Trial] | None) -> None:
        """Tell Optuna a trial's value: the mean energy-to-target of ``trials`` that reached the
        target; pruned when none did; failed when ``trials`` is None (no run could be made)."""
        from optuna.trial import TrialState

        if trials is None:
            self.ostudy.tell(asked, state=TrialState.FAIL)
            return
        reached = [t.energy_to_target_j for t in trials if t.reached]
        if reached:
            self.ostudy.tell(asked, statistics.fmean(reached))
        else:
            self.ostudy.tell(asked, state=TrialState.PRUNED)

    def tell_finished(self, history: History) -> None:
        """Tell Optuna each trial whose run ended, and each trial that asked for a setup with no seed
        left once that setup's runs have all ended (one after another: at once)."""
        for key, asked in list(self.pending.items()):
            trial = history.trial(*key)
            if trial is not None and trial.finished:
                self.tell(asked, [trial])
                del self.pending[key]
        for setup, asked in list(self.waiting):
            trials = history.of_setup(setup)
            if all(t.finished for t in trials):
                self.tell(asked, trials)
                self.waiting.remove((setup, asked))


def tpe(seed: int, multivariate: bool):
    """Optuna's TPE with the constant liar: a trial under way counts as worse than every finished
    one, so trials asked while others run are drawn away from them (Optuna's advice for parallel
    trials; with one trial at a time none is under way at an ask, and it changes nothing)."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=multivariate, constant_liar=True)


def ranked(history: History) -> list[str]:
    reached = history.reached_by_setup()
    missed = {t.setup for t in history.trials.values() if t.finished and not t.reached}
    return sorted(reached, key=lambda s: (s in missed, statistics.fmean(reached[s])))


def grid_axes(setups: tuple[str, ...]) -> tuple[dict[str, list[str]], dict[tuple, str]]:
    """The categorical axes of the setups' keys (``simulate.setup_key``: the repr of the setup's sorted
    items), each value as its repr, and which setup each combination is; one axis of the whole setups
    when they are not every combination of their axes (or their keys cannot be read back)."""
    try:
        setup_of = {key: dict(ast.literal_eval(key)) for key in setups}
    except (ValueError, SyntaxError, TypeError):
        setup_of = {}
    names = sorted({name for s in setup_of.values() for name in s})
    choices = {n: sorted({repr(s.get(n)) for s in setup_of.values()}) for n in names}
    combos = {tuple(repr(s.get(n)) for n in names): key for key, s in setup_of.items()}
    product = 1
    for options in choices.values():
        product *= len(options)
    if names and len(combos) == len(setups) == product:
        return choices, combos
    whole = sorted(setups)
    return {WHOLE_SETUP: whole}, {(key,): key for key in whole}
