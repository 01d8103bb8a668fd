"""Live search: a strategy decides which (setup, seed) of a study trains next and when a running one
stops, with real training (``execute_run``, the one run body) in place of simulation's stored curves.

- The strategy's stop (``Strategy.handler``) and, for halving, the rung's energy budget plug into the
  built-in loop as stopping handlers (``RunEnv.stop_handlers``), after the loop's own (target, limits).
- A run the search stops is kept in the store as CENSORED with the reason: a lower bound.
- Halving's rung budget **pauses** a run (a ``Stop`` of ``Verdict.RUNG_PAUSE``): the loop saves its whole state in the
  run's checkpoint (``train/checkpoint.py``, by run key in the artifacts folder), and a promoted run
  (or one the confirmation needs) is **continued** from it, as simulation assumes: the same record (its run
  id and claim are kept), its points and energy going on from where it paused, so the store holds one
  record per (setup, seed) with every point once, cumulative. A paused run without a usable checkpoint
  (a command task; a checkpoint that is not the run's) is re-run from scratch instead, and a stopped
  run that the confirmation starts afresh likewise: the store keeps the last attempt, and the energy
  of the attempts it replaced is counted in the search's cost as ``superseded_j``.
- The bookkeeping (deferred records, continued ones, checkpoints) is ``sink.py``'s, shared with the
  pool of runs at once (``pool.py``).
- The records of paused and stopped runs are finished only when the search ends (till then the store
  holds them as running, claimed by this process), and the checkpoints left are removed then; a
  killed search leaves nothing half-finished: the next ``run`` begins them again, from scratch.
- Runs the store had finished before the search began are fed from the store, not trained again, and
  reported apart (``reused_j``: spent earlier).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import EvalPoint, Stage, Verdict
from powertrain.search.cost import SearchCost, search_cost
from powertrain.search.driver import SearchOutcome, run_search
from powertrain.search.simulate import curve_executor, curve_of, setup_key
from powertrain.search.sink import PAUSED_NOTE, Tagged
from powertrain.search.sink import DeferringSink as _DeferringSink
from powertrain.search.space import Space, Start, Trial
from powertrain.search.strategies import make_strategy
from powertrain.search.strategy import Strategy, joules
from powertrain.store.base import ResultStore
from powertrain.study.execute import RunEnv, StoreSink, execute_run
from powertrain.study.plan import RunSpec, run_spec
from powertrain.study.resume import discard
from powertrain.study.search_config import SearchConfig
from powertrain.train.stopping import Stop

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.result import Reporter, StudyResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveSearch:
    """What a live search did: its cost (always), the search's own outcome (strategies driven by
    ``run_search``), the grid's ``StudyResult`` (strategy grid)."""

    cost: SearchCost
    outcome: SearchOutcome | None = None
    result: StudyResult | None = None
    study: str = ""  # the name its runs are stored under (NAME@2 for a changed definition)


def _budget(budget_j: float):
    def pause(point: EvalPoint) -> Stop | None:
        if point.total_energy_j >= budget_j:
            return Stop(
                Verdict.RUNG_PAUSE, f"halving: rung budget {joules(budget_j)} reached {PAUSED_NOTE}"
            )
        return None

    return pause


class LiveExecutor:
    """The executor ``run_search`` drives (see ``driver``): each start trains its (setup, seed) here
    with the strategy's stop and the rung budget as stopping handlers; a paused run is continued."""

    def __init__(
        self,
        study: StudyConfig,
        store: ResultStore,
        env: RunEnv,
        reporter: Reporter | None,
        setups=None,
    ) -> None:
        self.study, self.env = study, env
        # The setups its starts name, by key: the study's grid, or (optuna's sampled setups) a
        # dict the strategy fills as it samples.
        self.setups = {setup_key(s.varied): s for s in study.setups()} if setups is None else setups
        self.sink = _DeferringSink(StoreSink(store, reporter), env)
        self.stored = {
            r.run_key: r
            for r in store.runs(study.name)
            if r.outcome is not None and r.stage is Stage.TRAIN
        }
        self.store = store
        self.reused: set[tuple[str, int]] = set()
        for setup in self.setups.values():  # a killed search's leftovers: their runs begin afresh
            for seed in study.seeds:
                discard(run_spec(study, setup, seed), env)
        self._handlers: list = []
        base = env.stop_handlers
        env.stop_handlers = lambda spec: [*self._handlers, *base(spec)]

    def __call__(self, start: Start, trial: Trial, stop) -> None:
        spec = run_spec(self.study, self.setups[start.setup], start.seed)
        if spec.run_key in self.stored:
            self._reuse(spec, start, trial, stop)
            return
        tagged = search_handlers(start, stop)
        run_id = self.sink.start(spec, trial, tagged)  # a paused run's record, to continue
        self._handlers = tagged
        try:
            outcome = self._execute(spec, run_id)
        finally:
            self._handlers = []
        trial.ended(outcome, self.sink.points[spec.run_key])

    def _execute(self, spec: RunSpec, run_id: int | None):
        resume, env = run_id is not None, self.env
        limit_w = spec.train_config.gpu_power_limit_w  # the run's GPUs at its limit, as run_claimed
        with (
            env.power.applied(limit_w, self.sink, env.hardware)
            if env.power
            else nullcontext(env.hardware)
        ) as hardware:
            if run_id is None:
                try:
                    run_id = self.sink.begin(spec, hardware, env.provenance)
                except RunClaimed as exc:
                    raise PowertrainError(
                        f"{exc}; a live search needs its study to itself: wait for it or stop it"
                    ) from None
            return execute_run(spec, env, self.sink, run_id=run_id, resume=resume)

    def _reuse(self, spec: RunSpec, start: Start, trial: Trial, stop) -> None:
        record = self.stored[spec.run_key]
        curve = curve_of(record, self.store.eval_points(record.id))
        curve_executor({(start.setup, start.seed): curve})(start, trial, stop)
        self.reused.add((start.setup, start.seed))


