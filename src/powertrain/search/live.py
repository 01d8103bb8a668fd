"""Live search: a strategy decides which (setup, seed) of a study trains next and when a running one
stops, with real training (``execute_run``, the one run body) in place of simulation's stored curves.
``LivePool`` is the search driver's pool (``driver.Pool``) on an executor's session
(``study/executors/base.py``): here one run at a time (the local executor), on this machine's
workers, or as Ray tasks, as many at once as the session has room for; the same loop either way.

- Each run's stops are decided here, in the coordinator, where the history is: the strategy's stop
  (``Strategy.handler``), halving's rung budget, and a predicted stop (``stops``), with the history
  as it is at that moment (another run may have just set a better best). Each trial's points and
  energy are kept up to date as the points arrive, so the strategy sees the runs under way as they
  stand (a Ray task's records come back when it ends; until then its questions are all it knows).
- A run the search stops is kept in the store as CENSORED with the reason: a lower bound.
- Halving's rung budget **pauses** a run (a ``Stop`` of ``Verdict.RUNG_PAUSE``): the loop saves its
  whole state in the run's checkpoint (``train/checkpoint.py``, by run key in the artifacts folder), and a promoted run
  (or one the confirmation needs) is **continued** from it, as simulation assumes: its record begun
  again with the points it had, its energy going on from where it paused, the paused record replaced
  when it finishes, so the store holds one record per (setup, seed) with every point once, cumulative. A paused run is continued where the
  session's runs see this machine's disk (here, its workers, a Ray on this machine only); a paused
  run without a usable checkpoint (a command task; a checkpoint that is not the run's; a cluster of
  several machines) is re-run from scratch instead, and a stopped run that the confirmation starts
  afresh likewise: the store keeps the last attempt, and the energy of the attempts it replaced is
  counted in the search's cost as ``superseded_j``.
- The bookkeeping (pauses in the store, continued ones, checkpoints) is ``sink.py``'s.
- A paused run's record is finished in the store as it pauses (a pause not promoted, its
  checkpoint kept); continued, it is taken on as an earlier search's pause is (below). A run the
  search stopped is finished as it ends. So a search killed at any moment keeps its pauses and its
  stops: the next ``run`` feeds them from the store and continues a pause it wants further from its
  checkpoint. The other checkpoints left are removed when the search ends.
- Runs the store had finished before the search began are fed from the store, not trained again, and
  reported apart (``reused_j``: spent earlier). A run an earlier search paused (and never continued)
  or stopped answers a start as far as its curve goes (a pricing window, a rung's budget, this
  search's own stop); a start that goes past where the earlier search ended it **takes the run
  on**: its record is begun again by this search (``replace_censored``; the stored one stays until
  the new attempt finishes, so an interrupted take-on loses nothing), a pause continued from its
  kept checkpoint, a stopped run (or a pause without one) re-run from scratch, what it had spent
  then counted apart (``carried_j``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from powertrain.errors import PowertrainError
from powertrain.meters.base import runs_label
from powertrain.monitor import below_resolution
from powertrain.records import EvalPoint, RunRecord, Stage, Verdict
from powertrain.search.cost import SearchCost, search_cost
from powertrain.search.cost_axes import label as axes_label
from powertrain.search.driver import SearchOutcome, run_search
from powertrain.search.killed import store_killed_pause
from powertrain.search.simulate import budget_reason, curve_of, feed, precision_note, setup_key
from powertrain.search.sink import DeferringSink, Tagged
from powertrain.search.space import Space, Start, Trial
from powertrain.search.strategies import make_strategy
from powertrain.search.strategy import Strategy
from powertrain.store.base import ResultStore
from powertrain.study.execute import StoreSink
from powertrain.study.executors.base import Executor, Job, Session, Stops, no_stops
from powertrain.study.plan import RunSpec, run_spec
from powertrain.study.resume import RunPlace, discard
from powertrain.study.search_config import SearchConfig
from powertrain.train.stopping import PAUSED_NOTE, Handler, Stop, first_stop

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
            return Stop(Verdict.RUNG_PAUSE, f"{budget_reason(budget_j)} {PAUSED_NOTE}")
        return None

    return pause


class LivePool:
    """The search driver's pool on an executor's session (``session`` is set once it is open): each
    start trains its (setup, seed) with the strategy's stop, the rung budget and ``stops(spec)`` (a
    predicted stop) decided here; a paused run is continued."""

    def __init__(
        self,
        study: StudyConfig,
        store: ResultStore,
        place: RunPlace,
        reporter: Reporter | None,
        setups=None,
        stops: Stops = no_stops,
    ) -> None:
        self.study, self.place, self.store, self.stops = study, place, store, stops
        # The setups its starts name, by key: the study's grid, or (optuna's sampled setups) a
        # dict the strategy fills as it samples.
        self.setups = {setup_key(s.varied): s for s in study.setups()} if setups is None else setups
        self.sink = DeferringSink(StoreSink(store, reporter), place)
        self.stored = self._settled(study, store, place)
        self.reused: set[tuple[str, int]] = set()
        # what the paused runs an earlier search stored, and this one took on, had spent then,
        # and how much of it is in this search's figures (its records, or its superseded attempts)
        self.carried_j = self.counted_j = 0.0
        self.session: Session | None = None
        self.running: dict[str, Trial] = {}  # by run key

    def _settled(self, study: StudyConfig, store: ResultStore, place: RunPlace) -> dict:
        """The study's finished runs by key, once what a killed search left is settled: a pause
        killed between its checkpoint and its record is stored from the checkpoint
        (``store_killed_pause``); the other runs it had under way begin afresh, their checkpoints
        removed (a stored pause keeps its own: it may go on)."""
        runs = [r for r in store.runs(study.name) if r.stage is Stage.TRAIN]
        stored = {r.run_key: r for r in runs if r.outcome is not None}
        killed = {r.run_key: r for r in runs if r.outcome is None}
        lost: list[RunRecord] = []  # killed as they trained: begun afresh if started
        for setup in self.setups.values():
            for seed in study.seeds:
                spec = run_spec(study, setup, seed)
                key = spec.run_key
                if key in killed:
                    record = store_killed_pause(store, spec, place, killed[key], stored.get(key))
                    stored[key] = record or stored.get(key)
                    lost += [killed[key]] if record is None else []
                if not _paused(stored.get(key)):
                    discard(spec, place)
        _say_lost(store, lost)
        return {k: r for k, r in stored.items() if r is not None}

    def capacity(self) -> int:
        return self.session.capacity()

    def in_flight(self) -> int:
        return len(self.running)

    def start(self, start: Start, trial: Trial, stop: Handler) -> None:
        # its pricing window travels with the spec (the built-in loop pauses itself there; a
        # command task, which cannot, is paused by the budget at its first evaluation)
        spec = replace(
            run_spec(self.study, self.setups[start.setup], start.seed), window=start.window
        )
        stored = self.stored.get(spec.run_key)
        if stored is not None:
            # fed as far as it goes; past where an earlier search paused or stopped it (its own
            # handlers did not), or begun again by the confirmation, this search takes it on (a
            # run that ended on its own answers that from its record: it is fed again)
            afresh = _begun_again(trial) and stored.outcome.verdict.by_search
            if not afresh and self._reuse(spec, start, trial, stop):
                return
            spec = self._take_on(spec, start, trial)
        tagged = search_handlers(start, stop)
        # A paused run's record, to continue where the session's runs see its checkpoint.
        resume = self.session.resumes
        resume_id = self.sink.start(spec, trial, tagged, resumable=resume, stored=stored)
        trial.again()
        handlers = [*tagged, *self.stops(spec)]  # then a predicted stop, if asked
        self.running[spec.run_key] = trial
        self.session.submit(Job(spec, lambda point: _ask(trial, handlers, point), resume_id))

    def wait(self) -> None:
        for ended in self.session.wait():
            key = ended.spec.run_key
            trial = self.running.pop(key)
            if ended.outcome is None:
                raise PowertrainError(
                    f"run {key} is held by another process; a live search needs its study to"
                    " itself: wait for it or stop it"
                )
            trial.ended(ended.outcome, self.sink.points.get(key, []))

    def _reuse(self, spec: RunSpec, start: Start, trial: Trial, stop) -> bool:
        """Feed the stored run from where ``trial`` stands; False when ``start`` goes past where an
        earlier search paused or stopped it (to be trained on: ``_take_on``). A pricing window is
        answered by a stored pause's price, whatever window priced it."""
        record = self.stored[spec.run_key]
        curve = curve_of(record, self.store.eval_points(record.id))
        answered = feed(curve, start, trial, stop)
        if not curve.points:  # paused in its pricing window (feed prices a curve's first point)
            trial.priced(record.outcome)
        self.reused.add((start.setup, start.seed))
        return answered or start.window is not None

    def _take_on(self, spec: RunSpec, start: Start, trial: Trial) -> RunSpec:
        """The run an earlier search paused (or stopped) and stored is this search's from now on:
        its record is begun again (``replace_censored``), a pause continued from its checkpoint
        where there is one; what it had spent is not this search's (``carried_j``). Counted in
        this search's figures is what its record goes on from (continued), or what was fed of it
        (begun afresh, a superseded attempt): all of it, but where this search had stopped it
        sooner than the earlier one and the driver began it again (``counted_j``)."""
        record = self.stored.pop(spec.run_key)
        self.reused.discard((start.setup, start.seed))
        self.carried_j += record.outcome.total_energy_j
        fed_j = trial.earlier_j if _begun_again(trial) else record.outcome.total_energy_j
        self.counted_j += fed_j
        return replace(spec, replace_censored=True)


