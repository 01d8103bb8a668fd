"""The ``optuna`` strategy: Optuna's sampler picks each run's setup, for spaces too large or continuous
for a grid (``search.space``: ``learning_rate: {low: 0.001, high: 0.3, log: true}``; the grid's lists
are categorical choices). Optuna is imported only here, only when the strategy is asked for.

- ``objectives: [energy]`` (TPE by default): minimise energy-to-target. A run that does not reach the
  target is told to Optuna as pruned (worse than any that did); with ``beta`` set, a run is stopped
  once it passes beta x the best energy-to-target so far (censored, with the reason).
- ``objectives: [energy, accuracy]`` (``sampler: nsga2`` for NSGA-II): minimise the energy each run
  spent, maximise the validation accuracy it ended at; the pick is the Pareto front.

Every trial is an ordinary run of the study in the store (its sampled values are its setup), trained
on the study's first seed; the pick is not confirmed on other seeds.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, get_type_hints

from powertrain.errors import ConfigError, PowertrainError
from powertrain.records import REACHED, Stage
from powertrain.search.cost import search_cost
from powertrain.search.live import LiveSearch, _Tagged
from powertrain.search.strategies import joules
from powertrain.study.config import Setup
from powertrain.study.execute import StoreSink, execute_run
from powertrain.study.plan import run_spec
from powertrain.train.config import TrainConfig

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.execute import RunEnv
    from powertrain.study.search_config import SearchConfig

SETTINGS = ("beta",)


def _sampler(config: SearchConfig, seed: int):
    import optuna

    if config.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=len(config.space) > 1)


def _check(study: StudyConfig, config: SearchConfig) -> float | None:
    unknown = [k for k in config.settings if k not in SETTINGS]
    if unknown:
        raise PowertrainError(f"strategy optuna has no setting {', '.join(unknown)}; it takes beta")
    if study.extra_tasks:
        raise PowertrainError("strategy optuna: studies with extra_tasks are not supported yet")
    beta = config.settings.get("beta")
    if beta is not None and not (isinstance(beta, int | float) and 1 <= beta < float("inf")):
        raise PowertrainError(f"optuna: beta must be a finite number >= 1, got {beta!r}")
    return beta


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
    study: StudyConfig, store, env: RunEnv, config: SearchConfig, reporter=None, seed: int = 0
) -> LiveSearch:
    import optuna

    beta = _check(study, config)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    directions = {"energy": "minimize", "accuracy": "maximize"}
    ostudy = optuna.create_study(
        directions=[directions[o] for o in config.objectives], sampler=_sampler(config, seed)
    )
    runner = _Runner(study, store, env, reporter)
    single = config.objectives == ["energy"]
    for _ in range(config.trials):
        trial = ostudy.ask()
        try:
            setup = suggest_setup(study, config, trial)
        except ConfigError:  # a combination the hyperparameters refuse (nesterov without momentum)
            ostudy.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        trial.set_user_attr("setup", setup.label())
        bound = beta * runner.best_j if single and beta and runner.best_j else None
        outcome = runner.run(setup, study.seeds[0], bound)
        _tell(ostudy, trial, outcome, config.objectives)
    return LiveSearch(_cost(study, store, config, ostudy, runner))


def _tell(ostudy, trial, outcome, objectives: list[str]) -> None:
    import optuna

    if outcome.status not in (REACHED, "censored", "diverged"):
        ostudy.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    if objectives == ["energy"]:
        if outcome.status == REACHED:
            ostudy.tell(trial, outcome.energy_to_target_j)
        else:
            ostudy.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    value = {"energy": outcome.total_energy_j, "accuracy": outcome.final_val_accuracy or 0.0}
    ostudy.tell(trial, [value[o] for o in objectives])


def _pick(ostudy, config: SearchConfig) -> str | None:
    complete = [t for t in ostudy.trials if t.values is not None]
    if not complete:
        return None
    if config.objectives == ["energy"]:
        return ostudy.best_trial.user_attrs["setup"]
    front = sorted(ostudy.best_trials, key=lambda t: t.values[0])
    return "Pareto front: " + "; ".join(t.user_attrs["setup"] for t in front)


def _cost(study, store, config, ostudy, runner: _Runner):
    grid = (None, "unknown", "a continuous space has no full grid") if config.space else None
    return search_cost(
        study,
        store,
        "optuna",
        pick=_pick(ostudy, config),
        confirmed=False,
        started_keys=runner.started,
        reused_keys=runner.reused,
        grid=grid,
    )


class _Runner:
    """Trains one sampled (setup, seed) here; a setup sampled again is read back from the store."""

    def __init__(self, study: StudyConfig, store, env: RunEnv, reporter) -> None:
        self.study, self.store, self.env = study, store, env
        self.sink = StoreSink(store, reporter)
        self.started: list[str] = []
        self.reused: list[str] = []
        self.best_j: float | None = None
        self.handlers: list = []
        base = env.stop_handlers
        env.stop_handlers = lambda spec: [*self.handlers, *base(spec)]

    def run(self, setup: Setup, seed: int, bound_j: float | None):
        spec = run_spec(self.study, setup, seed)
        done = {r.run_key: r for r in self.store.runs(self.study.name) if r.outcome is not None}
        if spec.run_key in done and done[spec.run_key].stage is Stage.TRAIN:
            self.reused.append(spec.run_key)
            return done[spec.run_key].outcome
        self.handlers = [_Tagged(_bound(bound_j), "stop")] if bound_j else []
        try:
            outcome = execute_run(spec, self.env, self.sink)
        finally:
            self.handlers = []
        self.started.append(spec.run_key)
        if outcome.status == REACHED:
            e = outcome.energy_to_target_j
            self.best_j = e if self.best_j is None else min(self.best_j, e)
        return outcome


def _bound(bound_j: float):
    def stop(point) -> str | None:
        if point.total_energy_j > bound_j:
            return f"bound: {joules(point.total_energy_j)} passed beta x the best trial's ({joules(bound_j)})"
        return None

    return stop
