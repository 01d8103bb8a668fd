"""The PostgreSQL results store: one database that processes on many machines share (a SLURM array, a
few workstations), behind the same contract as the SQLite file (``store.base``).

- **Claims** are taken by the server's clock: a heartbeat is the server's ``now()``, and a claim judges
  another host's heartbeat against the server's ``now()`` too, so skewed clocks between nodes do not
  matter. A claim locks its (study, run key) row in ``claim_locks`` first (one upsert), so two processes
  claiming one run at once take turns: the second sees the first's claim and is refused.
- **A lost connection** is retried with growing waits (``pg_session``). Should the server stay away, a
  run's evaluation points and timeline are kept in this process and written with its outcome, in one
  transaction, once the server is back; if it is still away at the end the run fails clearly and its
  record stays unfinished, for the next process to run again. Never a half-written run. A run another
  process took over meanwhile (its lease ran out while this one could not beat its heartbeat) is left
  to it: this attempt is dropped, with a warning.

The schema and its migrations are in ``pg_schema``, the connection and its retries in ``pg_session``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from typing import Any

from powertrain.records import CENSORED, RUNNING, EvalPoint, RunOutcome, RunRecord
from powertrain.store.base import ResultStore, begun_record, check_names
from powertrain.store.claims import (
    REPLACED_AT_FINISH,
    Heartbeat,
    check_claimable,
    lease_from_env,
)
from powertrain.store.copies import attempts, plan_copy
from powertrain.store.pg_machines import PgMachineRows
from powertrain.store.pg_messages import PgRankMessages
from powertrain.store.pg_rows import (
    SERVER_NOW,
    gone_runs,
    insert_inference,
    insert_run,
    warn_taken_over,
)
from powertrain.store.pg_schema import set_up
from powertrain.store.pg_session import RETRY_S, PgSession, StoreUnreachable
from powertrain.store.rows import (
    SELECT_RECORD,
    outcome_columns,
    points_from_rows,
    record_from_row,
    study_from_row,
)

log = logging.getLogger(__name__)


class PostgresStore(PgMachineRows, PgRankMessages, ResultStore):
    """Studies, claims and runs here; the rows of no run (``pg_machines``) and the ranks' messages
    (``pg_messages``) in the classes it takes them from."""

    shared_by_hosts = True  # claims and messages by the server's clock

    def __init__(
        self, url: str, *, create: bool = True, retry_s: tuple[float, ...] = RETRY_S
    ) -> None:
        self.session = PgSession(url, retry_s)
        self.url = self.session.shown  # the password masked: what may be printed
        self.lease_s = lease_from_env(self.lease_s)
        self._pending: list[tuple[int, Any]] = []  # (run id, write) kept while the server is away
        s = self.session
        s.call(lambda conn: set_up(conn, s.psycopg.sql, s.schema, s.shown, create))
        self._heartbeat = Heartbeat(self.heartbeat, self.lease_s / 3)

    def __str__(self) -> str:
        return self.url

    def atomic(self):
        """Every write in the block is one transaction: all of them land, or none (contract, 7)."""
        return self.session.transaction()

    def _call(self, fn):
        """``fn(connection)``: one statement, its own transaction."""
        return self.session.call(fn, one_statement=True)

    def _transaction(self, fn):
        """``fn(connection)``: several statements, one transaction."""
        return self.session.call(fn)

    # -- studies ------------------------------------------------------------------------------------
    def save_study(self, name: str, config: dict[str, Any]) -> None:
        check_names(name)
        self._call(
            lambda c: c.execute(
                "INSERT INTO studies VALUES (%s, %s, %s) ON CONFLICT (name)"
                " DO UPDATE SET config = EXCLUDED.config",
                (name, json.dumps(config), time.time()),
            )
        )

    def studies(self) -> list[dict[str, Any]]:
        rows = self._call(
            lambda c: c.execute(
                "SELECT name, config, created_at FROM studies ORDER BY created_at, name"
            ).fetchall()
        )
        return [study_from_row(self.url, *row) for row in rows]

    # -- claims -------------------------------------------------------------------------------------
    def begin_run(self, spec, hardware, provenance) -> int:
        check_names(spec.study, spec.run_key)
        record = begun_record(spec, hardware, provenance)
        run_id = self._transaction(lambda c: self._claim(c, spec, record))
        self._heartbeat.hold(run_id)
        return run_id

    def _claim(self, c, spec, record: RunRecord) -> int:
        """The claim, in one transaction. A first look, locking nothing, refuses a run another live
        process holds or that finished (no write, so a crowd of processes passing over taken runs
        costs the server nothing). Then the run's row in claim_locks is locked (one upsert: a second
        claimer waits here until this transaction ends, then sees this claim), the earlier attempts
        are judged again by the server's clock, a dead one is removed with its points, and the new
        attempt is inserted."""
        self._check(c, spec)
        c.execute(
            "INSERT INTO claim_locks VALUES (%s, %s) ON CONFLICT (study, run_key)"
            " DO UPDATE SET study = EXCLUDED.study",
            (spec.study, spec.run_key),
        )
        self._check(c, spec)
        c.execute(  # a CENSORED attempt a take-on replaces goes at its finish (contract, 2)
            "DELETE FROM runs WHERE study = %s AND run_key = %s AND status <> %s",
            (spec.study, spec.run_key, CENSORED.value),
        )
        return insert_run(c, record, str(self.owner))

    def _check(self, c, spec) -> None:
        """RunClaimed (or ValueError for a finished run) unless ``spec`` may be begun now."""
        rows = c.execute(
            f"SELECT status, owner, heartbeat_at, verdict, {SERVER_NOW} FROM runs"
            " WHERE study = %s AND run_key = %s",
            (spec.study, spec.run_key),
        ).fetchall()
        if rows:
            now = rows[0][4]
            check_claimable(spec, [r[:4] for r in rows], self.owner, self.lease_s, now)

    def heartbeat(self, run_ids: list[int]) -> None:
        """Show that this process still trains ``run_ids``: the server's time, on each of them. One
        try: a lost beat is made up by the next (the lease is three beats long)."""
        try:
            self.session.call(
                lambda c: c.execute(
                    f"UPDATE runs SET heartbeat_at = {SERVER_NOW}"
                    " WHERE id = ANY(%s) AND status = %s AND owner = %s",
                    (run_ids, RUNNING.value, str(self.owner)),
                ),
                tries=(0.5,),
                one_statement=True,
            )
        except StoreUnreachable as exc:
            log.warning("could not beat the claims' heartbeat: %s", exc)

    # -- a run's writes -----------------------------------------------------------------------------
    def add_eval_point(self, run_id: int, point: EvalPoint) -> None:
        self._write(
            run_id,
            lambda c: c.execute(
                "INSERT INTO eval_points VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (run_id, point.index, json.dumps(asdict(point))),
            ),
        )

    def save_timeline(self, run_id: int, timeline: dict[str, Any]) -> None:
        self._write(
            run_id,
            lambda c: c.execute(
                "INSERT INTO timelines VALUES (%s, %s) ON CONFLICT (run_id)"
                " DO UPDATE SET timeline = EXCLUDED.timeline",
                (run_id, json.dumps(timeline)),
            ),
        )

    def _write(self, run_id: int, write) -> None:
        """A write of a running run: now, or (the server away) kept in order until it is back."""
        if self.session.depth:  # inside atomic(): part of the block, landing with it or not at all
            self._call(write)
            return
        if self._pending:
            self._pending.append((run_id, write))
            self._flush(tries=())  # one try: training goes on while the server is away
            return
        try:
            self._call(write)
        except self.session.psycopg.errors.ForeignKeyViolation:
            warn_taken_over({run_id})  # the run is gone: another process took it over
        except StoreUnreachable as exc:
            log.warning(
                "%s; run %d's points are kept here and written when it is back", exc, run_id
            )
            self._pending.append((run_id, write))

    def _flush(self, tries: tuple[float, ...] | None = None) -> None:
        """Write what was kept while the server was away (each run's writes, if the run is still
        this attempt's)."""

        def write_kept(c) -> None:
            gone = gone_runs(c, {run_id for run_id, _ in self._pending})
            for run_id, write in self._pending:
                if run_id not in gone:
                    write(c)
            warn_taken_over(gone)

        try:
            self.session.call(write_kept, tries=tries)
        except StoreUnreachable:
            return
        self._pending.clear()

    def finish_run(self, run_id: int, outcome: RunOutcome) -> None:
        self._heartbeat.release(run_id)
        kept = [write for i, write in self._pending if i == run_id]

        def finish(c) -> None:
            # the run's claim lock first, as a claim takes it: a claim that judged this attempt
            # dead either lands before (the run is gone: taken over) or sees it finished
            c.execute(
                "SELECT 1 FROM claim_locks WHERE (study, run_key) ="
                " (SELECT study, run_key FROM runs WHERE id = %s) FOR UPDATE",
                (run_id,),
            )
            if gone_runs(c, {run_id}):
                warn_taken_over({run_id})
                return
            for write in kept:
                write(c)
            finished = c.execute(
                "UPDATE runs SET status = %s, outcome = %s, verdict = %s, finished_at = %s"
                " WHERE id = %s AND status = %s",
                (
                    outcome.status.value,
                    *outcome_columns(outcome),
                    time.time(),
                    run_id,
                    RUNNING.value,
                ),
            ).rowcount
            if finished:  # the attempts its begin kept, that it replaces (contract, 2)
                c.execute(
                    "DELETE FROM runs WHERE id < %s AND status = %s AND verdict = ANY(%s)"
                    " AND (study, run_key) = (SELECT study, run_key FROM runs WHERE id = %s)",
                    (run_id, CENSORED.value, list(REPLACED_AT_FINISH), run_id),
                )

        try:
            self._transaction(finish)
        except StoreUnreachable as exc:
            raise StoreUnreachable(
                f"run {run_id} could not be recorded: {exc}. Nothing of it was written as finished:"
                " it stays unfinished there, and the next `powertrain run` runs it again"
            ) from None
        self._pending = [(i, w) for i, w in self._pending if i != run_id]

    def save_inference(self, run_id: int, results: list[dict[str, Any]]) -> None:
        def replace(c) -> None:
            c.execute("DELETE FROM inference WHERE run_id = %s", (run_id,))
            insert_inference(c, run_id, results)

        self._transaction(replace)

    def copy_run(self, record, points, timeline=None, inference=()) -> int | None:
        check_names(record.study, record.run_key)

        def copy(c) -> int | None:
            # the run's claim lock, as a claim takes it: a merge copying the same run at once waits
            # here for the other's transaction, then finds its copy
            c.execute(
                "INSERT INTO claim_locks VALUES (%s, %s) ON CONFLICT (study, run_key)"
                " DO UPDATE SET study = EXCLUDED.study",
                (record.study, record.run_key),
            )
            found = c.execute(
                "SELECT id, status, verdict, owner, heartbeat_at, started_at, hardware,"
                " (SELECT COUNT(*) FROM eval_points e WHERE e.run_id = runs.id),"
                f" {SERVER_NOW} FROM runs WHERE study = %s AND run_key = %s",
                (record.study, record.run_key),
            ).fetchall()
            now = found[0][-1] if found else None  # the server's clock, as claims judge it
            found = attempts([r[:-1] for r in found], self.lease_s, now)
            replaced = plan_copy(record, found, len(points))
            if replaced is None:
                return None
            c.execute("DELETE FROM runs WHERE id = ANY(%s)", (replaced,))
            run_id = insert_run(c, record)
            with c.cursor() as cur:
                cur.executemany(
                    "INSERT INTO eval_points VALUES (%s, %s, %s)",
                    [(run_id, p.index, json.dumps(asdict(p))) for p in points],
                )
            if timeline is not None:
                c.execute("INSERT INTO timelines VALUES (%s, %s)", (run_id, json.dumps(timeline)))
            insert_inference(c, run_id, inference)
            return run_id

        return self._transaction(copy)

    # -- reading ------------------------------------------------------------------------------------
    def runs(self, study: str | None = None) -> list[RunRecord]:
        if study is None:
            rows = self._call(lambda c: c.execute(SELECT_RECORD + " ORDER BY id").fetchall())
        else:
            rows = self._call(
                lambda c: c.execute(
                    SELECT_RECORD + " WHERE study = %s ORDER BY id", (study,)
                ).fetchall()
            )
        return [record_from_row(r) for r in rows]

    def run(self, run_id: int) -> RunRecord | None:
        row = self._call(
            lambda c: c.execute(SELECT_RECORD + " WHERE id = %s", (run_id,)).fetchone()
        )
        return None if row is None else record_from_row(row)

    def eval_points(self, run_id: int) -> list[EvalPoint]:
        rows = self._call(
            lambda c: c.execute(
                "SELECT point FROM eval_points WHERE run_id = %s ORDER BY idx", (run_id,)
            ).fetchall()
        )
        return points_from_rows(run_id, [p for (p,) in rows])

    def timeline(self, run_id: int) -> dict[str, Any] | None:
        row = self._call(
            lambda c: c.execute(
                "SELECT timeline FROM timelines WHERE run_id = %s", (run_id,)
            ).fetchone()
        )
        return json.loads(row[0]) if row else None

    def inference(self, run_id: int) -> list[dict[str, Any]]:
        rows = self._call(
            lambda c: c.execute(
                "SELECT result FROM inference WHERE run_id = %s ORDER BY batch_size", (run_id,)
            ).fetchall()
        )
        return [json.loads(r) for (r,) in rows]

    def close(self) -> None:
        self._heartbeat.stop()
        if self._pending:
            self._flush(tries=(0.5, 1.0, 2.0))
        if self._pending:
            log.warning(
                "the PostgreSQL store %s stayed unreachable: %d writes of unfinished runs were not "
                "kept (those runs stay unfinished there and run again next time)",
                self.url,
                len(self._pending),
            )
        self.session.close()