def _say_lost(store: ResultStore, killed: list[RunRecord]) -> None:
    """One line on what the runs a killed search left training had spent: a run begun afresh
    loses its killed attempt's record, so those joules are in no record and no search's cost."""
    spent = [(r, points[-1].total_energy_j) for r in killed if (points := store.eval_points(r.id))]
    if not spent:
        return
    one = len(spent) == 1
    log.info(
        "%d run%s a killed search left training (%.3g J to %s last evaluation%s [%s]) %s begun "
        "afresh if this search starts %s; those joules are in no record and in no search's cost",
        len(spent),
        "" if one else "s",
        sum(j for _, j in spent),
        "its" if one else "their",
        "" if one else "s",
        runs_label(r.provenance for r, _ in spent),
        "is" if one else "are",
        "it" if one else "them",
    )


def _begun_again(trial: Trial) -> bool:
    """Whether the driver begins ``trial``'s run again from scratch (``Trial.afresh``)."""
    return not trial.points and trial.energy_j == 0 and trial.earlier_j > 0


def _paused(record: RunRecord | None) -> bool:
    """Whether ``record`` is a run a search paused and never continued (its checkpoint kept)."""
    return record is not None and record.outcome.verdict is Verdict.RUNG_PAUSE


def _ask(trial: Trial, handlers: list, point) -> Stop | None:
    """The run's stop at ``point``; the point kept first where its record has not come yet (a Ray
    task's come when it ends: until then its questions are all the search knows of it)."""
    if not trial.points or trial.points[-1].index < point.index:
        trial.points.append(point)
        trial.energy_j = point.total_energy_j
    return first_stop(handlers, point)


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
    place: RunPlace,
    config: SearchConfig,
    executor: Executor,
    *,
    stops: Stops = no_stops,
    reporter=None,
    seed: int = 0,
) -> LiveSearch:
    """Drive ``config.strategy`` (zeus, bound, halving, thompson) live over the study's grid, its
    runs on ``executor``."""
    strategy = make_strategy(config.strategy, np.random.default_rng(seed), **config.settings)
    pool = LivePool(study, store, place, reporter, stops=stops)
    return drive(study, store, config, strategy, executor, pool, live_space(study))


