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
and a paused run that is promoted is continued from its checkpoint in its own record (``sink.py``),
on whichever worker is free: the checkpoint is on this machine's disk, by run key, and the record's
claim stays this process's. Ray continues it likewise when its tasks run on this machine; on a cluster
of several machines a promoted run is re-run from scratch, the earlier attempt counted as superseded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from powertrain.errors import PowertrainError
from powertrain.search.concurrent import Stop, run_search_at_once
from powertrain.search.live import (
    LiveExecutor,
    LiveSearch,
    _settle,
    live_cost,
    live_space,
    search_handlers,
)
from powertrain.search.sink import DeferringSink
from powertrain.search.space import RUNNING, Start, Trial
from powertrain.search.strategies import make_strategy
from powertrain.study.execute import StoreSink
from powertrain.study.executors.base import Job
from powertrain.study.plan import run_spec
from powertrain.train.stopping import first_stop

if TYPE_CHECKING:
    from powertrain.study.execute import RunEnv
    from powertrain.study.executors.ray_session import RaySession
    from powertrain.study.executors.workers import WorkerSession
    from powertrain.study.search_config import SearchConfig


class SessionPool(LiveExecutor):
    """``concurrent.Pool`` on an executor's session (``session`` is set once it is open): anything
    with ``submit(spec, stop, resume_id)``, ``capacity()``, ``wait() -> [(spec, outcome or None)]``
    and ``resumes`` (whether its runs see this machine's checkpoints)."""

    def __init__(self, study, store, env: RunEnv, reporter) -> None:
        super().__init__(study, store, env, reporter)
        self.sink = DeferringSink(StoreSink(store, reporter), env, live=True)
        self.session: WorkerSession | RaySession | None = None
        self.running: dict[str, tuple[Trial, list]] = {}  # by run key: its trial, its handlers

    def capacity(self) -> int:
        return self.session.capacity()

    def in_flight(self) -> int:
        return len(self.running)

    def start(self, start: Start, trial: Trial, stop: Stop) -> None:
        spec = run_spec(self.study, self.setups[start.setup], start.seed)
        if spec.run_key in self.stored:
            self._reuse(spec, start, trial, stop)
            return
        tagged = search_handlers(start, stop)
        # A paused run's record, to continue where the session's runs see its checkpoint.
        resume_id = self.sink.start(spec, trial, tagged, resumable=self.session.resumes)
        trial.status = RUNNING
        handlers = [*tagged, *self.env.stop_handlers(spec)]  # then a predicted stop, if asked
        self.running[spec.run_key] = (trial, tagged)
        self.session.submit(Job(spec, lambda point: _ask(trial, handlers, point), resume_id))

    def wait(self) -> None:
        for spec, outcome in ((e.spec, e.outcome) for e in self.session.wait()):
            trial, tagged = self.running.pop(spec.run_key)
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
    cost = live_cost(study, store, config, strategy.confirm, pool, outcome)
    return LiveSearch(cost, outcome)
