"""The grid's runs over the records a search paused or stopped (``plan.SEARCH_ONLY``): each is the
grid's to run to its own end, and what its record held is not lost without a word.

- A pause whose checkpoint is there and is its record's (the same points) is continued from it, as a
  later search continues one (``search/sink.py``): the coordinator begins its record again with the
  checkpoint's points, in one transaction, and the run goes on from there, so the record it
  finishes with holds every joule, the search's too (the store removes the pause only then).
- The others (a stopped run, a pause without a usable checkpoint, a session whose runs do not see
  this machine's disk) are run again from scratch: one line says how many, and how much energy the
  records the grid replaced held (spent by the search, counted in its cost).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from powertrain.errors import RunClaimed
from powertrain.records import Stage, Verdict
from powertrain.study.plan import SEARCH_ONLY
from powertrain.study.resume import StudyPlace, adopt_earlier, paused_spent

if TYPE_CHECKING:
    from powertrain.records import RunOutcome, RunRecord
    from powertrain.store.base import ResultStore
    from powertrain.study.config import StudyConfig
    from powertrain.study.execute import StoreSink
    from powertrain.study.plan import RunSpec

log = logging.getLogger(__name__)


class OverSearch:
    """The grid's runs over a search's records: ``resume(spec)`` claims a pause to continue (its
    record's id, or None: the run begins afresh); ``say(outcomes)`` the line on those re-run."""

    def __init__(
        self, store: ResultStore, sink: StoreSink, study: StudyConfig, artifacts_dir: Path
    ) -> None:
        self.store, self.sink = store, sink
        self.place = StudyPlace(study, Path(artifacts_dir))
        self.searched: dict[str, RunRecord] = {
            r.run_key: r
            for r in store.runs(study.name)
            if r.outcome is not None and r.outcome.verdict in SEARCH_ONLY and r.stage is Stage.TRAIN
        }
        self.study = study.name
        self.continued: dict[str, int] = {}  # run key -> the record it went on in

    def resume(self, spec: RunSpec) -> int | None:
        """The record to continue ``spec`` in (claimed here, holding the checkpoint's points), when
        the search paused it and its checkpoint is usable; else None."""
        if spec.run_key not in self.searched or not spec.replace_censored:
            return None
        record = self._now(spec.run_key)  # as it stands now: another search may have gone on
        if record is None or record.outcome.verdict is not Verdict.RUNG_PAUSE:
            return None
        adopt_earlier(spec, self.place, self.store.eval_points(record.id))  # from before its folder
        spent = paused_spent(spec, self.place)
        # its record's very points: the spec's hash leaves the task out (its data, its model), so
        # a checkpoint another store left in a shared artifacts folder can pass it
        if spent is None or spent.points != self.store.eval_points(record.id):
            return None
        try:
            with self.store.atomic():
                run_id = self.sink.begin(spec, record.hardware, record.provenance)
                for point in spent.points:
                    self.sink.eval_point(run_id, point)
        except (RunClaimed, ValueError) as claimed:  # another process has it: left to that one
            log.info("skipped: %s", claimed)
            return None
        self.continued[spec.run_key] = run_id
        return run_id

    def _now(self, key: str) -> RunRecord | None:
        """The key's record a search paused or stopped, as the store holds it now (the one
        ``say`` then speaks of), or None."""
        now = [
            r
            for r in self.store.runs(self.study)
            if r.run_key == key and r.outcome is not None and r.outcome.verdict in SEARCH_ONLY
        ]
        if now:
            self.searched[key] = now[-1]
        return now[-1] if now else None

    def say(self, outcomes: dict[str, RunOutcome]) -> tuple[float, dict[str, float]]:
        """One line on what the grid ran: the pauses it continued (their energy carried in their
        records), the runs it re-ran from scratch and the energy their replaced records held.
        Returns what the pauses it continued had spent in the search (``carried_j``), and the
        same per component."""
        ids = {r.id for r in self.store.runs(self.study)}  # not if its checkpoint went meanwhile
        went_on = [k for k, run_id in self.continued.items() if k in outcomes and run_id in ids]
        again = [r for k, r in self.searched.items() if k in outcomes and k not in went_on]
        carried_j = sum(self.searched[k].outcome.total_energy_j for k in went_on)
        by_component: dict[str, float] = {}
        for key in went_on:
            for component, joules in self.searched[key].outcome.energy_j.items():
                by_component[component] = by_component.get(component, 0.0) + joules
        if went_on:
            log.info(
                "the grid continued %s a search had paused from their checkpoints"
                " (%.3g J spent then, kept in their records)",
                _runs(len(went_on)),
                carried_j,
            )
        if again:
            replaced_j = sum(r.outcome.total_energy_j for r in again)
            log.info(
                "the grid ran %s a search had paused or stopped again from scratch: their"
                " records, which held %.3g J (the search's, counted in its cost), are replaced",
                _runs(len(again)),
                replaced_j,
            )
        return carried_j, by_component


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"
