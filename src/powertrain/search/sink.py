"""Where a live search's runs write (``live.LivePool``): the one place that keeps a search's runs'
bookkeeping.

- ``StoreSink``, except that a run the search paused is told to the reporter only when the search
  ends (it may yet go on). Its record goes into the store as it pauses, as a pause not promoted, with
  its checkpoint kept: a search killed at any moment after leaves it stored, and the next search takes
  it on from there as it takes on any stored pause. Continued by this search, it is taken on the same
  way (``_reclaim``: its record begun again, holding the points its checkpoint kept, the stored pause
  replaced when the new attempt finishes); started afresh, its new attempt replaces it when it
  finishes, and the trial's earlier attempt is counted apart, as ``superseded_j``. A run the search
  stopped is finished at once too; begun again (the confirmation's), its new attempt replaces the
  stored stop when it finishes (``replace_censored``), the stop counted as superseded.
- Each run's points are kept by run key, and its trial is updated point by point too, so a strategy
  deciding while runs are under way sees them as they stand.
- A run an earlier search paused and stored, which this one takes on, is begun again in the store by
  this process (``replace_censored``) with the points its checkpoint kept, and continued from it;
  the stored pause stays in the store until the new attempt finishes (the store removes it then),
  and an interruption before that keeps its checkpoint too: the next search takes it on again.
- A pause the search was stopped in between saving its checkpoint and storing it is stored from
  the checkpoint (``killed.py``): by ``flush`` on an interruption, by the next search after a kill.
- ``flush`` (whatever ends the search) tells the reporter of the paused runs and removes the
  checkpoints the search's runs left (one an interruption ended), but those of paused runs that were
  not promoted: a later search may take them on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import CENSORED, FAILED, EvalPoint, Verdict
from powertrain.search.killed import TO_ITSELF, not_promoted, paused, store_killed_pause
from powertrain.search.space import Trial
from powertrain.study.artifacts import checkpoint_path
from powertrain.study.resume import RunPlace, adopt_earlier, discard, paused_spent

if TYPE_CHECKING:
    from powertrain.records import RunOutcome, RunRecord
    from powertrain.study.execute import StoreSink
    from powertrain.study.plan import RunSpec
    from powertrain.train.stopping import Handler, Stop

log = logging.getLogger(__name__)


class Tagged:
    """A stopping handler that remembers whether it was the one that stopped the run."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.fired = handler, None

    def __call__(self, point: EvalPoint) -> Stop | str | None:
        reason = self.handler(point)
        if reason is not None:
            self.fired = reason
        return reason


