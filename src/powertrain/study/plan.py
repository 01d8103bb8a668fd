"""A study becomes a plan: pure, from the study and the runs the store has finished to the list of
runs still to do, each a picklable ``RunSpec`` (nothing open travels in one: no store, no meter, no
data cache; those are opened where the run executes, see ``execute.RunEnv``).

The pretraining stage comes first, as a spec with ``Stage.PRETRAIN``, when a setup still to run starts
from it and it has not finished yet (an external checkpoint needs no stage).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powertrain.records import FAILED, RunRecord, Stage, Status
from powertrain.study.artifacts import study_dir
from powertrain.study.config import Setup, StudyConfig
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

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(**self.train)

    def as_setup(self) -> Setup:
        """The spec as the grid's ``Setup`` (what the reporter is given)."""
        return Setup(dict(self.setup), self.train_config, self.task, self.stage)


def pretrain_key(study: StudyConfig) -> str:
    """The pretraining stage's run key: everything that determines it, hashed."""
    identity = {
        "pretrain": dataclasses.asdict(study.pretrain),
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


def plan(
    study: StudyConfig, finished: list[RunRecord], retry_failed: bool = False
) -> list[RunSpec]:
    """The runs still to do, in order: the pretraining stage (when needed), then every (setup, seed)
    of the grid that has not finished (FAILED ones again only with ``retry_failed``)."""
    done = {
        r.run_key
        for r in finished
        if r.study == study.name
        and Status(r.status).final
        and not (retry_failed and r.status == FAILED)
    }
    todo = [
        RunSpec(
            study.name,
            key,
            dict(setup.varied),
            setup.train.to_dict(),
            seed,
            Stage.TRAIN,
            retry_failed,
            setup.task,
        )
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
