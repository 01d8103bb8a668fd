"""Live search with runs at once: the concurrent driver's pool (``concurrent.Pool``) on an executor's
session: the workers executor's (``study/executors/workers.py``) or Ray's (``ray_session.py``).

Each start is a run handed to a worker (or a Ray task), which trains it with the one run body in its
own ``RunEnv``. Its stops are decided here, in the coordinator, where the history is: after each
evaluation point the run asks, and the answer is the strategy's handler for that trial, the rung budget
(halving's pause) or a predicted stop, with the history as it is at that moment (another run may have
just set a better best). On workers each trial's points and energy are kept up to date as the points
arrive, so the strategy sees the runs under way as they stand (a Ray task's records come back when it
ends). What the one-after-another ``LiveExecutor`` does otherwise holds here too: a stopped run is
finished in the store only when the search ends, runs the store had finished before are fed from it,
and a paused run that is promoted is handed out again (to whichever worker is free).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from powertrain.errors import PowertrainError
from powertrain.records import CENSORED, EvalPoint
from powertrain.search.concurrent import Stop, run_search_at_once
from powertrain.search.cost import SearchCost, search_cost
from powertrain.search.live import (
    PAUSED_NOTE,
    LiveExecutor,
    LiveSearch,
    _budget,
    _settle,
    _started_keys,
    _Tagged,
    live_space,
)
from powertrain.search.space import RUNNING, Start, Trial
from powertrain.search.strategies import make_strategy
from powertrain.study.execute import StoreSink
from powertrain.study.plan import run_spec
from powertrain.train.stopping import first_stop

if TYPE_CHECKING:
    from powertrain.study.execute import RunEnv
    from powertrain.study.executors.ray_session import RaySession
    from powertrain.study.executors.workers import WorkerSession
    from powertrain.study.search_config import SearchConfig


class _SessionSink:
    """``live._DeferringSink`` for several runs at once, by run key: a run the search stopped or
    paused is finished in the store only when the search ends (it may be started afresh before
    then, which replaces its record); a run whose trial is in ``trials`` updates it point by point."""

    def __init__(self, inner: StoreSink) -> None:
        self.inner, self.deferred = inner, {}
        self.keys: dict[int, str] = {}  # run id -> run key, of the runs under way
        self.points: dict[str, list[EvalPoint]] = {}
        self.tagged: dict[str, list[_Tagged]] = {}  # the search's handlers of each run
        self.trials: dict[str, Trial] = {}

    def begin(self, spec, hardware, provenance) -> int:
        self.deferred.pop(spec.run_key, None)  # its earlier attempt is replaced by begin_run
        run_id = self.inner.begin(spec, hardware, provenance)
        self.keys[run_id], self.points[spec.run_key] = spec.run_key, []
        return run_id

    def eval_point(self, run_id: int, point: EvalPoint) -> None:
        key = self.keys[run_id]
        self.points[key].append(point)
        if (trial := self.trials.get(key)) is not None:
            trial.points.append(point)
            trial.energy_j = point.total_energy_j
        self.inner.eval_point(run_id, point)

    def timeline(self, run_id: int, timeline) -> None:
        self.inner.timeline(run_id, timeline)

    def finish(self, run_id: int, outcome) -> None:
        key = self.keys.pop(run_id)
        if outcome.status == CENSORED and any(t.fired for t in self.tagged.get(key, ())):
            self.deferred[key] = (run_id, outcome)
        else:
            self.inner.finish(run_id, outcome)

    def flush(self) -> None:
        for run_id, outcome in self.deferred.values():
            reason = outcome.stop_reason.replace(PAUSED_NOTE, "(not promoted)")
            self.inner.finish(run_id, dataclasses.replace(outcome, stop_reason=reason))
        self.deferred.clear()

    @property
    def store(self):
        return self.inner.store

    def pending_power_limits(self) -> dict[str, float]:  # the journal is the inner sink's store
        return self.inner.pending_power_limits()

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        self.inner.note_power_limit(gpu_uuid, previous_w)


class SessionPool(LiveExecutor):
    """``concurrent.Pool`` on an executor's session (``session`` is set once it is open): anything
    with ``submit(spec, stop)``, ``capacity()`` and ``wait() -> [(spec, outcome or None)]``."""

    def __init__(self, study, store, env: RunEnv, reporter) -> None:
        super().__init__(study, store, env, reporter)
        self.sink = _SessionSink(StoreSink(store, reporter))
        self.session: WorkerSession | RaySession | None = None
        self.running: dict[str, tuple[Trial, list[_Tagged]]] = {}  # by run key

    def capacity(self) -> int:
        return self.session.capacity()

    def in_flight(self) -> int:
        return len(self.running)

    def start(self, start: Start, trial: Trial, stop: Stop) -> None:
        spec = run_spec(self.study, self.setups[start.setup], start.seed)
        if spec.run_key in self.stored:
            self._reuse(spec, start, trial, stop)
            return
        if trial.points or trial.energy_j:  # paused: halving promotes it; re-run from scratch
            trial.earlier_j += trial.energy_j
            trial.points, trial.energy_j = [], 0.0
        trial.status = RUNNING
        tagged = [_Tagged(stop, "stop")]
        if start.budget_j is not None:
            tagged.append(_Tagged(_budget(start.budget_j), "pause"))
        handlers = [*tagged, *self.env.stop_handlers(spec)]  # then a predicted stop, if asked
        self.sink.tagged[spec.run_key], self.sink.trials[spec.run_key] = tagged, trial
        self.running[spec.run_key] = (trial, tagged)
        self.session.submit(spec, lambda point: _ask(trial, handlers, point))

    def wait(self) -> None:
        for spec, outcome in self.session.wait():
            trial, tagged = self.running.pop(spec.run_key)
            self.sink.trials.pop(spec.run_key, None)
            if outcome is None:
                raise PowertrainError(
                    f"run {spec.run_key} is held by another process; a live search needs its"
                    " study to itself: wait for it or stop it"
                )
            _settle(trial, outcome, self.sink.points.get(spec.run_key, []), tagged)


def _ask(trial: Trial, handlers: list, point) -> str | None:
    """The run's stop at ``point``; the point kept first where its record has not come yet (a Ray
    task's come when it ends: until then its questions are all the search knows of it)."""
    if not trial.points or trial.points[-1].index < point.index:
        trial.points.append(point)
        trial.energy_j = point.total_energy_j
    return first_stop(handlers, point)


