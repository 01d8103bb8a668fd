"""Where data sets are looked for: ``$POWERTRAIN_DATA``, the user cache, then system folders."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "POWERTRAIN_DATA"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "powertrain"


def search_dirs(name: str, system: tuple[str, ...] = ()) -> list[Path]:
    """Candidate folders for data set ``name``, most specific first."""
    dirs = []
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]) / name)
        dirs.append(Path(os.environ[DATA_ENV]))
    dirs.append(cache_dir() / name)
    dirs.extend(Path(s) for s in system)
    return dirs
