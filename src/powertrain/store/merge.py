"""Combine results stores from several machines into one. A run is the same run when its study, run key,
host and start time agree, so merging the same store twice adds nothing."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from powertrain.errors import PowertrainError
from powertrain.store.sqlite import SqliteStore


@dataclass
class MergeResult:
    studies: int = 0
    runs: int = 0
    skipped: int = 0


def merge_stores(sources: list[str | Path], target: str | Path) -> MergeResult:
    for source in sources:
        if not Path(source).is_file():
            raise PowertrainError(f"no results store at {source}")
        if Path(source).resolve() == Path(target).resolve():
            raise PowertrainError(f"{source} is the output store itself; name another output (-o)")
    result = MergeResult()
    with SqliteStore(target) as out:
        db = out.db
        for source in sources:
            SqliteStore(
                source
            ).close()  # checks that it is a store, and brings its schema up to date
            db.execute("ATTACH DATABASE ? AS src", (str(source),))
            try:
                db.execute("BEGIN IMMEDIATE")
                _merge_one(db, result)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                db.execute("DETACH DATABASE src")
    return result


def _merge_one(db: sqlite3.Connection, result: MergeResult) -> None:
    before = db.execute("SELECT COUNT(*) FROM studies").fetchone()[0]
    db.execute("INSERT OR IGNORE INTO studies SELECT name, config, created_at FROM src.studies")
    result.studies += db.execute("SELECT COUNT(*) FROM studies").fetchone()[0] - before
    db.execute("INSERT OR IGNORE INTO idle SELECT host, measured_at, measurement FROM src.idle")
    columns = (
        "study, run_key, setup, train, seed, status, hardware, provenance, started_at, finished_at, "
        "outcome, energy_to_target_j, total_energy_j, stage"
    )
    for src_id, study, run_key, hardware, started_at in db.execute(
        "SELECT id, study, run_key, hardware, started_at FROM src.runs ORDER BY id"
    ).fetchall():
        same = db.execute(
            "SELECT 1 FROM runs WHERE study = ? AND run_key = ? AND started_at = ? AND hardware = ?",
            (study, run_key, started_at, hardware),
        ).fetchone()
        if same:
            result.skipped += 1
            continue
        new_id = db.execute(
            f"INSERT INTO runs ({columns}) SELECT {columns} FROM src.runs WHERE id = ?", (src_id,)
        ).lastrowid
        db.execute(
            "INSERT INTO eval_points SELECT ?, idx, point FROM src.eval_points WHERE run_id = ?",
            (new_id, src_id),
        )
        db.execute(
            "INSERT INTO timelines SELECT ?, timeline FROM src.timelines WHERE run_id = ?",
            (new_id, src_id),
        )
        db.execute(
            "INSERT INTO inference SELECT ?, batch_size, result FROM src.inference WHERE run_id = ?",
            (new_id, src_id),
        )
        result.runs += 1