def search_at_once(
    study,
    store,
    env: RunEnv,
    config: SearchConfig,
    executor,
    reporter=None,
    seed: int = 0,
) -> LiveSearch:
    """``live.search_with_strategy`` with several runs at once: ``executor`` is a ``WorkersExecutor``
    (up to its workers) or a ``RayExecutor`` (as many as the cluster has room for)."""
    strategy = make_strategy(config.strategy, np.random.default_rng(seed), **config.settings)
    pool = SessionPool(study, store, env, reporter)
    try:
        with executor.session(study, pool.sink) as pool.session:
            outcome = run_search_at_once(strategy, live_space(study), pool, config.confirm_seeds)
    finally:
        pool.sink.flush()
    return LiveSearch(_cost(study, store, config, strategy.confirm, pool, outcome), outcome)


def _cost(study, store, config, confirms: bool, pool: SessionPool, outcome) -> SearchCost:
    """What ``search_with_strategy`` reports: every run started (the store's attempts and those
    re-run from scratch), runs reused from the store apart."""
    labels = {k: s.label() for k, s in pool.setups.items()}
    return search_cost(
        study,
        store,
        config.strategy,
        pick=labels.get(outcome.pick),
        confirmed=outcome.confirmed and confirms,
        superseded_j=sum(
            t.earlier_j for k, t in outcome.history.trials.items() if k not in pool.reused
        ),
        reused_keys=[run_spec(study, pool.setups[s], seed_).run_key for s, seed_ in pool.reused],
        started_keys=_started_keys(study, pool, outcome),
    )
