"""A run as a row of a relational store (SQLite, PostgreSQL): the same columns, JSON where a value is a
mapping, the verdict in a column of its own (contract, 9). One place, so the two stores never drift."""

from __future__ import annotations

import json
from typing import Any

from powertrain.records import RunOutcome, RunRecord

#: The columns ``record_values`` fills, in order (the claim's owner and heartbeat come after them).
RECORD_COLUMNS = (
    "study, run_key, setup, train, seed, status, hardware, provenance, started_at, finished_at,"
    " stage, outcome, verdict"
)
#: What ``record_from_row`` reads, in order.
SELECT_RECORD = (
    "SELECT id, study, run_key, setup, train, seed, status, hardware, provenance, started_at,"
    " finished_at, outcome, stage, verdict FROM runs"
)


def outcome_columns(outcome: RunOutcome | None) -> tuple[str | None, str | None]:
    """An outcome as the ``outcome`` (JSON) and ``verdict`` columns: the verdict in its own."""
    if outcome is None:
        return None, None
    fields = outcome.to_dict()
    return json.dumps({k: v for k, v in fields.items() if k != "verdict"}), fields["verdict"]


def record_values(r: RunRecord) -> tuple[Any, ...]:
    """The values of ``RECORD_COLUMNS`` for ``r``."""
    return (
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
        r.stage.value,
        *outcome_columns(r.outcome),
    )


def record_from_row(r) -> RunRecord:
    """A row of ``SELECT_RECORD`` as the record."""
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
