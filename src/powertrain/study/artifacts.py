"""Where a study's model files live: in the artifacts folder of the results store they belong to
(``runs/artifacts`` beside ``runs/powertrain.db``), so that weights a Python user saves through a store
are where ``powertrain infer`` on that store looks."""

from __future__ import annotations

import re
from pathlib import Path


def safe_name(name: str) -> str:
    """A study name as a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "study"


def study_dir(artifacts_dir: str | Path, study: str) -> Path:
    """A study's model files: its pretraining checkpoint, and each run's weights."""
    return Path(artifacts_dir) / safe_name(study)


def model_path(artifacts_dir: str | Path, study: str, run_key: str) -> Path:
    """Where a run's final weights are kept (with ``save_models``)."""
    return study_dir(artifacts_dir, study) / "models" / f"{run_key}.pt"


def checkpoint_path(artifacts_dir: str | Path, study: str, run_key: str) -> Path:
    """Where a paused run's state is kept till it goes on (``train/checkpoint.py``; the summary is
    beside it, ``.json``)."""
    return study_dir(artifacts_dir, study) / "checkpoints" / f"{safe_name(run_key)}.pt"
