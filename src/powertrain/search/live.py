"""Live search: a strategy decides which (setup, seed) of a study trains next and when a running one
stops, with real training (``execute_run``, the one run body) in place of replay's stored curves.

- The strategy's stop (``Strategy.handler``) and, for halving, the rung's energy budget plug into the
  built-in loop as stopping handlers (``RunEnv.stop_handlers``), after the loop's own (target, limits).
- A run the search stops is kept in the store as CENSORED with the reason: a lower bound.
- Halving's rungs re-run a promoted run **from scratch** with the larger budget (no checkpoint is
  resumed): the store keeps the last attempt of each (setup, seed); the energy of the attempts it
  replaced is counted in the search's cost as ``superseded_j``. A stopped run that the confirmation
  starts afresh is counted the same way. Their records are finished only when the search ends (till
  then the store holds them as running, claimed by this process), so a killed search leaves nothing
  half-finished: the next ``run`` begins them again.
- Runs the store had finished before the search began are fed from the store, not trained again, and
  reported apart (``reused_j``: spent earlier).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import CENSORED, EvalPoint, Stage
from powertrain.records import REACHED as RUN_REACHED
from powertrain.search.cost import SearchCost, search_cost
from powertrain.search.driver import SearchOutcome, run_search
from powertrain.search.replay import _curve, replay_executor, setup_key
from powertrain.search.space import LIMIT, PAUSED, REACHED, STOPPED, Space, Start, Trial
from powertrain.search.strategies import joules, make_strategy
from powertrain.study.execute import RunEnv, StoreSink, execute_run
from powertrain.study.plan import RunSpec, run_spec
from powertrain.study.search_config import SearchConfig

if TYPE_CHECKING:
    from powertrain.study.config import StudyConfig
    from powertrain.study.runner import Reporter, StudyResult


@dataclass(frozen=True)
class LiveSearch:
    """What a live search did: its cost (always), the search's own outcome (strategies driven by
    ``run_search``), the grid's ``StudyResult`` (strategy grid)."""

    cost: SearchCost
    outcome: SearchOutcome | None = None
    result: StudyResult | None = None
    study: str = ""  # the name its runs are stored under (NAME@2 for a changed definition)


PAUSED_NOTE = "(paused; re-run from scratch if promoted)"


class _Tagged:
    """A stopping handler that remembers whether it was the one that stopped the run."""

    def __init__(self, handler, kind: str) -> None:
        self.handler, self.kind, self.fired = handler, kind, None

    def __call__(self, point: EvalPoint) -> str | None:
        reason = self.handler(point)
        if reason is not None:
            self.fired = reason
        return reason


def _budget(budget_j: float):
    def pause(point: EvalPoint) -> str | None:
        if point.total_energy_j >= budget_j:
            return f"halving: rung budget {joules(budget_j)} reached {PAUSED_NOTE}"
        return None

    return pause


class _DeferringSink:
    """StoreSink, except that a run the search stopped is finished only when the search ends (it may
    be started afresh before then, which replaces its record); every point also goes to the trial."""

    def __init__(self, inner: StoreSink) -> None:
        self.inner, self.deferred, self.points = inner, {}, []
        self.tagged: list[_Tagged] = []  # the search's handlers of the run under way

    def begin(self, spec, hardware, provenance) -> int:
        self.deferred.pop(spec.run_key, None)  # its earlier attempt is replaced by begin_run
        self.points = []
        run_id = self.inner.begin(spec, hardware, provenance)
        self._key = spec.run_key
        return run_id

    def eval_point(self, run_id: int, point: EvalPoint) -> None:
        self.points.append(point)
        self.inner.eval_point(run_id, point)

    def timeline(self, run_id: int, timeline) -> None:
        self.inner.timeline(run_id, timeline)

    def finish(self, run_id: int, outcome) -> None:
        if outcome.status == CENSORED and any(t.fired for t in self.tagged):
            self.deferred[self._key] = (run_id, outcome)
        else:
            self.inner.finish(run_id, outcome)

    def flush(self) -> None:
        for run_id, outcome in self.deferred.values():
            reason = outcome.stop_reason.replace(PAUSED_NOTE, "(not promoted)")
            self.inner.finish(run_id, dataclasses.replace(outcome, stop_reason=reason))
        self.deferred.clear()


