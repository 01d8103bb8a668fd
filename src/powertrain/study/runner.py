"""Runs a study: plan (the pretraining stage when a setup needs one, then every (setup, seed) not yet
finished), hand the specs to an executor (the local one by default), which writes each run through a
``StoreSink`` to the store as it goes.

Resuming is running again: runs that finished are skipped, a run that was killed half-way is begun
afresh (the store removes its partial rows in the same transaction), failed runs are kept unless
``retry_failed``. Data sets are loaded once, with a fixed split seed, so every run sees the same data.
Model files (the pretraining checkpoint, and each run's weights with ``save_models``) go to the store's
artifacts folder (or ``artifacts_dir``) and are written before their run is marked finished.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.records import CENSORED, REACHED, RunOutcome, RunRecord, Stage
from powertrain.store.base import ResultStore
from powertrain.store.kept import with_kept_ends
from powertrain.study.config import StudyConfig
from powertrain.study.execute import StoreSink
from powertrain.study.executors.base import Executor, Stops, no_stops, run_all
from powertrain.study.executors.local import LocalExecutor
from powertrain.study.over_search import OverSearch
from powertrain.study.plan import (
    grid_done,
    needs_pretraining_stage,
    plan,
    pretrain_key,
    pretrained_path,
    shard_of,
)
from powertrain.study.plan import shard as shard_specs
from powertrain.study.result import Pretrained, Reporter, StudyResult
from powertrain.study.versions import study_version

log = logging.getLogger(__name__)


def run_study(
    study: StudyConfig,
    store: ResultStore,
    *,
    reporter: Reporter | None = None,
    retry_failed: bool = False,
    detection=None,
    artifacts_dir: str | Path | None = None,
    executor: Executor | None = None,
    allow_changed: bool = False,
    shard: tuple[int, int] | None = None,
    stops: Stops = no_stops,
) -> StudyResult:
    """Run what is left of ``study`` into ``store``. ``artifacts_dir``: where model files go (default:
    the store's artifacts folder). ``executor``: where the runs execute (default: a
    ``LocalExecutor``, here, in turn, with ``detection``). ``stops(spec)``: stopping handlers of
    each run, decided in this process (a predicted stop). ``shard``:
    (i, N): only the i-th of N deterministic shares of the plan (``plan.shard``).
    A study whose definition differs from the one stored under its name is refused, saying what
    changed; with ``allow_changed`` it runs as a new version, ``NAME@2`` (``study.versions``), its
    runs kept apart from the old ones (``StudyResult.study`` gives the name)."""
    reporter = reporter or Reporter()
    study, changes = study_version(store, study, allow_changed)  # before anything is opened
    artifacts_dir = Path(artifacts_dir or store.artifacts_dir)
    executor = executor or LocalExecutor(detection=detection)
    executor.prepare(study, artifacts_dir)  # a bad device or missing meters fail before anything
    _check_checkpoint(study)
    store.save_study(study.name, study.to_dict())
    specs = plan(study, with_kept_ends(store, store.runs(study.name)), retry_failed)
    total = len(study.runs())
    if shard is not None:
        specs = shard_specs(specs, *shard)
        total = sum(
            shard_of(study.run_key(s, seed), shard[1]) == shard[0] for s, seed in study.runs()
        )
    grid = [s for s in specs if s.stage is Stage.TRAIN]
    result = StudyResult(skipped=total - len(grid), study=study.name, changes=changes)
    reporter.study_started(study, total, len(grid))
    if grid:
        sink = StoreSink(store, reporter)
        over = OverSearch(store, sink, study, artifacts_dir)  # a search's pauses: continued
        outcomes = run_all(executor, study, specs, sink, stops, over.resume)
        if isinstance(executor, LocalExecutor):
            outcomes.update(
                take_over_or_wait(study, store, executor, sink, grid, outcomes, stops, over.resume)
            )
        result.carried_j, result.carried_energy_j = over.say(outcomes)
        result.outcomes = [outcomes[s.run_key] for s in grid if s.run_key in outcomes]
        result.ran = len(result.outcomes)
        result.claimed_elsewhere = len(grid) - result.ran
        result.machine_total = executor.machine_total
        if needs_pretraining_stage(study, grid) or _uses_checkpoint(study, grid):
            result.pretrained = pretrained(study, store.runs(study.name), artifacts_dir)
    finished = getattr(reporter, "study_finished", None)  # optional: older reporters lack it
    if finished is not None:
        finished(result)
    return result


def take_over_or_wait(
    study, store, executor, sink, grid, outcomes, stops=no_stops, resume=None
) -> dict:
    """The grid's runs another process held when this one came to them: wait for each to finish
    there, trying again every few seconds, and take over those whose holder is gone (at once on this
    host; once the heartbeat is older than the lease on another, as when a node of a SLURM array
    dies). So every process of a study ends with the study complete, each run recorded once."""
    waiting = [s for s in grid if s.run_key not in outcomes]
    taken: dict[str, RunOutcome] = {}
    poll_s = max(0.5, min(store.lease_s / 6, 10.0))
    if waiting:
        log.info("waiting for %d runs that other processes are training", len(waiting))
    while waiting:
        final = {r.run_key for r in store.runs(study.name) if grid_done(r)}
        waiting = [s for s in waiting if s.run_key not in final and s.run_key not in taken]
        if not waiting:
            break
        time.sleep(poll_s)
        taken.update(run_all(executor, study, waiting, sink, stops, resume))
    return taken


def _uses_checkpoint(study: StudyConfig, specs) -> bool:
    return (
        study.pretrain is not None
        and study.pretrain.checkpoint is not None
        and any(s.train_config.paradigm.needs_pretraining for s in specs)
    )


def _check_checkpoint(study: StudyConfig) -> None:
    if study.pretrain is not None and study.pretrain.checkpoint is not None:
        path = Path(study.pretrain.checkpoint).expanduser()
        if not path.is_file():
            raise PowertrainError(f"pretrain.checkpoint: no file at {path}")


def pretrained(study: StudyConfig, runs: list[RunRecord], artifacts_dir: str | Path) -> Pretrained:
    """Where the study's fine-tuned runs started from, and what that cost."""
    cfg = study.pretrain
    if cfg.checkpoint is not None:
        known = cfg.energy_j is not None
        path = pretrained_path(study, artifacts_dir)
        return Pretrained(path, cfg.energy_j, "entered by the user" if known else "unknown")
    key, path = pretrain_key(study), pretrained_path(study, artifacts_dir)
    for run in runs:
        if run.run_key == key and run.status in (REACHED, CENSORED):
            return Pretrained(path, run.outcome.total_energy_j, "measured", run.id)
    raise PowertrainError(f"the pretraining stage of {study.name!r} has not finished")
