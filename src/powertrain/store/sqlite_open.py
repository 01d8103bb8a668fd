"""Opening a SQLite file as a results store: what the file is is settled before anything is written.

A reading command must never change a file it then refuses, and must never adopt a file that is not a
powertrain store. So, in this order, and writing nothing until the last step:

1. the path: a missing or empty file is a new store only for a command that creates one; a file that
   does not start with SQLite's header is not a store; a file or folder that cannot be written is told
   apart from "not a store" (a reading command then reads it read-only, a writing one is refused);
2. the file's tables and schema version, read without writing: a SQLite file with tables but no
   powertrain ``meta`` row is another program's database; a version that is not a whole number, or
   newer than this powertrain's, is refused; a store without its core tables is damaged;
3. only then the journal mode (WAL), the migrations and the schema, a new file's in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from powertrain.errors import PowertrainError

SQLITE_HEADER = b"SQLite format 3\x00"
#: Tables every powertrain store has had since version 1.
CORE_TABLES = frozenset({"meta", "studies", "runs", "eval_points"})


def writable(path: Path) -> bool:
    """Whether ``path`` (a file, or the folder a new file goes in) and its folder can be written: SQLite
    writes its ``-wal`` and ``-shm`` files beside the store."""
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    return not path.exists() or os.access(path, os.W_OK)


def check_path(path: Path, create: bool) -> bool:
    """Settle what the path is before connecting; whether it is a new store. PowertrainError when it
    is not a store, or is one that cannot be made here."""
    if path.is_dir():
        raise PowertrainError(f"{path} is a folder, not a powertrain results store")
    exists = path.exists()
    if not exists and not create:
        raise PowertrainError(
            f"no results store at {path}; run a study first (powertrain run STUDY.yaml)"
        )
    if exists and not os.access(path, os.R_OK):
        raise PowertrainError(f"cannot read {path}: permission denied")
    empty = not exists or path.stat().st_size == 0
    if empty and not create:
        raise PowertrainError(f"{path} is an empty file, not a powertrain results store")
    if not empty:
        with path.open("rb") as file:
            if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise PowertrainError(
                    f"{path} is not a powertrain results store (not a SQLite database file)"
                )
    if create and not writable(path):
        where = "the file" if exists and os.access(path.parent, os.W_OK) else "its folder"
        if _read_only_mount(path.parent):
            where = "its file system"  # mounted read-only: no permission change helps
        raise PowertrainError(
            f"cannot write the results store {path}: {where} is read-only (SQLite writes its "
            "journal beside the file); choose another --db or make it writable"
        )
    return empty


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:  # the folder is not there (a new store's): not a read-only mount
        return False


#: How long a write waits for another process's transaction on the file before it gives up
#: ("database is locked": one line at the command line, ``inputs.file_system_error``).
BUSY_TIMEOUT_S = 30.0


def connect(path: Path | str, read_only: bool) -> sqlite3.Connection:
    """A connection; ``read_only`` opens the file immutable, for a store in a place this user cannot
    write (SQLite cannot open a WAL file read-only without writing its ``-shm`` file beside it)."""
    if read_only:
        uri = f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1"
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    return sqlite3.connect(
        str(path), isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False
    )


def probe_version(
    db: sqlite3.Connection, path: Path | str, newest: int, create: bool
) -> int | None:
    """The store's schema version, read without writing; None for a file with no tables yet (a new
    store, only where ``create``). PowertrainError for anything that is not a store this powertrain
    can open, before anything in it is changed."""
    tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        if create:
            return None
        raise PowertrainError(f"{path} is an empty SQLite database, not a powertrain results store")
    row = _version_row(db) if "meta" in tables else None
    if row is None:
        shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
        raise PowertrainError(
            f"{path} is a SQLite database of another program (tables: {shown}), not a powertrain "
            "results store; it was left as it was"
        )
    version = schema_version(row[0], path)
    if version > newest:
        raise PowertrainError(
            f"{path} has schema version {version}, from a newer powertrain; this one reads up to "
            f"version {newest} (and migrates older ones): use a newer powertrain. The file was "
            "left as it was"
        )
    missing = CORE_TABLES - tables
    if missing:
        raise PowertrainError(
            f"{path} is a damaged powertrain results store: it has no {', '.join(sorted(missing))} "
            "table; it was left as it was"
        )
    return version


def _version_row(db: sqlite3.Connection) -> tuple | None:
    try:
        return db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such column" in str(exc):  # a ``meta`` table of another shape: not ours
            return None
        raise


def schema_version(value: object, path: Path | str) -> int:
    """A stored schema version: a whole number of at least 1, as text or as an integer."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isascii() or not text.isdigit() or int(text) < 1:
        raise PowertrainError(
            f"{path} has schema version {value!r}, which no powertrain writes (versions are whole "
            "numbers from 1); a damaged or foreign file, left as it was"
        )
    return int(text)
