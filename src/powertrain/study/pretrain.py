"""The pretraining stage: trained and measured once per study (and kept: a resumed study reuses it),
or an external checkpoint whose energy is unknown unless the user gives it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.models.checkpoints import save_state_dict
from powertrain.models.registry import build_model
from powertrain.records import CENSORED, REACHED, RunOutcome, method_label
from powertrain.study.artifacts import study_dir
from powertrain.study.config import Setup
from powertrain.train.loop import Limits, train_to_target
from powertrain.train.setup import seed_everything
from powertrain.train.sources import SingleSource
from powertrain.train.steps import classification_step, evaluator

PRETRAIN = "pretrain"


@dataclass(frozen=True)
class Pretrained:
    path: Path
    energy_j: float | None  # None: unknown (an external checkpoint whose cost nobody gave)
    source: str  # "measured", "entered by the user", "unknown"
    run_id: int | None = None


def pretrain_key(study) -> str:
    identity = {
        "pretrain": dataclasses.asdict(study.pretrain),
        "model": study.task.model,
        "model_options": study.task.model_options,
    }
    return (
        PRETRAIN
        + "-"
        + hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]
    )


def ensure_pretrained(ctx) -> Pretrained:
    study, store = ctx.study, ctx.store
    cfg = study.pretrain
    if cfg.checkpoint is not None:
        path = Path(cfg.checkpoint).expanduser()
        if not path.is_file():
            raise PowertrainError(f"pretrain.checkpoint: no file at {path}")
        known = cfg.energy_j is not None
        return Pretrained(path, cfg.energy_j, "entered by the user" if known else "unknown")

    key = pretrain_key(study)
    path = study_dir(ctx.artifacts_dir, study.name) / f"{key}.pt"
    for run in store.runs(study.name):
        if run.run_key == key and run.status in (REACHED, CENSORED) and path.is_file():
            return Pretrained(path, run.outcome.total_energy_j, "measured", run.id)

    data = ctx.dataset(cfg.dataset, cfg.dataset_options)
    task = data.tasks[cfg.label or data.default_task]
    setup = Setup({"stage": PRETRAIN, "dataset": cfg.dataset}, cfg.train)
    ctx.reporter.run_started(setup, cfg.seed)
    run_id = store.begin_run(
        study.name,
        key,
        setup.varied,
        dataclasses.asdict(cfg.train),
        cfg.seed,
        ctx.hardware,
        ctx.provenance,
        replace_failed=True,
        stage=PRETRAIN,
    )
    seed_everything(cfg.seed)
    model = build_model(
        study.task.model, data.input_shape, task.num_classes, **study.task.model_options
    )
    monitor = ctx.monitor()
    with monitor:
        outcome: RunOutcome = train_to_target(
            model,
            SingleSource(data.train),
            cfg.train,
            Limits(
                {cfg.dataset: cfg.target_accuracy or 1.0},
                cfg.max_epochs,
                evals_per_epoch=cfg.evals_per_epoch,
            ),
            monitor,
            step_fn=classification_step(task),
            evaluate=evaluator({cfg.dataset: (data.val, task, task.name, None)}),
            test_evaluate=evaluator({cfg.dataset: (data.test, task, task.name, None)}),
            device=ctx.device,
            seed=cfg.seed,
            on_eval=lambda p: store.add_eval_point(run_id, p),
        )
        if outcome.status in (REACHED, CENSORED):
            save_state_dict(model, path)  # before the run is marked finished
    store.finish_run(run_id, outcome)
    ctx.reporter.run_finished(setup, cfg.seed, outcome, method_label(ctx.provenance))
    if outcome.status not in (REACHED, CENSORED):
        raise PowertrainError(
            f"the pretraining stage {outcome.status}: {outcome.error or outcome.stop_reason}"
        )
    return Pretrained(path, outcome.total_energy_j, "measured", run_id)
