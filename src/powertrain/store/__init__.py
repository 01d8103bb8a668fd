"""The results store: a written contract (``base.ResultStore``) and its backends, opened from one string
(``store.location``): a path is a SQLite file (the default, ``runs/powertrain.db``, nothing to install
or start), ``postgresql://user@host:port/dbname`` a PostgreSQL database that many machines share."""

from __future__ import annotations

from pathlib import Path

from powertrain.store.base import ResultStore
from powertrain.store.location import DEFAULT_DB, default_db, locate  # noqa: F401 - re-exported


def open_store(db: str | Path | None = None, create: bool = True) -> ResultStore:
    """The store ``db`` names (``POWERTRAIN_DB``, else ``runs/powertrain.db``, by default): a SQLite
    file for a path, a PostgreSQL database for a ``postgresql://`` URL; created when missing unless
    ``create`` is false (then it must be a store already, and nothing is written to a file refused)."""
    where = locate(db)
    if where.is_postgres:
        from powertrain.store.postgres import PostgresStore

        return PostgresStore(where.url, create=create)
    from powertrain.store.sqlite import SqliteStore

    return SqliteStore(where.path, create=create)


def existing_store(db: str | Path | None = None) -> ResultStore:
    """Open a store that must already exist (for reading commands)."""
    from powertrain.errors import PowertrainError

    where = locate(db)
    if where.is_postgres:
        from powertrain.store.postgres import PostgresStore

        return PostgresStore(where.url, create=False)
    if not where.path.is_file():
        raise PowertrainError(
            f"no results store at {where.path}; run a study first (powertrain run STUDY.yaml)"
        )
    return open_store(where.path, create=False)
