"""A study becomes a plan: pure, from the study and the runs the store has finished to the list of
runs still to do, each a picklable ``RunSpec`` (nothing open travels in one: no store, no meter, no
data cache; those are opened where the run executes, see ``execute.RunEnv``).

The pretraining stage comes first, as a spec with ``Stage.PRETRAIN``, when a setup still to run starts
from it and it has not finished yet (an external checkpoint needs no stage).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.records import FAILED, RunRecord, Stage, Status, Verdict
from powertrain.study.artifacts import study_dir
from powertrain.study.config import Setup, StudyConfig, pretrain_identity
from powertrain.train.config import TrainConfig


@dataclass(frozen=True)
class RunSpec:
    """One run to do: plain data only, so that it pickles to a worker process or another machine."""

    study: str
    run_key: str
    setup: dict[str, Any]  # the grid's values (and the task, for a single-task baseline)
    train: dict[str, Any]  # every hyperparameter (TrainConfig as a plain dict)
    seed: int
    stage: Stage = Stage.TRAIN
    replace_failed: bool = False  # begin again over a FAILED attempt at this key
    task: str | None = field(default=None)  # the one task a single-task setup learns
    #: Pause before the first evaluation, once this share of the steps to it is trained (a search's
    #: pricing window, ``Limits.window``); how far this attempt goes, not what the run is: it is in
    #: neither the run key nor the checkpoint's spec hash.
    window: float | None = None
    #: Begin again over a CENSORED attempt at this key (a search taking on a run that an earlier
    #: search paused or stopped); like ``replace_failed``, not in the checkpoint's spec hash.
    replace_censored: bool = False

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(**self.train)

    def as_setup(self) -> Setup:
        """The spec as the grid's ``Setup`` (what the reporter is given)."""
        return Setup(dict(self.setup), self.train_config, self.task, self.stage)


def pretrain_key(study: StudyConfig) -> str:
    """The pretraining stage's run key: everything that determines it, hashed."""
    identity = {
        "pretrain": pretrain_identity(study.pretrain),
        "model": study.task.model,
        "model_options": study.task.model_options,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    return f"{Stage.PRETRAIN.value}-{digest.hexdigest()[:16]}"


def pretrained_path(study: StudyConfig, artifacts_dir: str | Path) -> Path:
    """The weights fine-tuned runs start from: the external checkpoint, or the stage's file in the
    study's artifacts folder."""
    cfg = study.pretrain
    if cfg is not None and cfg.checkpoint is not None:
        return Path(cfg.checkpoint).expanduser()
    return study_dir(artifacts_dir, study.name) / f"{pretrain_key(study)}.pt"


def needs_pretraining_stage(study: StudyConfig, specs: list[RunSpec]) -> bool:
    """Whether any of ``specs`` starts from a pretraining stage that powertrain runs itself."""
    return (
        study.pretrain is not None
        and study.pretrain.checkpoint is None
        and any(s.train_config.paradigm.needs_pretraining for s in specs)
    )


def pretrain_spec(study: StudyConfig) -> RunSpec:
    cfg = study.pretrain
    return RunSpec(
        study.name,
        pretrain_key(study),
        {"dataset": cfg.dataset},
        cfg.train.to_dict(),
        cfg.seed,
        Stage.PRETRAIN,
        replace_failed=True,
    )


def run_spec(study: StudyConfig, setup: Setup, seed: int, replace_failed: bool = False) -> RunSpec:
    """The spec of one of the grid's (setup, seed)."""
    return RunSpec(
        study.name,
        study.run_key(setup, seed),
        dict(setup.varied),
        setup.train.to_dict(),
        seed,
        Stage.TRAIN,
        replace_failed,
        setup.task,
    )


#: What only a search ends a run with (``Verdict.search_only``, the one definition): its bound,
#: halving's rung or a pricing window's pause, a confirmation's stop. (A predicted miss can be the
#: grid's own ``predict_stop``: it stays done.)
SEARCH_ONLY = frozenset(v for v in Verdict if v.search_only)


def grid_done(record: RunRecord, retry_failed: bool = False) -> bool:
    """Whether the grid is done with ``record``'s run: it finished, and not with what only a
    search ends a run with (the store keeps such a record while another process takes it on),
    nor FAILED where the grid runs failed runs again (``retry_failed``)."""
    if retry_failed and record.status == FAILED:
        return False
    return Status(record.status).final and not (
        record.outcome is not None and record.outcome.verdict in SEARCH_ONLY
    )


def plan(
    study: StudyConfig, finished: list[RunRecord], retry_failed: bool = False
) -> list[RunSpec]:
    """The runs still to do, in order: the pretraining stage (when needed), then every (setup, seed)
    of the grid that has not finished (FAILED ones again only with ``retry_failed``). A run a search
    paused or stopped (``SEARCH_ONLY``) is not finished for the grid: it is run again, over its
    record, to where the grid's own limits end it."""
    mine = [r for r in finished if r.study == study.name]
    searched = {r.run_key for r in mine if r.outcome and r.outcome.verdict in SEARCH_ONLY}
    done = {r.run_key for r in mine if grid_done(r, retry_failed) and r.run_key not in searched}
    todo = [
        replace(run_spec(study, setup, seed, retry_failed), replace_censored=key in searched)
        for setup, seed in study.runs()
        if (key := study.run_key(setup, seed)) not in done
    ]
    if needs_pretraining_stage(study, todo):
        stage = pretrain_spec(study)
        if not any(
            r.run_key == stage.run_key and r.status in (Status.REACHED, Status.CENSORED)
            for r in finished
        ):
            todo.insert(0, stage)
    return todo


def shard_of(run_key: str, count: int) -> int:
    """Which of ``count`` shards a run key belongs to: a stable hash (the same on every machine and
    every Python, unlike ``hash``)."""
    return int(hashlib.sha256(run_key.encode()).hexdigest()[:12], 16) % count


def shard(specs: list[RunSpec], index: int, count: int) -> list[RunSpec]:
    """Shard ``index`` of ``count`` (0-based) of a plan: the grid's runs whose key hashes to it, in the
    plan's order, and the pretraining stage with every shard that has a run needing it. Shards of one
    plan are disjoint and together hold every grid run, so machines can split a study with no engine
    and ``powertrain merge`` their stores."""
    if not (isinstance(count, int) and isinstance(index, int) and 0 <= index < count):
        raise PowertrainError(
            f"--shard {index}/{count}: give i/N with N >= 1 and 0 <= i < N (e.g. 0/2 and 1/2)"
        )
    mine = [s for s in specs if s.stage is Stage.TRAIN and shard_of(s.run_key, count) == index]
    needs_stage = any(s.train_config.paradigm.needs_pretraining for s in mine)
    stage = [s for s in specs if s.stage is Stage.PRETRAIN and needs_stage]
    return stage + mine


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` as (i, N), or PowertrainError saying what to give. ``"auto"``: this SLURM task's
    share (``slurm.shard_from_env``)."""
    if text.strip().lower() == "auto":
        from powertrain.slurm import shard_from_env

        return shard_from_env()
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise PowertrainError(
            f"--shard {text!r}: give i/N, the shard's number from 0 and the number of shards"
            " (e.g. 0/2 on one machine and 1/2 on the other)"
        ) from None
    if not (count >= 1 and 0 <= index < count):
        raise PowertrainError(f"--shard {text}: give i/N with N >= 1 and 0 <= i < N (e.g. 0/2)")
    return index, count
