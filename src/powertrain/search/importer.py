"""Import evaluation points recorded elsewhere (other tools, papers) as a study, so that reports,
comparisons, replay and prediction work on them.

One row per evaluation point; columns ``seed``, ``epoch`` or ``step``, ``energy_j`` (cumulative J since
the run's start), ``val_accuracy`` (0-1); optional ``elapsed_s``, ``machine`` (a hardware label reports
group by), ``method`` (how the energy was obtained; absent: the runs are marked imported and estimated,
never measured here); every other column is a setup axis, its values keeping their type (int, float,
bool or text, per column). The whole file is checked before anything is written; the runs are written
through the store contract into a scratch store, then merged into the target in one transaction.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.records import CENSORED, REACHED, EvalPoint, RunOutcome

REQUIRED = ("seed", "energy_j", "val_accuracy")
KNOWN = {"seed", "epoch", "step", "energy_j", "val_accuracy", "elapsed_s", "machine", "method"}
COMPONENT = "imported"


@dataclass(frozen=True)
class ImportedRun:
    setup: dict[str, Any]
    seed: int
    machine: str
    method: str | None
    points: list[EvalPoint]


def begin_run(store, study: str, run_key: str, setup, seed: int, hardware, provenance) -> int:
    """The one place that starts an imported run in the store."""
    from powertrain.study.plan import RunSpec

    spec = RunSpec(study, run_key, setup, {"imported": True}, seed)
    return store.begin_run(spec, hardware, provenance)


def read_csv(path: str | Path) -> list[ImportedRun]:
    """Every run in the file, checked whole: the first bad cell is one message naming row and column."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PowertrainError(f"cannot read {path}: {exc}") from None
    if not rows:
        raise PowertrainError(f"{path} has no rows; it needs a header and one row per evaluation")
    columns = list(rows[0])
    missing = [c for c in REQUIRED if c not in columns]
    if missing or not ({"epoch", "step"} & set(columns)):
        need = ", ".join(missing + ([] if {"epoch", "step"} & set(columns) else ["epoch or step"]))
        raise PowertrainError(f"{path}: missing column(s) {need}; found {', '.join(columns)}")
    axes = [c for c in columns if c not in KNOWN]
    types = {a: _column_type([r[a] for r in rows]) for a in axes}
    runs: dict[tuple, list[tuple[int, dict]]] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        parsed = _parse_row(path, line, row, axes, types)
        key = (repr(sorted(parsed["setup"].items())), parsed["seed"], parsed["machine"])
        runs.setdefault(key, []).append((line, parsed))
    return [_run(path, rows) for rows in runs.values()]


def _column_type(values: list[str]):
    for kind in (int, float):
        try:
            [kind(v) for v in values]
            return kind
        except ValueError:
            continue
    if {v.strip().lower() for v in values} <= {"true", "false"}:
        return bool
    return str


def _cast(value: str, kind):
    return value.strip().lower() == "true" if kind is bool else kind(value)


def _number(path, line, row, column, low=0.0, high=math.inf, kind=float, optional=False):
    raw = (row.get(column) or "").strip()
    if optional and raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        unit = {"energy_j": " (joules)", "elapsed_s": " (seconds)", "val_accuracy": " (0-1)"}
        raise PowertrainError(
            f"{path} row {line}, column {column}: {raw!r} is not a {kind.__name__} in "
            f"[{low:g}, {high:g}]{unit.get(column, '')}"
        )
    return value


def _parse_row(path, line, row, axes, types) -> dict[str, Any]:
    has_step = (row.get("step") or "").strip() != ""
    return {
        "seed": _number(path, line, row, "seed", -(2**31), 2**31, int),
        "step": _number(path, line, row, "step", 0, math.inf, int) if has_step else 0,
        "epoch": _number(path, line, row, "epoch", optional=True) or 0.0,
        "energy_j": _number(path, line, row, "energy_j"),
        "val_accuracy": _number(path, line, row, "val_accuracy", 0.0, 1.0),
        "elapsed_s": _number(path, line, row, "elapsed_s", optional=True) or 0.0,
        "machine": (row.get("machine") or "").strip() or "imported",
        "method": (row.get("method") or "").strip() or None,
        "setup": {a: _cast(row[a], types[a]) for a in axes},
    }


