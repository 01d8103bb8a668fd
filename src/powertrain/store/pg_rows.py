"""Rows of the PostgreSQL store: a run in and out of the ``runs`` table, and the checks a run's
writes make (is the run still this attempt's?)."""

from __future__ import annotations

import json
import logging

from powertrain.records import RunOutcome, RunRecord
from powertrain.store.base import outcome_columns

log = logging.getLogger("powertrain.store.postgres")
SERVER_NOW = "extract(epoch from clock_timestamp())::float8"  # seconds, by the server's clock
RUN_COLUMNS = (
    "study, run_key, setup, train, seed, status, hardware, provenance, started_at, finished_at,"
    " outcome, verdict, stage, owner, heartbeat_at"
)


def insert_run(c, r: RunRecord, owner: str | None = None) -> int:
    (run_id,) = c.execute(
        f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
        f" %s, %s, CASE WHEN %s THEN {SERVER_NOW} END) RETURNING id",
        (
            r.study,
            r.run_key,
            json.dumps(r.setup),
            json.dumps(r.train),
            r.seed,
            r.status.value,
            json.dumps(r.hardware),
            json.dumps(r.provenance),
            r.started_at,
            r.finished_at,
            *outcome_columns(r.outcome),
            r.stage.value,
            owner,
            owner is not None,
        ),
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


def record_of(r) -> RunRecord:
    return RunRecord(
        id=r[0],
        study=r[1],
        run_key=r[2],
        setup=json.loads(r[3]),
        train=json.loads(r[4]),
        seed=r[5],
        status=r[6],
        hardware=json.loads(r[7]),
        provenance=json.loads(r[8]),
        started_at=r[9],
        finished_at=r[10],
        outcome=RunOutcome(**json.loads(r[11]), verdict=r[13]) if r[11] else None,
        stage=r[12],
    )
