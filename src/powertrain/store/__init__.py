"""The results store: a written contract (``base.ResultStore``) and its backends."""

from __future__ import annotations

from pathlib import Path

from powertrain.store.base import ResultStore

DEFAULT_DB = Path("runs") / "powertrain.db"


def open_store(path: str | Path | None = None, create: bool = True) -> ResultStore:
    """The SQLite store at ``path`` (``runs/powertrain.db`` by default), created when missing (unless
    ``create`` is false: then it must be a store already, and nothing is written to a file refused)."""
    from powertrain.store.sqlite import SqliteStore

    return SqliteStore(path or DEFAULT_DB, create=create)


def existing_store(path: str | Path | None = None) -> ResultStore:
    """Open a store that must already exist (for reading commands)."""
    from powertrain.errors import PowertrainError

    path = Path(path or DEFAULT_DB)
    if not path.is_file():
        raise PowertrainError(
            f"no results store at {path}; run a study first (powertrain run STUDY.yaml)"
        )
    return open_store(path, create=False)
