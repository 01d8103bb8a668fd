"""The SQLite results store (the default). One file; each write is its own transaction, so a process
killed at any moment leaves a consistent file. WAL mode lets ``powertrain ls`` read during a study."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.records import CENSORED, RUNNING, EvalPoint, RunOutcome, RunRecord
from powertrain.store import sqlite_open
from powertrain.store.base import ResultStore, begun_record, check_names
from powertrain.store.claims import REPLACED_AT_FINISH, Heartbeat, check_claimable
from powertrain.store.copies import attempts, plan_copy
from powertrain.store.location import store_artifacts_dir
from powertrain.store.migrations import SCHEMA, SCHEMA_VERSION, migrate
from powertrain.store.rows import (
    RECORD_COLUMNS,
    SELECT_RECORD,
    outcome_columns,
    points_from_rows,
    record_from_row,
    record_values,
    study_from_row,
)
from powertrain.store.sqlite_guard import (
    StoreLocked,
    file_identity,
    is_locked,
    locked_error,
    rescue,
    shared_warning,
)
from powertrain.store.sqlite_machines import SqliteMachineRows
from powertrain.store.sqlite_messages import SqliteRankMessages
from powertrain.store.sqlite_open import check_path, connect, probe_version, writable

log = logging.getLogger(__name__)
HEARTBEAT_WAIT_S = 0.5  # a beat's wait for another process's lock: a missed one costs nothing
OPEN_RETRY_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, None)  # waits between tries at opening the file


class SqliteStore(SqliteMachineRows, SqliteRankMessages, ResultStore):
    """Studies, claims and runs here; the rows of no run (``sqlite_machines``) and the ranks' messages
    (``sqlite_messages``) in the classes it takes them from; what may happen to the file while it is
    used (removed, shared by machines) in ``sqlite_guard``.

    ``create``: a missing or empty file becomes a new store (writing commands); otherwise the file
    must be a store already (reading commands, and ``merge``'s inputs). What the file is, is settled
    before anything is written to it (``sqlite_open``)."""

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()  # one transaction at a time on the one connection
        self._depth = 0  # transactions open on it: inside atomic(), writes join the outer one
        self._heartbeat = Heartbeat(self.heartbeat, self.lease_s / 3)
        self._db: sqlite3.Connection | None = None
        memory = str(path) == ":memory:"
        if not memory:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            check_path(self.path, create)
        self._create = create
        self.read_only = not memory and not create and not writable(self.path)
        self._identity: tuple[int, int] | None = None  # the file opened (sqlite_guard)
        # the path as the connection resolved it, at open: a process that changes its working
        # folder afterwards still writes that file (SQLite keeps the full name), and so it is watched
        self._watched = Path(os.path.abspath(self.path))
        self._lost: Exception | None = None  # set once the file is found removed
        self._warned_shared = False  # another machine's live claim seen (said once)
        self._wait_s = sqlite_open.BUSY_TIMEOUT_S  # how long a write waits for another's lock
        for wait_s in OPEN_RETRY_S:
            try:
                self._open(path)
                break
            except sqlite3.DatabaseError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)  # another process opening it
                if not locked:
                    self.close()
                    raise PowertrainError(
                        f"{path} is not a powertrain results store: {exc}"
                    ) from None
                if wait_s is None:
                    self.close()
                    raise PowertrainError(
                        f"{path} stayed locked by another process ({exc}); try again once it is done"
                    ) from None
                time.sleep(wait_s)
            except PowertrainError:
                self.close()
                raise
        if not memory and not self.read_only:
            self._identity = file_identity(self._watched)

    def _open(self, path) -> None:
        """Connect, check what the file is (writing nothing), then set up and migrate. SQLite answers
        "locked" at once, without waiting, to a second process switching a file it is creating to
        WAL: the caller tries again."""
        if self._db is not None:
            self._db.close()
        self._db = connect(path, self.read_only)  # the heartbeat thread writes too, under _lock
        version = probe_version(self._db, path, SCHEMA_VERSION, self._create)
        if self.read_only:
            if version < SCHEMA_VERSION:
                raise PowertrainError(
                    f"{path} is a store of schema version {version} in a place this user cannot "
                    f"write, so it cannot be brought up to version {SCHEMA_VERSION}; copy it "
                    "somewhere writable"
                )
            return
        self._db.execute("PRAGMA foreign_keys = ON")
        if str(path) != ":memory:" and self._db.execute("PRAGMA journal_mode").fetchone() != (
            "wal",
        ):
            self._db.execute("PRAGMA journal_mode = WAL")
        if version is None:  # a new store: its schema and version row in one transaction; OR
            self._db.executescript(  # IGNORE: another process may create the same file at once
                f"BEGIN IMMEDIATE;{SCHEMA}INSERT OR IGNORE INTO meta VALUES "
                f"('schema_version', '{SCHEMA_VERSION}');COMMIT;"
            )
            return
        migrate(self._db, version)
        self._db.executescript(SCHEMA)

    @property
    def artifacts_dir(self) -> Path:
        """The store's own folder beside its file: ``runs/artifacts`` for ``runs/powertrain.db``,
        ``runs/a.db-artifacts`` for ``runs/a.db`` (``location.store_artifacts_dir``)."""
        if str(self.path) == ":memory:":
            return super().artifacts_dir
        return store_artifacts_dir(self.path)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise PowertrainError("the results store is closed")
        return self._db

    def _transaction(self, *, watched: bool = True):
        return _Transaction(self, watched)

    def _check_still_there(self) -> None:
        """After a write: StoreRemoved, once the file opened is no longer at the path (its whole
        content then copied beside it, ``sqlite_guard``)."""
        if self._identity is None or file_identity(self._watched) == self._identity:
            return
        if self._lost is None:
            self._lost = rescue(self.db, self._watched)
        raise self._lost

    def atomic(self):
        """Every write in the block is one transaction: all of them land, or none (contract, 7)."""
        return _Transaction(self)

    def save_study(self, name: str, config: dict[str, Any]) -> None:
        check_names(name)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO studies VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET config = excluded.config",
                (name, json.dumps(config), time.time()),
            )

    def studies(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT name, config, created_at FROM studies ORDER BY created_at"
        ).fetchall()
        return [study_from_row(str(self.path), *row) for row in rows]

    def begin_run(self, spec, hardware, provenance) -> int:
        check_names(spec.study, spec.run_key)
        with self._transaction() as db:
            rows = db.execute(
                "SELECT status, owner, heartbeat_at, verdict FROM runs WHERE study = ? AND run_key = ?",
                (spec.study, spec.run_key),
            ).fetchall()
            warning = None if self._warned_shared else shared_warning(self.path, rows, self.lease_s)
            if warning:  # said once per store
                self._warned_shared = True
                log.warning("%s", warning)
            check_claimable(spec, rows, self.owner, self.lease_s)
            db.execute(  # cascades; a CENSORED attempt a take-on replaces goes at its finish
                "DELETE FROM runs WHERE study = ? AND run_key = ? AND status != ?",
                (spec.study, spec.run_key, CENSORED.value),
            )
            record = begun_record(spec, hardware, provenance)
            run_id = self._insert_run(db, record, str(self.owner))
        self._heartbeat.hold(run_id)
        return run_id

    def heartbeat(self, run_ids: list[int]) -> None:
        """Show that this process still trains ``run_ids`` (the claims' heartbeat). Not watched: a
        removed file is found by the run's own next write, which is kept in the copy."""
        try:  # a short wait: the store's lock is held meanwhile, and the run's own writes wait on it
            with self.waiting_at_most(HEARTBEAT_WAIT_S), self._transaction(watched=False) as db:
                db.executemany(
                    "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = ? AND owner = ?",
                    [(time.time(), i, RUNNING.value, str(self.owner)) for i in run_ids],
                )
        except StoreLocked:  # another process's long write: the next beat tries again
            log.debug("heartbeat skipped: %s is locked by another process", self.path)

    @staticmethod
    def _insert_run(db: sqlite3.Connection, r: RunRecord, owner: str | None = None) -> int:
        cursor = db.execute(
            f"INSERT INTO runs ({RECORD_COLUMNS}, owner, heartbeat_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*record_values(r), owner, time.time() if owner else None),
        )
        return int(cursor.lastrowid)

    def copy_run(self, record, points, timeline=None, inference=()) -> int | None:
        check_names(record.study, record.run_key)
        with self._transaction() as db:
            found = db.execute(
                "SELECT id, status, verdict, owner, heartbeat_at, started_at, hardware,"
                " (SELECT COUNT(*) FROM eval_points e WHERE e.run_id = runs.id) FROM runs"
                " WHERE study = ? AND run_key = ?",
                (record.study, record.run_key),
            ).fetchall()
            replaced = plan_copy(record, attempts(found, self.lease_s), len(points))
            if replaced is None:
                return None
            db.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in replaced])
            run_id = self._insert_run(db, record)
            db.executemany(
                "INSERT INTO eval_points VALUES (?, ?, ?)",
                [(run_id, p.index, json.dumps(asdict(p))) for p in points],
            )
            if timeline is not None:
                db.execute("INSERT INTO timelines VALUES (?, ?)", (run_id, json.dumps(timeline)))
            db.executemany(
                "INSERT INTO inference VALUES (?, ?, ?)",
                [(run_id, r["batch_size"], json.dumps(r)) for r in inference],
            )
            return run_id

    def add_eval_point(self, run_id: int, point: EvalPoint) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO eval_points VALUES (?, ?, ?)",
                (run_id, point.index, json.dumps(asdict(point))),
            )

    def finish_run(self, run_id: int, outcome: RunOutcome) -> None:
        self._heartbeat.release(run_id)
        with self._transaction() as db:
            finished = db.execute(
                "UPDATE runs SET status = ?, outcome = ?, verdict = ?, finished_at = ?"
                " WHERE id = ? AND status = ?",
                (
                    outcome.status.value,
                    *outcome_columns(outcome),
                    time.time(),
                    run_id,
                    RUNNING.value,
                ),
            ).rowcount
            if finished:  # the attempts its begin kept, that it replaces (contract, 2)
                marks = ", ".join("?" * len(REPLACED_AT_FINISH))
                db.execute(
                    "DELETE FROM runs WHERE id < ? AND status = ? AND verdict IN"
                    f" ({marks}) AND (study, run_key) = (SELECT study, run_key FROM runs"
                    " WHERE id = ?)",
                    (run_id, CENSORED.value, *REPLACED_AT_FINISH, run_id),
                )

    def save_timeline(self, run_id: int, timeline: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO timelines VALUES (?, ?)", (run_id, json.dumps(timeline))
            )

    def save_inference(self, run_id: int, results: list[dict[str, Any]]) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM inference WHERE run_id = ?", (run_id,))
            db.executemany(
                "INSERT INTO inference VALUES (?, ?, ?)",
                [(run_id, r["batch_size"], json.dumps(r)) for r in results],
            )

    def inference(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT result FROM inference WHERE run_id = ? ORDER BY batch_size", (run_id,)
        )
        return [json.loads(r) for (r,) in rows.fetchall()]

    def runs(self, study: str | None = None) -> list[RunRecord]:
        rows = (
            self.db.execute(SELECT_RECORD + " WHERE study = ? ORDER BY id", (study,))
            if study is not None
            else self.db.execute(SELECT_RECORD + " ORDER BY id")
        )
        return [record_from_row(r) for r in rows.fetchall()]

    def run(self, run_id: int) -> RunRecord | None:
        row = self.db.execute(SELECT_RECORD + " WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else record_from_row(row)

    def eval_points(self, run_id: int) -> list[EvalPoint]:
        rows = self.db.execute(
            "SELECT point FROM eval_points WHERE run_id = ? ORDER BY idx", (run_id,)
        )
        return points_from_rows(run_id, [p for (p,) in rows.fetchall()])

    def timeline(self, run_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT timeline FROM timelines WHERE run_id = ?", (run_id,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    @contextlib.contextmanager
    def waiting_at_most(self, wait_s: float):
        """Writes in the block wait at most ``wait_s`` for another process's lock, not
        ``BUSY_TIMEOUT_S``: a tracked run that found the store locked tries again at each evaluation
        without stalling its training for the whole wait each time (``store/pending.py``)."""
        with self._lock:
            self.db.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
            self._wait_s = wait_s
            try:
                yield
            finally:
                self._wait_s = sqlite_open.BUSY_TIMEOUT_S
                if self._db is not None:
                    self._db.execute(f"PRAGMA busy_timeout = {int(self._wait_s * 1000)}")

    def close(self) -> None:
        self._heartbeat.stop()
        if self._db is not None:
            self._db.close()
            self._db = None


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error: each write is all or nothing. Inside
    ``atomic()`` the writes join the one open transaction. The lock keeps this process's threads (the
    heartbeat) from interleaving their transactions. ``watched``: after the commit, check the file is
    still at its path (once found removed, every watched write is refused before it begins)."""

    def __init__(self, store: SqliteStore, watched: bool = True) -> None:
        self.store, self.watched = store, watched

    def __enter__(self) -> sqlite3.Connection:
        if self.watched and self.store._lost is not None:
            raise self.store._lost
        self.store._lock.acquire()
        try:
            if self.store._depth == 0:
                self.store.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self.store._lock.release()
            if is_locked(exc):
                raise locked_error(self.store.path, self.store._wait_s) from None
            raise
        except BaseException:
            self.store._lock.release()
            raise
        self.store._depth += 1
        return self.store.db

    def __exit__(self, exc_type, *rest) -> None:
        try:
            self.store._depth -= 1
            if self.store._depth == 0:
                self.store.db.execute("ROLLBACK" if exc_type else "COMMIT")
                if self.watched and not exc_type:
                    self.store._check_still_there()
        finally:
            self.store._lock.release()