def search_handlers(start: Start, stop) -> list[Tagged]:
    """The search's stopping handlers of a run: the strategy's stop, and halving's rung budget."""
    tagged = [Tagged(stop)]
    if start.budget_j is not None:
        tagged.append(Tagged(_budget(start.budget_j)))
    return tagged


def live_space(study: StudyConfig) -> Space:
    setups = tuple(setup_key(s.varied) for s in study.setups())
    seeds = tuple(study.seeds)
    return Space(setups, {s: seeds for s in setups}, study.task.target_accuracy)


def search_with_strategy(
    study: StudyConfig,
    store: ResultStore,
    env: RunEnv,
    config: SearchConfig,
    reporter=None,
    seed: int = 0,
) -> LiveSearch:
    """Drive ``config.strategy`` (zeus, bound, halving, thompson) live over the study's grid."""
    strategy = make_strategy(config.strategy, np.random.default_rng(seed), **config.settings)
    executor = LiveExecutor(study, store, env, reporter)
    return drive(study, store, config, strategy, executor, live_space(study))


def drive(
    study: StudyConfig,
    store: ResultStore,
    config: SearchConfig,
    strategy: Strategy,
    executor: LiveExecutor,
    space: Space,
    grid: tuple[float | None, str, str] | None = None,
    label=None,
) -> LiveSearch:
    """``run_search`` with ``executor`` (its stopped runs finished in the store at the end, whatever
    happens), then the search's cost; ``label(setup key)``: how the pick is named (its setup's)."""
    try:
        outcome = run_search(strategy, space, executor, config.confirm_seeds)
    finally:
        executor.sink.flush()
    for line in strategy.notes() if hasattr(strategy, "notes") else ():
        log.info("search %s: %s", strategy.name, line)  # cost axes priced; a race within noise
    return LiveSearch(
        live_cost(study, store, config, strategy.confirm, executor, outcome, grid, label), outcome
    )


def live_cost(
    study: StudyConfig,
    store: ResultStore,
    config: SearchConfig,
    confirms: bool,
    executor: LiveExecutor,
    outcome: SearchOutcome,
    grid: tuple[float | None, str, str] | None = None,
    label=None,
) -> SearchCost:
    """What a live search reports, one run at a time or several at once: every run started (the
    store's records, and the attempts re-run from scratch: ``superseded_j``), runs the store had
    finished before apart; ``label(setup key)``: how the pick is named (its setup's)."""
    label = label or (lambda key: executor.setups[key].label())
    return search_cost(
        study,
        store,
        config.strategy,
        pick=label(outcome.pick) if outcome.pick is not None else None,
        confirmed=outcome.confirmed and confirms,
        superseded_j=sum(
            t.earlier_j for k, t in outcome.history.trials.items() if k not in executor.reused
        ),
        reused_keys=[
            run_spec(study, executor.setups[s], seed_).run_key for s, seed_ in executor.reused
        ],
        started_keys=_started_keys(study, executor, outcome),
        grid=grid,
    )


def _started_keys(study, executor: LiveExecutor, outcome: SearchOutcome) -> list[str]:
    return [
        run_spec(study, executor.setups[s], seed).run_key
        for (s, seed) in outcome.history.trials
        if (s, seed) not in executor.reused
    ]
