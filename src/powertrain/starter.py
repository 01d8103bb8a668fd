"""What a new user starts from: the names a study file can use (data sets, models, grid keys), and a
commented study file that ``powertrain init`` writes, which loads, validates and runs as it is."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from powertrain.errors import PowertrainError


def grid_keys() -> list[str]:
    """The hyperparameters a study's grid can sweep (every field of TrainConfig)."""
    from powertrain.train.config import TrainConfig

    return [f.name for f in dataclasses.fields(TrainConfig)]


def dataset_names() -> list[str]:
    from powertrain.data.registry import DATASETS

    return DATASETS.names()


def model_names() -> list[str]:
    from powertrain.models.registry import MODELS

    return MODELS.names()


def catalogue() -> str:
    """Data sets, models and grid keys, for ``run --help``."""
    return (
        f"Data sets: {', '.join(dataset_names())}.\n\n"
        f"Models: {', '.join(model_names())}.\n\n"
        f"Grid keys (any training hyperparameter): {', '.join(grid_keys())}.\n\n"
        "Start from a commented study file: powertrain init study.yaml"
    )


TEMPLATE = """\
# A powertrain study: train every setup of the grid, with every seed, until it reaches the target
# accuracy (or a limit), and measure the energy it needed. Run it with
#     powertrain run {path}
# then write the report with
#     powertrain report --db runs/powertrain.db --study {name}
# Running it again resumes: finished runs are kept, only the missing ones run.
name: {name}
description: A first study; edit the task, the grid and the seeds to make it yours.

task:
  # The data set: one of {datasets}.
  # digits is tiny and bundled with scikit-learn; fashion-mnist gives a harder, longer task.
  dataset: digits
  dataset_options: {{val_size: 300, test_size: 300}}
  # The model: one of {models}. Options go to its constructor.
  model: mlp
  model_options: {{hidden: [64]}}
  # A run stops at the first evaluation whose validation accuracy reaches this (0 to 1);
  # its energy until then is its energy-to-target.
  target_accuracy: 0.9
  # How often to evaluate (each evaluation is a point where the target can be reached) ...
  evals_per_epoch: 4
  # ... and when to give up: a run that has not reached the target by then is kept as censored.
  max_epochs: 10

# Training settings shared by every setup (the grid below overrides them).
train:
  optimizer: sgd        # sgd, adam or adamw
  momentum: 0.9

# The setups: every combination of these values. Keys: {grid_keys}.
grid:
  learning_rate: [0.003, 0.03]
  batch_size: [16, 64]

# Each setup runs once per seed; three or more seeds give a 95 % interval worth reading.
seeds: [0, 1, 2]

# How energy is measured: by default the best meter per component (NVIDIA GPUs, RAPL counters,
# else an estimate from CPU time, marked ESTIMATE everywhere). `powertrain meters` shows what is used.
# meters:
#   backends: [estimate]
"""


def study_template(path: str | Path, name: str | None = None) -> str:
    path = Path(path)
    return TEMPLATE.format(
        path=path,
        name=name or path.stem.replace(" ", "-") or "my-study",
        datasets=", ".join(dataset_names()),
        models=", ".join(model_names()),
        grid_keys=", ".join(grid_keys()),
    )


def write_study_template(path: str | Path, *, force: bool = False) -> Path:
    """Write the commented study file to ``path``; an existing file is kept unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise PowertrainError(f"{path} exists; choose another path or pass --force to replace it")
    if path.parent and not path.parent.exists():
        raise PowertrainError(f"folder {path.parent} does not exist; create it first")
    path.write_text(study_template(path))
    return path
