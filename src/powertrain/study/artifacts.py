"""Where a study's model files live, next to its results store."""

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
