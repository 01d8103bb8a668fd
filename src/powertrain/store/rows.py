"""A run as a row of a relational store (SQLite, PostgreSQL): the same columns, JSON where a value is a
mapping, the verdict in a column of its own (contract, 9). One place, so the two stores never drift."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.records import EvalPoint, RunOutcome, RunRecord

#: A rank's message is a few figures; rank 0's last decision carries the outcome with a line per node
#: (about 500 bytes each): 16 MiB holds a job of many thousand nodes, and refuses a mistake.
MAX_MESSAGE_BYTES = 16 << 20
MESSAGE_INTS = 2**31  # seq and sender fit every backend's column (PostgreSQL's INTEGER)

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


def from_json(cls, text: str, where: str, **given: Any) -> Any:
    """``cls`` (a record's dataclass: an outcome, a point) from a JSON column of the run ``where``
    names; one PowertrainError where the text is damaged, or holds fields a newer powertrain wrote
    (a field added without a schema version: a traceback in every command that read it)."""
    what = {"RunOutcome": "outcome", "EvalPoint": "evaluation point"}.get(cls.__name__, "row")
    fields = _json_object(text)
    if fields is None:
        raise PowertrainError(
            f"{where}: its {what} is not a JSON object; the store is damaged (a copy taken "
            "before, or the store it was merged from, may hold it whole)"
        )
    extra = sorted(set(fields) - {f.name for f in dataclasses.fields(cls)})
    if extra:
        raise PowertrainError(
            f"{where}: its {what} has fields this powertrain does not know ({', '.join(extra)}): "
            "a newer powertrain wrote it; read the store with that version or a newer one (it was "
            "left as it was)"
        )
    try:
        return cls(**fields, **given)
    except (TypeError, ValueError) as exc:
        raise PowertrainError(
            f"{where}: its {what} is incomplete ({exc}); the store is damaged"
        ) from None


def study_from_row(store: str, name: str, config: str, created_at: Any) -> dict[str, Any]:
    """A row of ``studies`` (name, config, created_at) as ``ResultStore.studies`` gives it; a
    definition that is no JSON object is one PowertrainError naming the study and ``store`` (it
    was a traceback in every command that read it)."""
    fields = _json_object(config)
    if fields is None:
        raise PowertrainError(
            f"study {name!r} in {store}: its definition is not a JSON object; the store is damaged (a copy "
            "taken before, or the store it was merged from, may hold it whole)"
        )
    if (part := _damaged_part(fields)) is not None:
        raise PowertrainError(
            f"study {name!r} in {store}: its definition's {part}; the store is damaged (a copy "
            "taken before, or the store it was merged from, may hold it whole)"
        )
    return {"name": name, "config": fields, "created_at": created_at}


def points_from_rows(run_id: int, texts) -> list[EvalPoint]:
    """A run's evaluation points from their JSON column (``from_json``)."""
    return [from_json(EvalPoint, text, f"run {run_id}") for text in texts]


def record_from_row(r) -> RunRecord:
    """A row of ``SELECT_RECORD`` as the record."""
    where = f"run {r[0]} of study {r[1]!r}"
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
        outcome=from_json(RunOutcome, r[11], where, verdict=r[13]) if r[11] else None,
        stage=r[12],
    )


def message_text(channel: str, seq: int, sender: int, body: Any) -> str:
    """A rank's message as the text the stores keep (contract, 11), or one PowertrainError saying
    what is wrong with it: so every backend takes and refuses the same bodies."""
    where = f"the message for channel {channel!r}, exchange {seq}, sender {sender}"
    for name, n in (("seq", seq), ("sender", sender)):
        if isinstance(n, bool) or not isinstance(n, int) or not -MESSAGE_INTS <= n < MESSAGE_INTS:
            raise PowertrainError(f"{where}: {name} must be an integer below 2**31, got {n!r}")
    if not isinstance(channel, str) or not channel:
        raise PowertrainError(f"{where}: the channel must be a non-empty name")
    if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
        raise PowertrainError(f"{where}: the body must be a dict with text keys, got {body!r:.80}")
    try:
        text = json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PowertrainError(
            f"{where}: the body is not JSON ({exc}); send numbers (no NaN or inf), text, "
            "lists and dicts"
        ) from None
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise PowertrainError(
            f"{where}: the body is {len(text.encode()):,} bytes; a rank's message is at most "
            f"{MAX_MESSAGE_BYTES:,}"
        )
    return text


def message_body(channel: str, sender: int, text: str) -> dict[str, Any]:
    """A kept message read back; one that is not a JSON object (written by another program into the
    store's table) is one PowertrainError naming it."""
    try:
        body = json.loads(text)
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict):
        raise PowertrainError(
            f"the store's message on channel {channel!r} from sender {sender} is not a JSON "
            "object: another program writes in powertrain's rank_messages table"
        )
    return body


def _json_object(text: Any) -> dict[str, Any] | None:
    """``text`` read as a JSON object; None where it is damaged or holds anything else."""
    try:
        fields = json.loads(text)
    except (TypeError, ValueError):
        return None
    return fields if isinstance(fields, dict) else None


def _damaged_part(config: dict[str, Any]) -> str | None:
    """What in a stored study definition the commands that read it could not use (a ``task`` that is
    no mapping, a target that is no number, a ``search`` that is no mapping, cost axes that are no
    list of names), said as the part and what it holds; None where each is as powertrain writes it."""
    task, search = config.get("task"), config.get("search")
    parts = {
        "task": (task, dict),
        "search": (search, dict),
        "targets": (config.get("targets"), dict),
    }
    if isinstance(task, dict):
        parts["task.target_accuracy"] = (task.get("target_accuracy"), float)
        parts["task.targets"] = (task.get("targets"), dict)
    if isinstance(search, dict):
        parts["search.cost_axes"] = (search.get("cost_axes"), list)
    for part, (value, kind) in parts.items():
        if value is None:
            continue
        if kind is float:
            usable = _number(value)
        elif kind is list:
            usable = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            usable = isinstance(value, dict)
        if usable and part.endswith("targets"):
            usable = all(_number(v) for v in value.values())
        if not usable:
            return f"{part} holds {json.dumps(value)[:60]}"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