class LiveExecutor:
    """The executor ``run_search`` drives (see ``driver``): each start trains its (setup, seed) here
    with the strategy's stop and the rung budget as stopping handlers."""

    def __init__(self, study: StudyConfig, store, env: RunEnv, reporter: Reporter | None) -> None:
        self.study, self.env = study, env
        self.setups = {setup_key(s.varied): s for s in study.setups()}
        self.sink = _DeferringSink(StoreSink(store, reporter))
        self.stored = {
            r.run_key: r
            for r in store.runs(study.name)
            if r.outcome is not None and r.stage is Stage.TRAIN
        }
        self.store = store
        self.reused: set[tuple[str, int]] = set()
        self._handlers: list = []
        base = env.stop_handlers
        env.stop_handlers = lambda spec: [*self._handlers, *base(spec)]

    def __call__(self, start: Start, trial: Trial, stop) -> None:
        spec = run_spec(self.study, self.setups[start.setup], start.seed)
        if spec.run_key in self.stored:
            self._reuse(spec, start, trial, stop)
            return
        if trial.points or trial.energy_j:  # paused: halving promotes it; re-run from scratch
            trial.earlier_j += trial.energy_j
            trial.points, trial.energy_j = [], 0.0
        tagged = [_Tagged(stop, "stop")]
        if start.budget_j is not None:
            tagged.append(_Tagged(_budget(start.budget_j), "pause"))
        self._handlers = tagged
        outcome = self._execute(spec, tagged)
        _settle(trial, outcome, self.sink.points, tagged)

    def _execute(self, spec: RunSpec, tagged: list[_Tagged]):
        try:
            run_id = self.sink.begin(spec, self.env.hardware, self.env.provenance)
        except RunClaimed as exc:
            raise PowertrainError(
                f"{exc}; a live search needs its study to itself: wait for it or stop it"
            ) from None
        self.sink.tagged = tagged
        try:
            return execute_run(spec, self.env, self.sink, run_id=run_id)
        finally:
            self._handlers = []

    def _reuse(self, spec: RunSpec, start: Start, trial: Trial, stop) -> None:
        record = self.stored[spec.run_key]
        curve = _curve(record, self.store.eval_points(record.id))
        replay_executor({(start.setup, start.seed): curve})(start, trial, stop)
        self.reused.add((start.setup, start.seed))


def _settle(trial: Trial, outcome, points: list[EvalPoint], tagged: list[_Tagged]) -> None:
    """The trial as the search sees it, from the run's outcome."""
    trial.points, trial.energy_j = list(points), outcome.total_energy_j
    fired = next((t for t in tagged if t.fired), None)
    if outcome.status == RUN_REACHED:
        trial.status, trial.energy_to_target_j = REACHED, outcome.energy_to_target_j
    elif fired is not None and outcome.status == CENSORED:
        trial.status = PAUSED if fired.kind == "pause" else STOPPED
        trial.stop_reason = outcome.stop_reason
    else:
        trial.status, trial.stop_reason = LIMIT, outcome.stop_reason


def live_space(study: StudyConfig) -> Space:
    setups = tuple(setup_key(s.varied) for s in study.setups())
    seeds = tuple(study.seeds)
    return Space(setups, {s: seeds for s in setups}, study.task.target_accuracy)


def search_with_strategy(
    study: StudyConfig, store, env: RunEnv, config: SearchConfig, reporter=None, seed: int = 0
) -> LiveSearch:
    """Drive ``config.strategy`` (zeus, bound, halving, thompson) live over the study's grid."""
    strategy = make_strategy(config.strategy, np.random.default_rng(seed), **config.settings)
    executor = LiveExecutor(study, store, env, reporter)
    try:
        outcome = run_search(strategy, live_space(study), executor, config.confirm_seeds)
    finally:
        executor.sink.flush()
    labels = {k: s.label() for k, s in executor.setups.items()}
    cost = search_cost(
        study,
        store,
        config.strategy,
        pick=labels.get(outcome.pick),
        confirmed=outcome.confirmed and strategy.confirm,
        superseded_j=sum(
            t.earlier_j for k, t in outcome.history.trials.items() if k not in executor.reused
        ),
        reused_keys=[
            run_spec(study, executor.setups[s], seed_).run_key for s, seed_ in executor.reused
        ],
        started_keys=_started_keys(study, executor, outcome),
    )
    return LiveSearch(cost, outcome)


def _started_keys(study, executor: LiveExecutor, outcome: SearchOutcome) -> list[str]:
    return [
        run_spec(study, executor.setups[s], seed).run_key
        for (s, seed) in outcome.history.trials
        if (s, seed) not in executor.reused
    ]
