"""The results store: a written contract (``base.ResultStore``) and its backends."""

from __future__ import annotations

from pathlib import Path

from powertrain.store.base import ResultStore

DEFAULT_DB = Path("runs") / "powertrain.db"


def open_store(path: str | Path | None = None) -> ResultStore:
    """The SQLite store at ``path`` (``runs/powertrain.db`` by default), created when missing."""
    from powertrain.store.sqlite import SqliteStore

    return SqliteStore(path or DEFAULT_DB)


def existing_store(path: str | Path | None = None) -> ResultStore:
    """Open a store that must already exist (for reading commands)."""
    from powertrain.errors import PowertrainError

    path = Path(path or DEFAULT_DB)
    if not path.is_file():
        raise PowertrainError(
            f"no results store at {path}; run a study first (powertrain run STUDY.yaml)"
        )
    return open_store(path)