class DeferringSink:
    """The sink of a live search's runs, by run key (see the module's docstring)."""

    def __init__(self, inner: StoreSink, place: RunPlace) -> None:
        self.inner, self.place = inner, place
        self.keys: dict[int, str] = {}  # run id -> run key, of the runs under way
        self.specs: dict[str, RunSpec] = {}  # every run handed out, by key
        self.points: dict[str, list[EvalPoint]] = {}  # each run's, over its attempts
        self.tagged: dict[str, list[Tagged]] = {}  # the search's handlers of each run
        self.trials: dict[str, Trial] = {}
        self.continued: set[str] = set()  # runs under way in the record of their paused attempt
        # runs under way from a pause an earlier search stored (still in the store, its checkpoint
        # the one they continue from, until they finish)
        self.taken: set[str] = set()
        # runs that paused: finished in the store at once (a search killed later keeps them, and
        # their checkpoints), told to the reporter when the search ends; by run key
        self.paused: dict[str, tuple[int, RunOutcome]] = {}
        self.stopped: set[str] = set()  # runs the search stopped, finished in the store as they end
        # runs under way over a stored stop or pause (replaced when they finish): begun again by
        # this process (a Ray task's records claim its run a second time), they replace it still
        self.replacing: set[str] = set()
        # the stored pause each continued run goes on from: a continuation that fails before it
        # measures anything (0 J: its model not set up, its worker or Ray task lost) keeps its joules
        self.resumed: dict[str, RunOutcome] = {}
        # the span each run's pricing window priced (steps, joules), from its pause: a run begun
        # again from scratch (its checkpoint gone or out of reach) keeps it in its new record
        self.priced: dict[str, tuple[int, float]] = {}

    def start(
        self,
        spec: RunSpec,
        trial: Trial,
        tagged: list[Tagged],
        *,
        resumable: bool = True,
        stored: RunRecord | None = None,
    ) -> int | None:
        """``spec`` is about to be handed out for ``trial`` with the search's handlers ``tagged``.
        Returns the record to continue (a paused run with its checkpoint to resume, unless the run
        cannot reach it: not ``resumable``), or None: the run is begun afresh, its trial's earlier
        attempt (if any) counted as superseded. ``stored``: the record of a run an earlier search
        paused (or stopped), which this one takes on (``trial`` fed its points)."""
        key = spec.run_key
        self.specs[key], self.trials[key], self.tagged[key] = spec, trial, tagged
        if stored is not None:
            self._note_priced(key, stored.outcome)
        run_id = None
        if resumable:
            run_id = self._resume(spec, trial) if stored is None else self._reclaim(spec, stored)
        if run_id is None and (trial.points or trial.energy_j):
            trial.afresh()
        return run_id

    def _resume(self, spec: RunSpec, trial: Trial) -> int | None:
        key = spec.run_key
        begun = trial.points or trial.window_progress  # a pause in its pricing window has no point
        if not trial.paused or not begun or key not in self.paused:
            return None
        run_id = self._reclaim(spec, self._record(key, self.paused[key][0]))
        if run_id is not None:  # else begun afresh, over the stored pause (``begin``)
            self.paused.pop(key)
        return run_id

    def _record(self, key: str, run_id: int) -> RunRecord:
        (record,) = [r for r in self.store.runs(self.specs[key].study) if r.id == run_id]
        return record

    def _reclaim(self, spec: RunSpec, stored: RunRecord) -> int | None:
        """The record to continue a pause an earlier search stored (finished, not promoted) in: its
        record begun again by this process, holding the points its checkpoint kept, in one
        transaction; None without a checkpoint of it that can be resumed (a stopped run has none)."""
        key = spec.run_key
        adopt_earlier(spec, self.place, self.store.eval_points(stored.id))  # from before its folder
        spent = paused_spent(spec, self.place)
        if spent is None or len(spent.points) != len(self.trials[key].points):
            return None
        if spent.points != self.store.eval_points(stored.id):  # another store's (over_search.py)
            return None
        try:
            with self.store.atomic():
                taking_on = dataclasses.replace(spec, replace_censored=True)
                run_id = self.inner.begin(taking_on, stored.hardware, stored.provenance)
                for point in spent.points:
                    self.inner.eval_point(run_id, point)
        except ValueError as exc:  # RunClaimed, or finished meanwhile: another process took it on
            self._forget(key)  # its checkpoint is the other's
            raise PowertrainError(f"{exc}; {TO_ITSELF}") from None
        self.keys[run_id], self.points[key] = key, list(spent.points)
        self.resumed[key] = stored.outcome
        self.continued.add(key)
        self.taken.add(key)
        return run_id

    def _forget(self, key: str) -> None:
        """Leave run ``key`` (and its checkpoint) to the other process that holds it."""
        for kept in (self.specs, self.trials, self.tagged):
            kept.pop(key, None)

    def begin(self, spec, hardware, provenance) -> int:
        key = spec.run_key
        if key in self.stopped:  # its stop stays in the store until this attempt finishes
            self.stopped.discard(key)
            spec = dataclasses.replace(spec, replace_censored=True)
        if self.paused.pop(key, None) is not None:  # a finished pause, replaced at its finish
            spec = dataclasses.replace(spec, replace_censored=True)
        if key in self.continued:  # its checkpoint went before it could be resumed: afresh,
            self.continued.discard(key)  # over the stored pause its record was begun to continue
            self.taken.discard(key)
            self.resumed.pop(key, None)
            self.trials[key].afresh()
            spec = dataclasses.replace(spec, replace_censored=True)
        if key in self.replacing:  # our own claim again, over the same stored record
            spec = dataclasses.replace(spec, replace_censored=True)
        try:
            run_id = self.inner.begin(spec, hardware, provenance)
        except RunClaimed as exc:  # refused here, before an executor logs it as skipped
            self._forget(key)  # its checkpoint is the other process's
            raise PowertrainError(f"{exc}; {TO_ITSELF}") from None
        if spec.replace_censored:
            self.replacing.add(key)
        self.keys[run_id], self.points[key] = key, []
        self.specs.setdefault(key, spec)
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
        self.continued.discard(key)
        self.taken.discard(key)
        self.replacing.discard(key)
        outcome = _keeping_the_pause(outcome, self.resumed.pop(key, None))
        self._note_priced(key, outcome)
        if outcome.priced_steps is None and key in self.priced:  # priced by an attempt before
            steps, energy_j = self.priced[key]
            outcome = dataclasses.replace(outcome, priced_steps=steps, priced_energy_j=energy_j)
        if outcome.verdict is Verdict.RUNG_PAUSE:
            # the search's handlers paused it, or it paused itself in its pricing window: it may go
            # on, from its checkpoint. Its record goes in at once, as a pause not promoted (its
            # checkpoint matches it): killed later, the next search takes it on from there; told to
            # the reporter when the search ends, if it has not gone on by then
            self.inner.finish(run_id, not_promoted(outcome), say=False)
            self.paused[key] = (run_id, outcome)
            return
        self.inner.finish(run_id, outcome)  # a stop in the store at once: a killed search keeps it
        if outcome.status == CENSORED and outcome.verdict.by_search:  # a predicted miss too
            self.stopped.add(key)  # begun again (the confirmation's), it replaces this record

    def _note_priced(self, key: str, outcome: RunOutcome) -> None:
        """Keep the span ``outcome`` says its pricing window priced, if any (``self.priced``)."""
        if outcome.priced_steps:
            self.priced[key] = (outcome.priced_steps, outcome.priced_energy_j)

    def flush(self) -> None:
        """Tell the reporter of the paused runs (not promoted: their checkpoints are kept, for a
        later search that takes them on) and remove the other checkpoints the search's runs left
        (that of a run an interruption ended), but those of every run the store holds as paused
        (one an interruption caught as it was taken on or went on: its pause is still there)."""
        self._store_interrupted_pauses()
        kept, self.taken = set(self.taken), set()
        for key, (run_id, outcome) in self.paused.items():  # in the store since they paused
            self.inner.said(run_id, not_promoted(outcome))
            kept.add(key)
        self.paused.clear()
        # and whatever the store holds as paused (one an interruption caught on its way on)
        for study in {spec.study for spec in self.specs.values()}:
            kept |= {r.run_key for r in self.store.runs(study) if paused(r)}
        for key, spec in self.specs.items():
            if key not in kept:
                discard(spec, self.place)
        self._say_kept([self.specs[key] for key in kept if key in self.specs])

    def _store_interrupted_pauses(self) -> None:
        """The runs under way that an interruption (Ctrl-C) caught between saving their pause's
        checkpoint and storing it: stored from the checkpoint now (``store_killed_pause``), their
        checkpoint kept with them, rather than removed with those of the runs it caught training."""
        for run_id, key in list(self.keys.items()):
            spec, record = self.specs.get(key), self.store.run(run_id)
            if spec is None or record is None or record.outcome is not None:
                continue
            runs = self.store.runs(spec.study)
            finished = [r for r in runs if r.run_key == key and r.outcome is not None]
            with contextlib.suppress(PowertrainError):  # another process's since: left to it
                stored = finished[-1] if finished else None
                if store_killed_pause(self.store, spec, self.place, record, stored) is not None:
                    self.keys.pop(run_id)

    def _say_kept(self, specs) -> None:
        """One line on the checkpoints the paused runs keep, this search's and those of pauses an
        earlier search stored (each kept till a search takes it on): how many, where, and what they
        take on disk (the state, the summary beside it, and a new state a save killed before
        its move left beside them, ``train/checkpoint.py``)."""
        if self.place.study.task.command:  # a command's script keeps its own state
            return
        ours, stored = {(s.study, s.run_key) for s in specs}, set()
        for study in {s.study for s in self.specs.values()}:
            stored |= {(r.study, r.run_key) for r in self.store.runs(study) if paused(r)}
        kept = [(k in ours, checkpoint_path(self.place.artifacts_dir, *k)) for k in ours | stored]
        paths = sorted(path for _, path in kept if path.is_file())
        earlier = sum(1 for mine, path in kept if not mine and path.is_file())
        beside = (".json", ".next.pt")  # + summary, + a killed save's new state
        files = [f for p in paths for f in (p, *map(p.with_suffix, beside)) if f.is_file()]
        size_b = sum(f.stat().st_size for f in files)
        if size_b:
            size = f"{size_b / 1e6:.1f} MB" if size_b >= 100_000 else f"{size_b / 1e3:.0f} kB"
            log.info(
                "%d paused runs%s keep their checkpoints (%s) in %s, for a later search that "
                "trains one further; delete them to reclaim the disk (it then re-runs the run)",
                len(paths),
                f" ({earlier} paused by an earlier search)" if earlier else "",
                size,
                paths[0].parent,
            )

    @property
    def store(self):
        return self.inner.store

    def pending_power_limits(self) -> dict[str, float]:  # the journal is the inner sink's store
        return self.inner.pending_power_limits()

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        self.inner.note_power_limit(gpu_uuid, previous_w)


def _keeping_the_pause(outcome: RunOutcome, pause: RunOutcome | None) -> RunOutcome:
    """The outcome of a run continued from ``pause``: as it is, unless it failed having measured
    less than the pause had spent (a model that could not be set up, a dead worker, a lost Ray
    task: 0 J). Its finish replaces the stored pause, so the pause's joules go into it, said so."""
    if pause is None or outcome.status != FAILED or outcome.total_energy_j >= pause.total_energy_j:
        return outcome
    energy = dict(pause.energy_j)
    for component, joules in outcome.energy_j.items():
        energy[component] = energy.get(component, 0.0) + joules
    reason = (
        f"{outcome.stop_reason} (as it went on from a pause: the {pause.total_energy_j:.3g} J "
        "and steps the pause had spent are kept in this record)"
    )
    return dataclasses.replace(
        outcome,
        stop_reason=reason,
        total_energy_j=pause.total_energy_j + outcome.total_energy_j,
        energy_j=energy,
        duration_s=pause.duration_s + outcome.duration_s,
        steps=max(pause.steps, outcome.steps),
    )
