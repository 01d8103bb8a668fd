"""The report's files for other tools: summary.json (the analysis, serialised), summary.csv (one row
per setup), runs.csv (one row per run) and points.csv (one row per evaluation point). The CSV files are
tidy: one column per hyperparameter, so ``pandas.read_csv`` gives learning curves directly."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from powertrain.analysis.analyse import Analysis
from powertrain.analysis.context import RunInfo


def write_json(analysis: Analysis, path: Path) -> None:
    path.write_text(analysis.to_json(), encoding="utf-8")


SUMMARY_COLUMNS = [
    "study",
    "hardware",
    "energy_method",
    "estimated",
    "setup",
    "seeds",
    "reached",
    "verdict",
    "energy_to_target_j_mean",
    "energy_to_target_j_low",
    "energy_to_target_j_high",
    "energy_to_target_j_interval",
    "energy_to_target_at_least_j",
    "waste_ratio",
    "waste_ratio_at_least",
    "differs_significantly_from_best",
    "time_to_target_s_mean",
    "test_accuracy_mean",
    "total_energy_j_mean",
    "on_pareto_front",
]


def _blank(value: Any) -> Any:
    return "" if value is None else value


#: A cell a spreadsheet would run as a formula starts with one of these (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value safe in a spreadsheet: text that would start a formula (a study, setup or hardware name
    like ``=HYPERLINK(...)``) gets a leading apostrophe, which spreadsheets show as plain text. Numbers
    are written as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeWriter(csv.DictWriter):
    """``csv.DictWriter`` whose header and text cells pass through ``cell``."""

    def writeheader(self) -> Any:
        return self.writer.writerow([cell(name) for name in self.fieldnames])

    def writerow(self, rowdict) -> Any:
        return super().writerow({k: cell(v) for k, v in rowdict.items()})


def write_summary_csv(analysis: Analysis, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = _SafeWriter(f, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        for g in analysis.groups:
            for s in g.setups:
                e = s.energy_to_target_j
                row = {
                    "study": g.study,
                    "hardware": g.hardware,
                    "energy_method": g.energy_method,
                    "estimated": g.estimated,
                    "setup": s.label,
                    "seeds": s.seeds,
                    "reached": s.reached,
                    "verdict": s.verdict,
                    "energy_to_target_j_mean": e.mean if e else "",
                    "energy_to_target_j_low": e.low if e else "",
                    "energy_to_target_j_high": e.high if e else "",
                    "energy_to_target_j_interval": (e.method + (", wide" if e.wide else ""))
                    if e
                    else "",
                    "energy_to_target_at_least_j": _blank(s.energy_to_target_at_least_j),
                    "waste_ratio": _blank(s.waste_ratio),
                    "waste_ratio_at_least": _blank(s.waste_ratio_at_least),
                    "differs_significantly_from_best": _blank(s.differs_significantly_from_best),
                    "time_to_target_s_mean": s.time_to_target_s.mean if s.time_to_target_s else "",
                    "test_accuracy_mean": s.test_accuracy.mean if s.test_accuracy else "",
                    "total_energy_j_mean": s.total_energy_j.mean,
                    "on_pareto_front": s.on_pareto_front,
                }
                writer.writerow(row)


RUN_COLUMNS = ["run_id", "study", "hardware", "stage", "seed", "status", "verdict", "stop_reason"]
RUN_TAIL = [
    "total_energy_j",
    "energy_to_target_j",
    "time_to_target_s",
    "duration_s",
    "steps",
    "final_val_accuracy",
    "test_accuracy",
    "estimated",
    "energy_method",
    "faults",
]
POINT_COLUMNS = ["run_id", "study", "hardware", "seed", "status", "index", "step", "epoch"]
POINT_TAIL = ["samples_seen", "train_loss", "val_accuracy", "elapsed_s", "total_energy_j"]
#: What every point's joules are (its run's): a point read alone never passes for a measurement.
POINT_LABELS = ["estimated", "energy_method"]


def _hyperparameters(runs: tuple[RunInfo, ...]) -> list[str]:
    """Every hyperparameter any run had, grid keys first; one column each."""
    keys = list(dict.fromkeys(k for r in runs for k in r.setup))
    keys += [k for k in dict.fromkeys(k for r in runs for k in r.hyperparameters) if k not in keys]
    return keys


FIXED = set(RUN_COLUMNS + RUN_TAIL + POINT_COLUMNS + POINT_TAIL + POINT_LABELS)


def _column(key: str) -> str:
    """A hyperparameter's column: its name, or ``setup.NAME`` where a run's own column has that name
    (a setup axis called ``status`` never overwrites the run's status)."""
    return f"setup.{key}" if key in FIXED or key.startswith("energy_j_") else key


def _scalar(value: Any) -> Any:
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _components(runs: tuple[RunInfo, ...]) -> list[str]:
    return sorted(
        {c for r in runs for c in r.energy_j}
        | {c for r in runs for p in r.points for c in p.energy_j}
    )


def write_runs_csv(analysis: Analysis, path: Path) -> None:
    hyper, parts = _hyperparameters(analysis.runs), _components(analysis.runs)
    columns = (
        RUN_COLUMNS + [_column(k) for k in hyper] + RUN_TAIL + [f"energy_j_{c}" for c in parts]
    )
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = _SafeWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in analysis.runs:
            values = {**r.hyperparameters, **r.setup}
            row = {"run_id": r.id, **{k: getattr(r, k) for k in RUN_COLUMNS[1:]}}
            row.update({_column(k): _scalar(values.get(k)) for k in hyper})
            row.update({k: getattr(r, k) for k in RUN_TAIL})
            row["faults"] = "; ".join(r.faults)
            row.update({f"energy_j_{c}": r.energy_j.get(c) for c in parts})
            writer.writerow({k: _blank(v) for k, v in row.items()})


def write_points_csv(analysis: Analysis, path: Path) -> None:
    hyper, parts = _hyperparameters(analysis.runs), _components(analysis.runs)
    columns = POINT_COLUMNS[:4] + [_column(k) for k in hyper] + POINT_COLUMNS[4:] + POINT_TAIL
    columns += POINT_LABELS + [f"energy_j_{c}" for c in parts]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = _SafeWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in analysis.runs:
            values = {**r.hyperparameters, **r.setup}
            head = {"run_id": r.id, "study": r.study, "hardware": r.hardware, "seed": r.seed}
            head.update({_column(k): _scalar(values.get(k)) for k in hyper})
            head.update(status=r.status, estimated=r.estimated, energy_method=r.energy_method)
            for p in r.points:
                row = {**head, **{k: getattr(p, k) for k in POINT_COLUMNS[5:] + POINT_TAIL}}
                row.update({f"energy_j_{c}": p.energy_j.get(c) for c in parts})
                writer.writerow({k: _blank(v) for k, v in row.items()})
