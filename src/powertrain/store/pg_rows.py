"""Rows of the PostgreSQL store: a run in and out of the ``runs`` table, and the checks a run's
writes make (is the run still this attempt's?)."""

from __future__ import annotations

import json
import logging

from powertrain.records import RunRecord
from powertrain.store.rows import RECORD_COLUMNS, record_values

log = logging.getLogger("powertrain.store.postgres")
SERVER_NOW = "extract(epoch from clock_timestamp())::float8"  # seconds, by the server's clock


def insert_run(c, r: RunRecord, owner: str | None = None) -> int:
    """Insert ``r``, held by ``owner`` (its heartbeat the server's time now) or by no one."""
    (run_id,) = c.execute(
        f"INSERT INTO runs ({RECORD_COLUMNS}, owner, heartbeat_at) VALUES (%s, %s, %s, %s, %s, %s,"
        f" %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN {SERVER_NOW} END) RETURNING id",
        (*record_values(r), owner, owner is not None),
    ).fetchone()
    return int(run_id)


def insert_inference(c, run_id: int, results) -> None:
    with c.cursor() as cur:
        cur.executemany(
            "INSERT INTO inference VALUES (%s, %s, %s)",
            [(run_id, r["batch_size"], json.dumps(r)) for r in results],
        )


def gone_runs(c, run_ids: set[int]) -> set[int]:
    """Which of ``run_ids`` are no longer in the store (another process took the run over)."""
    rows = c.execute("SELECT id FROM runs WHERE id = ANY(%s)", (sorted(run_ids),)).fetchall()
    return run_ids - {r[0] for r in rows}


def warn_taken_over(run_ids: set[int]) -> None:
    for run_id in sorted(run_ids):
        log.warning(
            "run %d was taken over by another process while this one could not reach the store "
            "(its lease ran out); this attempt is dropped and recorded once, by the other",
            run_id,
        )
