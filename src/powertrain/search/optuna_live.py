"""The ``optuna`` strategy, live: Optuna's sampler picks each run's setup, for spaces too large or
continuous for a grid (``search.space``: ``learning_rate: {low: 0.001, high: 0.3, log: true}``; the
grid's lists are categorical choices). Optuna is imported only when the strategy first asks.

- ``objectives: [energy]`` (TPE by default): minimise energy-to-target. A run that does not reach the
  target is told to Optuna as pruned (worse than any that did); with ``beta`` set, a run is stopped
  once it passes beta x the best energy-to-target so far (censored, with the reason).
- ``objectives: [energy, accuracy]`` (``sampler: nsga2`` for NSGA-II): minimise the energy each run
  spent, maximise the validation accuracy it ended at; no bound.

Every trial is an ordinary run of the study in the store (its sampled values are its setup), on the
setup's next unused seed (a setup sampled again gets its next seed). The decision logic is
``optuna_strategy.OptunaStrategy``, driven by ``run_search`` like every other strategy, so the pick is
then **confirmed** on the search's ``confirm_seeds`` seeds (``driver.pick_confirmed``): a seed that
misses the target or passes the leader's summed energy fails the candidate, the confirmation runs are
in the store and in the search's cost, and ``confirmed`` is true only when the pick's seeds all reached
the target. In a continuous space the confirmed setup is the sampled point itself, run on other seeds.
What is confirmed: with ``[energy]`` the setups by mean energy-to-target, lowest first; with
``[energy, accuracy]`` the Pareto front's members that reached the target, by energy-to-target (the
pick is named with the front beside it). Over a grid with TPE, the strategy is the very one simulation
drives (``powertrain simulate --strategy optuna``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import TYPE_CHECKING, get_type_hints

import numpy as np

from powertrain.errors import ConfigError, PowertrainError
from powertrain.search.live import LivePool, LiveSearch, drive, live_space
from powertrain.search.optuna_strategy import OptunaStrategy, ranked, tpe
from powertrain.search.simulate import setup_key
from powertrain.search.space import History, Space, Trial
from powertrain.store.base import ResultStore
from powertrain.study.config import Setup
from powertrain.study.executors.base import Executor, Stops, no_stops
from powertrain.train.config import TrainConfig
from powertrain.train.stopping import Stop

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.resume import RunPlace
    from powertrain.study.search_config import SearchConfig

SETTINGS = ("beta", "finalists")


def _check(study: StudyConfig, config: SearchConfig) -> dict:
    unknown = [k for k in config.settings if k not in SETTINGS]
    if unknown:
        raise PowertrainError(
            f"strategy optuna has no setting {', '.join(unknown)}; it takes {', '.join(SETTINGS)}"
        )
    if study.extra_tasks:
        raise PowertrainError("strategy optuna: studies with extra_tasks are not supported yet")
    beta = config.settings.get("beta")
    if beta is not None and not (isinstance(beta, int | float) and 1 <= beta < float("inf")):
        raise PowertrainError(f"optuna: beta must be a finite number >= 1, got {beta!r}")
    return {"trials": config.trials, **config.settings}


def suggest_setup(study: StudyConfig, config: SearchConfig, trial) -> Setup:
    """The setup Optuna's ``trial`` samples: a value for every grid key (categorical) and every
    range of the space."""
    types = get_type_hints(TrainConfig)
    varied = {}
    for key, values in study.grid.items():
        if key not in config.space:
            varied[key] = trial.suggest_categorical(key, values)
    for key, r in config.space.items():
        if types[key] is int:
            varied[key] = trial.suggest_int(key, int(r.low), int(r.high), log=r.log)
        else:
            varied[key] = trial.suggest_float(key, r.low, r.high, log=r.log)
    train = dataclasses.replace(study.train, **varied)
    train.validate("search")
    return Setup(varied, train, None)


def search_with_optuna(
    study: StudyConfig,
    store: ResultStore,
    place: RunPlace,
    config: SearchConfig,
    executor: Executor,
    *,
    stops: Stops = no_stops,
    reporter=None,
    seed: int = 0,
) -> LiveSearch:
    """Optuna's search live, its runs on ``executor``: as many trials under way as its session has
    room for (one after another on the local executor), each told to Optuna as it ends."""
    settings = _check(study, config)
    rng = np.random.default_rng(seed)
    if not config.space and config.sampler == "tpe" and config.objectives == ["energy"]:
        strategy = OptunaStrategy(rng, **settings)  # the grid's setups: simulation's strategy
        pool = LivePool(study, store, place, reporter, stops=stops)
        return drive(study, store, config, strategy, executor, pool, live_space(study))
    strategy = SampledOptuna(rng, study=study, config=config, **settings)
    pool = LivePool(study, store, place, reporter, setups=strategy.setups, stops=stops)
    seeds = tuple(study.seeds)
    # Setups are sampled as the search goes: every one of them has the study's seeds.
    space = Space((), defaultdict(lambda: seeds), study.task.target_accuracy)
    grid = (None, "unknown", "a continuous space has no full grid") if config.space else None
    return drive(study, store, config, strategy, executor, pool, space, grid, strategy.label)


class SampledOptuna(OptunaStrategy):
    """OptunaStrategy with the setup sampled from the study's grid and ranges (``suggest_setup``),
    the configured sampler, and, with ``objectives: [energy, accuracy]``, both told to Optuna."""

    def __init__(self, rng=None, *, study, config, **settings) -> None:
        super().__init__(rng, **settings)
        self.config, self.study = config, study
        self.setups: dict[str, Setup] = {}  # sampled so far, by key (the pool's setups)
        self.single = config.objectives == ["energy"]

    def sampler(self, history: History, seed: int):
        import optuna

        if self.config.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        return tpe(seed, multivariate=len(self.config.space) > 1)

    def directions(self) -> list[str]:
        goal = {"energy": "minimize", "accuracy": "maximize"}
        return [goal[o] for o in self.config.objectives]

    def suggest(self, asked, history: History) -> str | None:
        try:
            setup = suggest_setup(self.study, self.config, asked)
        except ConfigError:  # a combination the hyperparameters refuse (nesterov without momentum)
            return None
        key = setup_key(setup.varied)
        self.setups.setdefault(key, setup)
        asked.set_user_attr("setup", key)
        return key

    def tell(self, asked, trials: list[Trial] | None) -> None:
        if self.single:
            super().tell(asked, trials)
            return
        from optuna.trial import TrialState

        ran = [t for t in trials or [] if t.points]
        if not ran:  # refused, or failed before its first evaluation
            self.ostudy.tell(asked, state=TrialState.FAIL)
            return
        value = {
            "energy": float(np.mean([t.energy_j for t in ran])),
            "accuracy": float(np.mean([t.points[-1].val_accuracy for t in ran])),
        }
        self.ostudy.tell(asked, [value[o] for o in self.config.objectives])

    def stop(self, history: History, trial: Trial, point) -> Stop | None:
        return super().stop(history, trial, point) if self.single else None

    def candidates(self, history: History) -> list[str]:
        if self.single:
            return super().candidates(history)
        front = self.front()
        return [s for s in ranked(history) if s in front]

    def front(self) -> list[str]:
        """The setups of the Pareto front (multi-objective), by energy."""
        best = sorted(self.ostudy.best_trials, key=lambda t: t.values[0]) if self.ostudy else []
        return list(dict.fromkeys(t.user_attrs["setup"] for t in best))

    def label(self, key: str) -> str:
        name = self.setups[key].label()
        if self.single:
            return name
        return f"{name} (Pareto front: {'; '.join(self.setups[k].label() for k in self.front())})"