def _run(path, rows: list[tuple[int, dict]]) -> ImportedRun:
    rows = sorted(rows, key=lambda lr: (lr[1]["step"], lr[1]["epoch"], lr[1]["energy_j"]))
    points = []
    for i, (line, r) in enumerate(rows):
        if points and r["energy_j"] < points[-1].total_energy_j:
            raise PowertrainError(
                f"{path} row {line}, column energy_j: {r['energy_j']:g} J is less than the run's "
                f"previous point ({points[-1].total_energy_j:g} J); energy_j must be cumulative"
            )
        points.append(
            EvalPoint(
                i,
                r["step"],
                r["epoch"],
                0,
                None,
                r["val_accuracy"],
                r["elapsed_s"],
                {COMPONENT: r["energy_j"]},
            )
        )
    first = rows[0][1]
    return ImportedRun(first["setup"], first["seed"], first["machine"], first["method"], points)


def outcome(run: ImportedRun, target: float) -> RunOutcome:
    hit = next((p for p in run.points if p.val_accuracy >= target), None)
    last = run.points[-1]
    return RunOutcome(
        REACHED if hit else CENSORED,
        "target reached (imported)" if hit else "never reached the target in the imported points",
        last.total_energy_j,
        dict(last.energy_j),
        last.elapsed_s,
        last.step,
        last.val_accuracy,
        None,
        hit.total_energy_j if hit else None,
        hit.elapsed_s if hit else None,
        hit.step if hit else None,
    )


def write_runs(
    store, study: str, runs: list[ImportedRun], target: float, source: str, cost_axes=()
) -> None:
    """Write runs through the store contract (each begun, its points added, finished)."""
    config = {"name": study, "imported_from": source, "task": {"target_accuracy": target}}
    if cost_axes:
        config["search"] = {"cost_axes": list(cost_axes)}
    store.save_study(study, config)
    for run in runs:
        provenance = {
            COMPONENT: {
                "meter": "import",
                "method": run.method or "(method not stated)",
                "estimated": run.method is None or "estimat" in run.method.lower(),
                "details": {"imported_from": source},
            }
        }
        hardware = {"host": run.machine, "label": run.machine, "imported": True}
        key = (
            f"{' '.join(f'{k}={v}' for k, v in run.setup.items())} seed={run.seed} on {run.machine}"
        )
        run_id = begin_run(store, study, key, run.setup, run.seed, hardware, provenance)
        for point in run.points:
            store.add_eval_point(run_id, point)
        store.finish_run(run_id, outcome(run, target))


def import_csv(
    path: str | Path, study: str, target: float, db_path: str | Path, cost_axes=(), warn=None
) -> int:
    """Import ``path`` as ``study`` into the SQLite store at ``db_path``; all of it, or nothing.
    ``cost_axes``: setup axes that change the cost of a step, not the curve (kept in the study's
    ``search.cost_axes``; ``warn(line)`` hears where the data says otherwise). Returns the number of
    runs imported."""
    from powertrain.search.cost_axes import check_declared
    from powertrain.store.sqlite import SqliteStore

    if not (isinstance(target, float | int) and 0 < target <= 1):
        raise PowertrainError(f"--target must be an accuracy in (0, 1], got {target}")
    runs = read_csv(path)
    for line in check_declared(
        {(repr(sorted(r.setup.items())), r.seed): r for r in runs}, cost_axes, str(path)
    ):
        (warn or (lambda _: None))(line)
    if Path(db_path).is_file():
        with SqliteStore(db_path) as existing:
            if any(s["name"] == study for s in existing.studies()):
                raise PowertrainError(
                    f"the store already has a study named {study!r}; import under another --study"
                )
    with SqliteStore(db_path) as store, store.atomic():  # all runs, or none
        write_runs(store, study, runs, float(target), Path(path).name, cost_axes)
    return len(runs)
