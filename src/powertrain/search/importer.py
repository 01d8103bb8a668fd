"""Import evaluation points recorded elsewhere (other tools, papers) as a study, so that reports,
comparisons, simulation and prediction work on them.

One row per evaluation point; columns ``seed``, ``epoch`` or ``step``, ``energy_j`` (cumulative J since
the run's start), ``val_accuracy`` (0-1); optional ``elapsed_s``, ``machine`` (a hardware label reports
group by), ``method`` (how the energy was obtained; absent: the runs are marked imported and estimated,
never measured here); every other column is a setup axis, its values keeping their type (int, float,
bool or text, per column). The whole file is checked before anything is written; the runs are written
through the store contract into a scratch store, then merged into the target in one transaction.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powertrain.errors import PowertrainError
from powertrain.records import CENSORED, REACHED, EvalPoint, RunOutcome, RunRecord

REQUIRED = ("seed", "energy_j", "val_accuracy")
KNOWN = {"seed", "epoch", "step", "energy_j", "val_accuracy", "elapsed_s", "machine", "method"}
COMPONENT = "imported"
#: Beyond any training run (about 280 GWh), and far from where sums of floats overflow.
MAX_ENERGY_J = 1e15
MAX_ELAPSED_S = 1e9  # about 32 years
#: Names every run has of its own (its record, outcome and points): a setup axis may not take them.
RESERVED = (
    KNOWN
    | {f.name for cls in (RunRecord, RunOutcome, EvalPoint) for f in dataclasses.fields(cls)}
    | {"run_id", "stop_reason", "energy_method", "estimated", "faults", "index"}
)


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
    from powertrain.inputs import read_csv_table

    columns, rows = read_csv_table(path, "import file", REQUIRED)
    if not rows:
        raise PowertrainError(f"{path} has no rows; it needs a header and one row per evaluation")
    if not {"epoch", "step"} & set(columns):
        raise PowertrainError(
            f"{path}: missing column(s) epoch or step; found {', '.join(columns)}"
        )
    axes = [c for c in columns if c not in KNOWN]
    for axis in axes:
        if axis in RESERVED:
            raise PowertrainError(
                f"{path}: column {axis!r} would be a setup axis, but every run has a field named "
                f"{axis} (its own); rename the column (e.g. setup_{axis})"
            )
    types = {a: _column_type(path, a, rows) for a in axes}
    runs: dict[tuple, list[tuple[int, dict]]] = {}
    for line, row in rows:
        parsed = _parse_row(path, line, row, axes, types)
        key = (repr(sorted(parsed["setup"].items())), parsed["seed"], parsed["machine"])
        runs.setdefault(key, []).append((line, parsed))
    return [_run(path, rows) for rows in runs.values()]


def _column_type(path, axis: str, rows: list[tuple[int, dict]]):
    """The type of a setup column's values; a column of numbers with a blank, NaN or inf cell is
    refused naming the row (read as text, or as a setup of NaN, it would group no run with another)."""
    values = [(line, r[axis]) for line, r in rows]
    for kind in (int, float):
        try:
            numbers = [(line, v, kind(v)) for line, v in values if v.strip()]
        except ValueError:
            continue
        odd = [(line, v) for line, v, n in numbers if not math.isfinite(n)]
        odd += [(line, v) for line, v in values if not v.strip()]
        if numbers and odd:
            line, v = min(odd)
            raise PowertrainError(
                f"{path} row {line}, column {axis}: {v!r} in a column of numbers; every setup "
                "cell needs a finite value (no blank, NaN or inf)"
            )
        if numbers:
            return kind
    if {v.strip().lower() for _, v in values} <= {"true", "false"}:
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
        unit = {
            "energy_j": " (joules)",
            "elapsed_s": " (seconds)",
            "val_accuracy": " (0-1: a percentage divided by 100)",
        }
        if kind is int:
            what = f"a whole number from {low:,} to {high:,}"
        else:
            what = f"a number from {low:g} to {high:g}"
        raise PowertrainError(
            f"{path} row {line}, column {column}: {raw!r} is not {what}{unit.get(column, '')}"
        )
    return value


def _parse_row(path, line, row, axes, types) -> dict[str, Any]:
    parsed = _fields(path, line, row, axes, types)
    if parsed["energy_j"] == 0 and (parsed["step"] > 0 or parsed["epoch"] > 0):
        where = f"step {parsed['step']}" if parsed["step"] else f"epoch {parsed['epoch']:g}"
        raise PowertrainError(
            f"{path} row {line}, column energy_j: 0 J at {where}; energy_j is cumulative since the "
            "run's start, and training to there used energy (0 J fits only a point before training)"
        )
    return parsed


def _fields(path, line, row, axes, types) -> dict[str, Any]:
    has_step = (row.get("step") or "").strip() != ""
    return {
        "seed": _number(path, line, row, "seed", -(2**31), 2**31, int),
        "step": _number(path, line, row, "step", 0, 2**62, int) if has_step else 0,
        "epoch": _number(path, line, row, "epoch", 0, 1e9, optional=True) or 0.0,
        "energy_j": _number(path, line, row, "energy_j", 0, MAX_ENERGY_J),
        "val_accuracy": _number(path, line, row, "val_accuracy", 0.0, 1.0),
        "elapsed_s": _number(path, line, row, "elapsed_s", 0, MAX_ELAPSED_S, optional=True) or 0.0,
        "machine": (row.get("machine") or "").strip() or "imported",
        "method": (row.get("method") or "").strip() or None,
        "setup": {a: _cast(row[a], types[a]) for a in axes},
    }


def _run(path, rows: list[tuple[int, dict]]) -> ImportedRun:
    rows = sorted(rows, key=lambda lr: (lr[1]["step"], lr[1]["epoch"], lr[1]["energy_j"]))
    points: list[EvalPoint] = []
    for (line, r), before in zip(rows, [None, *rows[:-1]], strict=True):
        if before is not None and (r["step"], r["epoch"]) == (
            before[1]["step"],
            before[1]["epoch"],
        ):
            _same_point(path, before, (line, r))
            continue  # the same evaluation written twice: one point
        if points and r["energy_j"] < points[-1].total_energy_j:
            raise PowertrainError(
                f"{path} row {line}, column energy_j: {r['energy_j']:g} J is less than the run's "
                f"previous point ({points[-1].total_energy_j:g} J); energy_j must be cumulative"
            )
        points.append(
            EvalPoint(
                len(points),
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
    other = next(((line, r) for line, r in rows if r["method"] != first["method"]), None)
    if other is not None:  # the run's one label would call part of its energy what it is not
        raise PowertrainError(
            f"{path} rows {rows[0][0]} and {other[0]}: one run (seed {first['seed']}) with "
            f"method {first['method'] or '(blank)'} and {other[1]['method'] or '(blank)'}; a "
            "run's energy is obtained one way: give its rows one method"
        )
    return ImportedRun(first["setup"], first["seed"], first["machine"], first["method"], points)


def _same_point(path, a: tuple[int, dict], b: tuple[int, dict]) -> None:
    """Two rows of one run at the same step and epoch: the same evaluation, or a contradiction."""
    fields = ("energy_j", "val_accuracy", "elapsed_s", "method")
    differ = [f for f in fields if a[1][f] != b[1][f]]
    if differ:
        where = f"step {b[1]['step']}" if b[1]["step"] else f"epoch {b[1]['epoch']:g}"
        raise PowertrainError(
            f"{path} rows {min(a[0], b[0])} and {max(a[0], b[0])}: the same run (seed "
            f"{b[1]['seed']}) at the same {where} with different {', '.join(differ)}; which one "
            "is right cannot be told, so nothing was imported"
        )


def _reached_before_training(runs: list[ImportedRun], target: float, path) -> None:
    """A run at the target with 0 J reached it before training: the target compares nothing (and
    an energy-to-target of 0 J is no figure a search can rank on)."""
    for run in runs:
        hit = next((p for p in run.points if p.val_accuracy >= target), None)
        if hit is not None and hit.total_energy_j == 0:
            raise PowertrainError(
                f"{path}: the run of seed {run.seed} ({_setup_words(run.setup) or 'no setup'}) "
                f"is at --target {target:g} with 0 J, before any training; choose a target above "
                "what the untrained model scores"
            )


def falls(curves: list[list[float]], target: float) -> int | None:
    """How many of ``curves`` (each run's ``val_accuracy`` in order) fall, when the metric reads as
    one where lower is better: most runs end below where they started, and most start at or above
    ``target`` (read as an accuracy, it would be met before training). None otherwise: an accuracy
    whose runs mostly diverge (rising, then collapsing below their start) still starts below its
    target."""
    down = sum(c[-1] < c[0] for c in curves if len(c) > 1)
    above = sum(c[0] >= target for c in curves if c)
    return down if down > len(curves) / 2 and above > len(curves) / 2 else None


def falling(runs: list[ImportedRun], target: float, path) -> list[str]:
    """A line when ``val_accuracy`` reads as a loss or an error rate (``falls``), which the import
    would read as an accuracy (higher is better), every target and ranking then upside down."""
    down = falls([[p.val_accuracy for p in r.points] for r in runs], target)
    if down is None:
        return []
    return [
        f"{path}: val_accuracy falls in {down} of {len(runs)} runs and starts above --target "
        f"{target:g} in most; it is read as an accuracy "
        "(higher is better), or its targets and rankings are upside down: an error rate imports "
        "as 1 - value (1 - value / 100 in percent); a loss, which has no such bound, is no "
        "accuracy: import the accuracy the runs recorded"
    ]


def _named_once(cost_axes) -> tuple[str, ...]:
    """The declared cost axes, each named once, by the study file's rule (``cost_axis_names``):
    ``--cost-axis lr --cost-axis lr`` is refused, as ``search.cost_axes: [lr, lr]`` is."""
    from powertrain.study.search_config import cost_axis_names

    names = cost_axes.split(",") if isinstance(cost_axes, str) else [str(a) for a in cost_axes]
    if any(not a.strip() for a in names):
        raise PowertrainError("--cost-axis needs a setup column's name, got an empty one")
    return tuple(cost_axis_names(names, "--cost-axis"))


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
        key = f"{_setup_words(run.setup)} seed={run.seed} on {run.machine}"
        run_id = begin_run(store, study, key, run.setup, run.seed, hardware, provenance)
        for point in run.points:
            store.add_eval_point(run_id, point)
        store.finish_run(run_id, outcome(run, target))


def _setup_words(setup: dict[str, Any]) -> str:
    """A setup as the words of its run key: text quoted (``opt='a b=1'``), so that no two setups of
    one file read alike (unquoted, a='1 b=2', b='x' and a='1', b='2 b=x' did, and the second run
    replaced the first)."""
    return " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in setup.items())


def import_csv(
    path: str | Path,
    study: str,
    target: float,
    db_path: str | Path | None,
    cost_axes=(),
    warn=None,
) -> int:
    """Import ``path`` as ``study`` into the store ``db_path`` names (a file or a postgresql:// URL;
    the default store when None); all of it, or nothing. ``cost_axes``: setup axes that change the
    cost of a step, not the curve (kept in the study's ``search.cost_axes``; ``warn(line)`` hears
    where the data says otherwise, and of a column not declared that behaves as one). Returns the
    number of runs imported."""
    from powertrain.inputs import name_problem
    from powertrain.search.cost_axes import check_declared, undeclared
    from powertrain.store import open_store

    if not str(study).strip():  # as a study file's name: never empty
        raise PowertrainError("--study needs a name for the imported study, got an empty one")
    if (problem := name_problem(str(study))) is not None:  # nor what a study file may not be named
        raise PowertrainError(f"--study: the name {problem}")
    if not (isinstance(target, float | int) and 0 < target <= 1):
        raise PowertrainError(f"--target must be an accuracy in (0, 1], got {target}")
    cost_axes = _named_once(cost_axes)
    runs = read_csv(path)
    say = warn or (lambda _: None)
    for line in falling(runs, float(target), path):  # first: it may be why the target is refused
        say(line)
    _reached_before_training(runs, float(target), path)
    keyed = {(repr(sorted(r.setup.items())), r.seed): r for r in runs}
    for line in [*check_declared(keyed, cost_axes, str(path)), *undeclared(keyed, cost_axes, path)]:
        say(line)
    with open_store(db_path) as store:
        if any(s["name"] == study for s in store.studies()):
            raise PowertrainError(
                f"the store already has a study named {study!r}; import under another --study"
            )
        with store.atomic():  # all runs, or none
            write_runs(store, study, runs, float(target), Path(path).name, cost_axes)
    return len(runs)