def drive(
    study: StudyConfig,
    store: ResultStore,
    config: SearchConfig,
    strategy: Strategy,
    executor: Executor,
    pool: LivePool,
    space: Space,
    grid: tuple[float | None, str, str] | None = None,
    label=None,
) -> LiveSearch:
    """``run_search`` with ``pool`` on a session of ``executor`` (its stopped runs finished in the
    store at the end, whatever happens), then the search's cost; ``label(setup key)``: how the pick
    is named (its setup's)."""
    try:
        with executor.session(study, pool.sink) as pool.session:
            outcome = run_search(strategy, space, pool, config.confirm_seeds)
    finally:
        pool.sink.flush()
    notes = tuple(strategy.notes()) if hasattr(strategy, "notes") else ()
    notes += tuple(_precision(store, study, pool, outcome))
    for line in notes:  # cost axes priced; a race within noise; figures below a meter's resolution
        log.info("search %s: %s", strategy.name, line)
    label = label or (lambda key: pool.setups[key].label())
    tied = tied_labels(strategy, label, pool.setups)
    cost = live_cost(
        study, store, config, strategy.confirm, pool, outcome, grid, label, notes, tied
    )
    return LiveSearch(cost, outcome)


def tied_labels(strategy: Strategy, label, setups) -> tuple[str, ...]:
    """The setups ``strategy`` could not tell apart (auto's within noise), named as the pick is
    (``label``) where they are ``setups``' (a group of cost axes is named by its axes)."""
    if not getattr(strategy, "within_noise", False):
        return ()
    return tuple(label(k) if k in setups else axes_label(k) for k in strategy.tied)


