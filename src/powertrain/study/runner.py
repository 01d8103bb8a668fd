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

from dataclasses import dataclass, field
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.records import CENSORED, REACHED, EvalPoint, RunOutcome, RunRecord, Stage
from powertrain.store.base import ResultStore
from powertrain.study.config import Setup, StudyConfig
from powertrain.study.execute import DATA_SPLIT_SEED, RunEnv, StoreSink  # noqa: F401 - re-exported
from powertrain.study.executors.base import Executor, Stops, no_stops, run_all
from powertrain.study.executors.local import LocalExecutor
from powertrain.study.executors.machine import MachineTotal
from powertrain.study.plan import (
    needs_pretraining_stage,
    plan,
    pretrain_key,
    pretrained_path,
    shard_of,
)
from powertrain.study.plan import shard as shard_specs
from powertrain.study.versions import study_version


class Reporter:
    """Progress callbacks; the CLI draws them, the default ignores them."""

    def study_started(self, study: StudyConfig, total: int, to_run: int) -> None: ...
    def run_started(self, setup: Setup, seed: int) -> None: ...
    def eval_point(self, point: EvalPoint) -> None: ...
    def run_finished(self, setup: Setup, seed: int, outcome: RunOutcome, method: str) -> None: ...
    def study_finished(self, result: StudyResult) -> None: ...


@dataclass(frozen=True)
class Pretrained:
    path: Path
    energy_j: float | None  # None: unknown (an external checkpoint whose cost nobody gave)
    source: str  # "measured", "entered by the user", "unknown"
    run_id: int | None = None


@dataclass
class StudyResult:
    ran: int = 0  # the grid's runs executed now (the pretraining stage is not one)
    skipped: int = 0
    outcomes: list[RunOutcome] = field(default_factory=list)
    pretrained: Pretrained | None = None
    claimed_elsewhere: int = 0  # runs another process was training, left to it
    study: str = ""  # the name its runs are stored under (NAME@2 for a changed definition)
    changes: list[str] = field(default_factory=list)  # what changed, when it became a new version
    # the machine's own total over the sweep, of the devices parallel runs shared (their parts are
    # apportioned); None when no device was shared
    machine_total: MachineTotal | None = None


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
    specs = plan(study, store.runs(study.name), retry_failed)
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
        outcomes = run_all(executor, study, specs, StoreSink(store, reporter), stops)
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
