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
- 5: ``verdict`` on runs (why a run ended, a ``records.Verdict``; the outcome JSON no longer holds
  it), filled in for the runs already there from their status and how their stop reason was worded
  (the one place that reads the prose: nothing else was recorded then); ``search_costs``: a live
  search's own cost per study, which was a ``search.json`` file in the study's artifacts folder
  beside the store (those files are read in).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from powertrain.records import Verdict

SCHEMA_VERSION = 5


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


SEARCH_COSTS_TABLE = """
CREATE TABLE IF NOT EXISTS search_costs (
    study TEXT PRIMARY KEY,
    cost TEXT NOT NULL,
    saved_at REAL NOT NULL
)"""
#: How the stop reasons of schema 4 were worded, first words -> the verdict (in this order).
_WORDED = (
    ("bound:", Verdict.SEARCH_BOUND),
    ("halving:", Verdict.RUNG_PAUSE),
    ("confirmation:", Verdict.CONFIRMATION),
    ("predicted to miss", Verdict.PREDICTED_MISS),
    ("max_epochs", Verdict.MAX_EPOCHS),
    ("max_time_s", Verdict.MAX_TIME),
    ("max_energy_j", Verdict.MAX_ENERGY),
)


def _verdict_of_v4(status: str, stop_reason: str) -> Verdict:
    """The verdict of a run stored before schema 5, from its status and its stop reason's words."""
    implied = Verdict.of_status(status)
    if implied is not Verdict.ENDED:
        return implied
    return next((v for words, v in _WORDED if stop_reason.startswith(words)), Verdict.ENDED)


def _v4_to_v5(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE runs ADD COLUMN verdict TEXT")
    rows = db.execute("SELECT id, status, outcome FROM runs WHERE outcome IS NOT NULL").fetchall()
    for run_id, status, outcome in rows:
        fields = json.loads(outcome)
        fields.pop("verdict", None)  # kept in its own column from now on
        verdict = _verdict_of_v4(status, fields.get("stop_reason") or "")
        db.execute(
            "UPDATE runs SET verdict = ?, outcome = ? WHERE id = ?",
            (verdict.value, json.dumps(fields), run_id),
        )
    db.execute(SEARCH_COSTS_TABLE)
    for ledger in _ledgers(db):
        try:
            cost = json.loads(ledger.read_text())
            row = (cost["study"], json.dumps(cost), ledger.stat().st_mtime)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a search's ledger: left where it is
        db.execute("INSERT OR IGNORE INTO search_costs VALUES (?, ?, ?)", row)


def _ledgers(db: sqlite3.Connection) -> list[Path]:
    """The ``search.json`` ledgers of schema 4, in the artifacts folder beside the store's file."""
    (_, _, file), *_ = db.execute("PRAGMA database_list").fetchall()
    if not file:  # an in-memory store
        return []
    return sorted((Path(file).parent / "artifacts").glob("*/search.json"))


#: A new file's schema (the latest version).
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study TEXT NOT NULL REFERENCES studies(name),
    run_key TEXT NOT NULL,
    setup TEXT NOT NULL,
    train TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    hardware TEXT NOT NULL,
    provenance TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT,
    stage TEXT NOT NULL DEFAULT 'train',
    owner TEXT,
    heartbeat_at REAL,
    verdict TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_study ON runs (study, run_key);
CREATE TABLE IF NOT EXISTS eval_points (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    point TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS inference (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    batch_size INTEGER NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (run_id, batch_size)
);
CREATE TABLE IF NOT EXISTS idle (
    host TEXT NOT NULL,
    measured_at REAL NOT NULL,
    measurement TEXT NOT NULL,
    PRIMARY KEY (host, measured_at)
);
CREATE TABLE IF NOT EXISTS timelines (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    timeline TEXT NOT NULL
);
"""
#: A distributed job's messages between its ranks (contract, 11): transient, so no schema version of
#: its own; every open creates the table where it is missing.
RANK_MESSAGES_TABLE = """
CREATE TABLE IF NOT EXISTS rank_messages (
    channel TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender INTEGER NOT NULL,
    body TEXT NOT NULL,
    posted_at REAL NOT NULL,
    PRIMARY KEY (channel, seq, sender)
)"""
SCHEMA += POWER_LIMITS_TABLE + ";\n" + SEARCH_COSTS_TABLE + ";\n" + RANK_MESSAGES_TABLE + ";\n"


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
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
