"""Where a study's model files live: in the artifacts folder of the results store they belong to
(``runs/artifacts`` beside ``runs/powertrain.db``, ``runs/a.db-artifacts`` beside ``runs/a.db``), so that
weights a Python user saves through a store are where ``powertrain infer`` on that store looks, and two
stores in one folder never continue, overwrite or remove each other's checkpoints and model files."""

from __future__ import annotations

import re
from pathlib import Path


def safe_name(name: str) -> str:
    """A study name as a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "study"


def shared_artifacts_dir(artifacts_dir: str | Path) -> Path | None:
    """The folder every store beside it shared before each had its own (``runs/artifacts`` for
    ``runs/a.db-artifacts``), where a store's older checkpoints may still lie; None for the default
    store's folder, which is that one."""
    path = Path(artifacts_dir)
    if path.name.endswith("-artifacts"):
        return path.parent / "artifacts"
    return None


def left_in_shared(path: str | Path, artifacts_dir: str | Path) -> str:
    """What to tell a user whose model file (or folder of them) ``path`` is not in the store's own
    ``artifacts_dir`` but is in the folder the stores beside it shared before each had its own:
    written there by this store or by another (nothing in a model file says which), so it is never
    read from there; the user may move it. Empty when there is nothing there."""
    shared = shared_artifacts_dir(artifacts_dir)
    try:
        earlier = None if shared is None else shared / Path(path).relative_to(artifacts_dir)
    except ValueError:  # not in the store's folder (an external checkpoint)
        return ""
    if earlier is None or not (earlier.is_file() or any(earlier.glob("*.pt"))):
        return ""
    return (
        f"; {earlier} was written before each store kept its own artifacts folder, by this store "
        f"or by another beside it, so it is not read from there: if it is this store's, move it "
        f"to {path}"
    )


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