def live_cost(
    study: StudyConfig,
    store: ResultStore,
    config: SearchConfig,
    confirms: bool,
    pool: LivePool,
    outcome: SearchOutcome,
    grid: tuple[float | None, str, str] | None = None,
    label=None,
    notes: tuple[str, ...] = (),
    tied: tuple[str, ...] = (),
) -> SearchCost:
    """What a live search reports: every run started (the
    store's records, and the attempts re-run from scratch: ``superseded_j``), runs the store had
    finished before apart; ``label(setup key)``: how the pick is named (its setup's); ``notes``:
    what the strategy says of its result; ``tied``: the setups it could not tell apart."""
    label = label or (lambda key: pool.setups[key].label())
    return search_cost(
        study,
        store,
        config.strategy,
        pick=label(outcome.pick) if outcome.pick is not None else None,
        confirmed=outcome.confirmed and confirms,
        superseded_j=sum(
            t.earlier_j for k, t in outcome.history.trials.items() if k not in pool.reused
        ),
        reused_keys=[run_spec(study, pool.setups[s], seed_).run_key for s, seed_ in pool.reused],
        started_keys=_started_keys(study, pool, outcome),
        grid=grid,
        notes=notes,
        carried_j=pool.carried_j,
        counted_j=pool.counted_j,
        tied=tied,
        confirmed_seeds=min(config.confirm_seeds, len(study.seeds)),
    )


def _precision(store: ResultStore, study, pool: LivePool, outcome: SearchOutcome) -> list[str]:
    return precision_notes(store, study.name, _started_keys(study, pool, outcome))


def precision_notes(store: ResultStore, study_name: str, started_keys) -> list[str]:
    """A note when runs a search started (``started_keys``) have energy below what their meter
    resolves well: the pick rests on figures whose error may pass 1 in 10."""
    started = set(started_keys)
    runs = [r for r in store.runs(study_name) if r.run_key in started and r.outcome is not None]
    imprecise = sum(any(below_resolution(f) for f in r.outcome.faults) for r in runs)
    return precision_note(imprecise, len(runs))


def _started_keys(study, pool: LivePool, outcome: SearchOutcome) -> list[str]:
    return [
        run_spec(study, pool.setups[s], seed).run_key
        for (s, seed) in outcome.history.trials
        if (s, seed) not in pool.reused
    ]
