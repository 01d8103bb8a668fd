"""The SQLite store's schema versions, and the migrations that bring an older file up to date on open.

Each migration is a function from version N to N + 1, run inside one transaction with the version bump,
so a file is either migrated or left as it was.

- 1: the first schema (the ``stage`` column was added later by an ad-hoc ALTER TABLE, so a version-1
  file may lack it).
- 2: ``stage`` always there; the pretraining stage no longer carries a magic ``"stage"`` key in its
  setup; the columns nothing read (``energy_to_target_j``, ``total_energy_j``: the outcome holds them)
  dropped.
- 3: claims: ``owner`` (host:pid:start time) and ``heartbeat_at`` on runs, so that several processes
  can work one study (see ``store/claims.py``).
- 4: ``power_limits``: the journal of GPU power limits changed by a run and not yet put back (see
  ``powertrain/power_limit.py``), so the next start restores what a killed run left.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 4


def _v1_to_v2(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    if "stage" not in columns:
        db.execute("ALTER TABLE runs ADD COLUMN stage TEXT NOT NULL DEFAULT 'train'")
    db.execute("UPDATE runs SET setup = json_remove(setup, '$.stage') WHERE stage = 'pretrain'")
    for unread in ("energy_to_target_j", "total_energy_j"):
        if unread in columns:
            db.execute(f"ALTER TABLE runs DROP COLUMN {unread}")


def _v2_to_v3(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN heartbeat_at REAL")


POWER_LIMITS_TABLE = """
CREATE TABLE IF NOT EXISTS power_limits (
    gpu_uuid TEXT PRIMARY KEY,
    previous_w REAL NOT NULL,
    noted_at REAL NOT NULL
)"""


def _v3_to_v4(db: sqlite3.Connection) -> None:
    db.execute(POWER_LIMITS_TABLE)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}


def migrate(db: sqlite3.Connection, version: int) -> int:
    """Bring a file at ``version`` up to SCHEMA_VERSION, one version a transaction; the new version."""
    while version < SCHEMA_VERSION:
        db.execute("BEGIN IMMEDIATE")
        try:  # another process may have migrated the file while this one waited for the lock
            (current,) = db.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            if int(current) > version:
                version = int(current)
                db.execute("COMMIT")
                continue
            MIGRATIONS[version](db)
            version += 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return version
