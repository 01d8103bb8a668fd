"""Live search: a strategy decides which (setup, seed) of a study trains next and when a running one
stops, with real training (``execute_run``, the one run body) in place of replay's stored curves.

- The strategy's stop (``Strategy.handler``) and, for halving, the rung's energy budget plug into the
  built-in loop as stopping handlers (``RunEnv.stop_handlers``), after the loop's own (target, limits).
- A run the search stops is kept in the store as CENSORED with the reason: a lower bound.
- Halving's rung budget **pauses** a run (``stopping.Pause``): the loop saves its whole state in the
  run's checkpoint (``train/checkpoint.py``, by run key in the artifacts folder), and a promoted run
  (or one the confirmation needs) is **continued** from it, as replay assumes: the same record (its run
  id and claim are kept), its points and energy going on from where it paused, so the store holds one
  record per (setup, seed) with every point once, cumulative. A paused run without a usable checkpoint
  (a command task; a checkpoint that is not the run's) is re-run from scratch instead, and a stopped
  run that the confirmation starts afresh likewise: the store keeps the last attempt, and the energy
  of the attempts it replaced is counted in the search's cost as ``superseded_j``.
- The records of paused and stopped runs are finished only when the search ends (till then the store
  holds them as running, claimed by this process), and the checkpoints left are removed then; a
  killed search leaves nothing half-finished: the next ``run`` begins them again, from scratch.
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
from powertrain.search.strategies import Strategy, joules, make_strategy
from powertrain.study.execute import RunEnv, StoreSink, execute_run
from powertrain.study.plan import RunSpec, run_spec
from powertrain.study.resume import discard, paused_spent
from powertrain.study.search_config import SearchConfig
from powertrain.train.stopping import Pause

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


PAUSED_NOTE = "(paused; continued if promoted)"


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
            return Pause(f"halving: rung budget {joules(budget_j)} reached {PAUSED_NOTE}")
        return None

    return pause


class _DeferringSink:
    """StoreSink, except that a run the search stopped or paused is finished only when the search
    ends (it may be continued, or started afresh, which replaces its record); every point of the run
    under way also goes to ``points`` (the earlier attempts' first, when it is continued)."""

    def __init__(self, inner: StoreSink) -> None:
        self.inner, self.points = inner, []
        self.deferred: dict[str, tuple[RunSpec, int, object]] = {}  # run key -> spec, id, outcome
        self.tagged: list[_Tagged] = []  # the search's handlers of the run under way
        self.begun = False  # the run under way has a record of its own (not a continued one)
        self._spec: RunSpec | None = None  # the run under way
        self.env: RunEnv | None = None  # where the checkpoints are (set by the executor)

    def begin(self, spec, hardware, provenance) -> int:
        self.deferred.pop(spec.run_key, None)  # its earlier attempt is replaced by begin_run
        self.points, self._spec, self.begun = [], spec, True
        return self.inner.begin(spec, hardware, provenance)

    def resume(self, spec: RunSpec, points: list[EvalPoint]) -> int | None:
        """The record of a deferred run, to continue with ``points`` so far; None if there is none."""
        if spec.run_key not in self.deferred:
            return None
        _, run_id, _ = self.deferred.pop(spec.run_key)
        self.points, self._spec, self.begun = list(points), spec, False
        self.inner.reporter.run_started(spec.as_setup(), spec.seed)
        return run_id

    def eval_point(self, run_id: int, point: EvalPoint) -> None:
        self.points.append(point)
        self.inner.eval_point(run_id, point)

    def timeline(self, run_id: int, timeline) -> None:
        self.inner.timeline(run_id, timeline)

    def finish(self, run_id: int, outcome) -> None:
        if outcome.status == CENSORED and any(t.fired for t in self.tagged):
            self.deferred[self._spec.run_key] = (self._spec, run_id, outcome)
        else:
            self.inner.finish(run_id, outcome)

    def flush(self) -> None:
        """Finish every deferred run (a paused one was not promoted) and remove the checkpoints
        left (theirs, and that of a run an interruption ended)."""
        for spec, run_id, outcome in self.deferred.values():
            reason = outcome.stop_reason.replace(PAUSED_NOTE, "(not promoted)")
            self.inner.finish(run_id, dataclasses.replace(outcome, stop_reason=reason))
            self._discard(spec)
        self._discard(self._spec)
        self.deferred.clear()

    def _discard(self, spec: RunSpec | None) -> None:
        if spec is not None and self.env is not None:
            discard(spec, self.env)


class LiveExecutor:
    """The executor ``run_search`` drives (see ``driver``): each start trains its (setup, seed) here
    with the strategy's stop and the rung budget as stopping handlers; a paused run is continued."""

    def __init__(
        self, study: StudyConfig, store, env: RunEnv, reporter: Reporter | None, setups=None
    ) -> None:
        self.study, self.env = study, env
        # The setups its starts name, by key: the study's grid, or (optuna's sampled setups) a
        # dict the strategy fills as it samples.
        self.setups = {setup_key(s.varied): s for s in study.setups()} if setups is None else setups
        self.sink = _DeferringSink(StoreSink(store, reporter))
        self.stored = {
            r.run_key: r
            for r in store.runs(study.name)
            if r.outcome is not None and r.stage is Stage.TRAIN
        }
        self.store = store
        self.reused: set[tuple[str, int]] = set()
        self.sink.env = env
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
        tagged = [_Tagged(stop, "stop")]
        if start.budget_j is not None:
            tagged.append(_Tagged(_budget(start.budget_j), "pause"))
        self._handlers = tagged
        run_id = self._resumable(spec, trial)
        if run_id is None and (trial.points or trial.energy_j):  # no checkpoint: from scratch
            _restart(trial)
        outcome = self._execute(spec, tagged, run_id)
        if run_id is not None and self.sink.begun:  # the checkpoint went meanwhile: begun afresh
            _restart(trial)
        _settle(trial, outcome, self.sink.points, tagged)

    def _resumable(self, spec: RunSpec, trial: Trial) -> int | None:
        """The record to continue: a paused run of this search with a checkpoint to resume."""
        if trial.status != PAUSED or not trial.points:
            return None
        spent = paused_spent(spec, self.env)
        if spent is None or len(spent.points) != len(trial.points):
            return None
        return self.sink.resume(spec, trial.points)

    def _execute(self, spec: RunSpec, tagged: list[_Tagged], run_id: int | None):
        resume = run_id is not None
        if run_id is None:
            try:
                run_id = self.sink.begin(spec, self.env.hardware, self.env.provenance)
            except RunClaimed as exc:
                raise PowertrainError(
                    f"{exc}; a live search needs its study to itself: wait for it or stop it"
                ) from None
        self.sink.tagged = tagged
        try:
            return execute_run(spec, self.env, self.sink, run_id=run_id, resume=resume)
        finally:
            self._handlers = []

    def _reuse(self, spec: RunSpec, start: Start, trial: Trial, stop) -> None:
        record = self.stored[spec.run_key]
        curve = _curve(record, self.store.eval_points(record.id))
        replay_executor({(start.setup, start.seed): curve})(start, trial, stop)
        self.reused.add((start.setup, start.seed))


def _restart(trial: Trial) -> None:
    """The trial's earlier attempt is superseded: what it spent is counted apart."""
    trial.earlier_j += trial.energy_j
    trial.points, trial.energy_j = [], 0.0


def _settle(trial: Trial, outcome, points: list[EvalPoint], tagged: list[_Tagged]) -> None:
    """The trial as the search sees it, from the run's outcome (cumulative over its attempts)."""
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
    return drive(study, store, config, strategy, executor, live_space(study))


def drive(
    study: StudyConfig,
    store,
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
    label = label or (lambda key: executor.setups[key].label())
    cost = search_cost(
        study,
        store,
        config.strategy,
        pick=label(outcome.pick) if outcome.pick is not None else None,
        confirmed=outcome.confirmed and strategy.confirm,
        superseded_j=sum(
            t.earlier_j for k, t in outcome.history.trials.items() if k not in executor.reused
        ),
        reused_keys=[
            run_spec(study, executor.setups[s], seed_).run_key for s, seed_ in executor.reused
        ],
        started_keys=_started_keys(study, executor, outcome),
        grid=grid,
    )
    return LiveSearch(cost, outcome)


def _started_keys(study, executor: LiveExecutor, outcome: SearchOutcome) -> list[str]:
    return [
        run_spec(study, executor.setups[s], seed).run_key
        for (s, seed) in outcome.history.trials
        if (s, seed) not in executor.reused
    ]
